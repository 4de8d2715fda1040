from .backbones import AFFNet
from .decode_heads import AFFMHead, FPNPANHead
from .losses import ObjectWeightedFocalLoss
from .segmentors import ChannelCheckedEncoderDecoder

__all__ = [
    'AFFNet', 'AFFMHead', 'FPNPANHead', 'ObjectWeightedFocalLoss',
    'ChannelCheckedEncoderDecoder'
]
