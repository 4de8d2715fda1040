from .camvid import CamVidDataset
from .checks import check_label_files
from .layout import check_dataset_layout, check_image_label_folders
from .transforms import CheckSegLabels

__all__ = [
    'CamVidDataset', 'check_dataset_layout', 'check_image_label_folders',
    'check_label_files', 'CheckSegLabels'
]
