from .checks import check_label_files
from .layout import check_dataset_layout
from .transforms import CheckSegLabels

__all__ = ['check_dataset_layout', 'check_label_files', 'CheckSegLabels']
