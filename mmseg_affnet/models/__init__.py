from .backbones import AFFNet
from .decode_heads import AFFMHead, FPNPANHead, SPMHead
from .losses import (ClassWeightedCrossEntropyLoss, ObjectWeightedFocalLoss,
                     use_ignore_safe_class_weighted_ce)

__all__ = [
    'AFFNet', 'AFFMHead', 'FPNPANHead', 'SPMHead',
    'ClassWeightedCrossEntropyLoss', 'ObjectWeightedFocalLoss',
    'use_ignore_safe_class_weighted_ce'
]
