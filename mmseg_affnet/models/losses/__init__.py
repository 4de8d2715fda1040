from .class_weighted_cross_entropy_loss import (
    ClassWeightedCrossEntropyLoss, use_ignore_safe_class_weighted_ce)
from .object_weighted_focal_loss import ObjectWeightedFocalLoss
from .utils import (CAMVID_FREQUENCY_FILE, CITYSCAPES_FREQUENCY_FILE,
                    SHIPPED_FREQUENCIES, enet_class_weights,
                    get_class_weight, load_class_frequencies,
                    owfl_alpha_gamma, read_class_values)

__all__ = [
    'CAMVID_FREQUENCY_FILE', 'CITYSCAPES_FREQUENCY_FILE',
    'ClassWeightedCrossEntropyLoss', 'ObjectWeightedFocalLoss',
    'SHIPPED_FREQUENCIES', 'enet_class_weights', 'get_class_weight',
    'load_class_frequencies', 'owfl_alpha_gamma', 'read_class_values',
    'use_ignore_safe_class_weighted_ce'
]
