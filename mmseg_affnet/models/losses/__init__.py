from .object_weighted_focal_loss import (ObjectWeightedFocalLoss,
                                         load_class_frequencies,
                                         owfl_alpha_gamma)

__all__ = [
    'ObjectWeightedFocalLoss', 'load_class_frequencies', 'owfl_alpha_gamma'
]
