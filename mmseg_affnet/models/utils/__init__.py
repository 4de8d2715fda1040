"""Building blocks shared by the models (as ``mmseg.models.utils``)."""
from .cbam import CBAM, ChannelAttention, SpatialAttention
from .fusion import (FUSION_MODES, AddFusion, ConcatFusion, PoolingBranch,
                     build_fusion)
from .fusion_head import (MultiLevelFusionHead, build_classifier_conv,
                          build_separable_classifier, check_multiple_select,
                          resize_to)
from .head_channels import (check_head_channels, evaluation_mode,
                            feature_channels, head_input_errors, named_heads)
from .input_size import MIN_INPUT_SIZE, check_input_size
from .max_pool import ChannelsLastMaxPool2d

__all__ = [
    'AddFusion', 'build_classifier_conv', 'build_fusion',
    'build_separable_classifier', 'CBAM', 'ChannelAttention',
    'ChannelsLastMaxPool2d', 'check_head_channels', 'check_input_size',
    'check_multiple_select',
    'ConcatFusion', 'evaluation_mode', 'feature_channels', 'FUSION_MODES',
    'head_input_errors', 'MIN_INPUT_SIZE', 'MultiLevelFusionHead',
    'named_heads',
    'PoolingBranch', 'resize_to', 'SpatialAttention'
]
