from .class_weighted_cross_entropy_loss import (
    ClassWeightedCrossEntropyLoss, use_ignore_safe_class_weighted_ce)
from .object_weighted_focal_loss import ObjectWeightedFocalLoss
from .utils import (CITYSCAPES_FREQUENCY_FILE, enet_class_weights,
                    get_class_weight, load_class_frequencies,
                    owfl_alpha_gamma, read_class_values)

__all__ = [
    'CITYSCAPES_FREQUENCY_FILE', 'ClassWeightedCrossEntropyLoss',
    'ObjectWeightedFocalLoss', 'enet_class_weights', 'get_class_weight',
    'load_class_frequencies', 'owfl_alpha_gamma', 'read_class_values',
    'use_ignore_safe_class_weighted_ce'
]
