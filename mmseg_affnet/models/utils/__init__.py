"""Building blocks shared by the models (as ``mmseg.models.utils``)."""
from .head_channels import (check_head_channels, evaluation_mode,
                            feature_channels, head_input_errors, named_heads)
from .max_pool import ChannelsLastMaxPool2d

__all__ = [
    'ChannelsLastMaxPool2d', 'check_head_channels', 'evaluation_mode',
    'feature_channels', 'head_input_errors', 'named_heads'
]
