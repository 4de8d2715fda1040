"""Stage-pooling-module (SPM) fusion: a reconstruction of SPSSNet's head."""
from typing import Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor

from ..utils import ChannelsLastMaxPool2d, MultiLevelFusionHead, resize_to


class ChainedResidualPooling(nn.Module):
    """RefineNet's chained residual pooling (Lin et al., CVPR 2017, Fig. 2d).

    A chain of pooling blocks, each a stride-1 max-pool followed by a conv
    (+BN, no activation); every block pools the previous block's output, and
    the input plus all block outputs are summed.

    Args:
        channels (int): Input and output channels.
        num_blocks (int): Pooling blocks in the chain.
        pool_size (int): Odd max-pool window, padded to keep the size.
        kernel_size (int): Odd kernel size of each block's conv.
        norm_cfg (dict | None): Config of the norm layers.

    Shape:
        (N, channels, H, W) -> (N, channels, H, W)
    """

    def __init__(self, channels: int, num_blocks: int, pool_size: int,
                 kernel_size: int, norm_cfg: ConfigType):
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(
                ChannelsLastMaxPool2d(
                    pool_size, stride=1, padding=pool_size // 2),
                ConvModule(
                    channels,
                    channels,
                    kernel_size,
                    padding=kernel_size // 2,
                    norm_cfg=norm_cfg,
                    act_cfg=None)) for _ in range(num_blocks))

    def forward(self, x: Tensor) -> Tensor:
        out = x
        for block in self.blocks:
            x = block(x)
            out = out + x
        return out


class StagePoolingModule(nn.Sequential):
    """One SPM: point-wise conv to ``channels``, then chained residual
    pooling.

    Args:
        in_channels (int): Channels of the deep-branch feature.
        channels (int): Output channels (the shallow branch's fused width).
        num_blocks (int): See :class:`ChainedResidualPooling`.
        pool_size (int): See :class:`ChainedResidualPooling`.
        kernel_size (int): See :class:`ChainedResidualPooling`.
        norm_cfg (dict | None): Config of the norm layers.
        act_cfg (dict | None): Activation after the point-wise conv.

    Shape:
        (N, in_channels, H, W) -> (N, channels, H, W)
    """

    def __init__(self, in_channels: int, channels: int, num_blocks: int,
                 pool_size: int, kernel_size: int, norm_cfg: ConfigType,
                 act_cfg: ConfigType):
        super().__init__(
            ConvModule(
                in_channels, channels, 1, norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            ChainedResidualPooling(channels, num_blocks, pool_size,
                                   kernel_size, norm_cfg))


@MODELS.register_module()
class SPMHead(MultiLevelFusionHead):
    """Shallow branch plus stage pooling modules: SPSSNet's fusion, rebuilt.

    A reconstruction of the fusion of SPSSNet, the Fast-SCNN derivative the
    AFFNet paper compares with in Table III; no public code exists, so every
    detail below is a reading of the published description ("the deep
    branch reaches the shallow branch through four stage-pooling modules;
    each raises a deep feature's channels with a point-wise convolution,
    processes it with RefineNet's chained residual pooling, upsamples it and
    adds it directly onto the shallow branch"). On AFFNet's backbone, so that
    a comparison with AFFNet isolates the fusion.

    The first selected input is the shallow (1/8) branch, every further one
    a deep-branch feature with its own SPM::

        out = classifier(ReLU(proj(x_0) + sum_i up(SPM_i(x_i))))

    Reconstruction choices:

    - **Which deep features.** The outputs of AFFNet's three deep-branch
      groups (modules 3, 5 and 9) and the pyramid-pooling output: four
      stages, four SPMs (``tap_modules=(3, 5, 9)`` in the config).
    - **Widths.** Every SPM raises its feature to ``channels`` (128, the
      fusion width of Fast-SCNN's feature fusion module and of AFFM); for
      the 128-channel features this is a point-wise conv at equal width.
      The shallow branch (64 channels) is brought to the same width by a
      point-wise conv (+BN), as in Fast-SCNN's fusion module; without it
      the sum would be impossible.
    - **Chained residual pooling** as in RefineNet's Fig. 2(d): two blocks of
      a 5x5 stride-1 max-pool and a 3x3 conv, the input and both block
      outputs summed. RefineNet's convs have no BN; here each has BN (no
      activation), since SPSSNet is trained from scratch.
    - **Up-sampling** bilinear, to the shallow branch's size; the sum is
      followed by ReLU (as Fast-SCNN's fusion), then Fast-SCNN's classifier:
      two depthwise-separable 3x3 convs and a 1x1 conv (the same classifier
      as AFFNet's).

    Args:
        in_channels (Sequence[int]): Widths of the selected inputs; the
            first is the shallow branch.
        in_index (Sequence[int]): Backbone outputs: shallow branch first,
            then the deep features.
        num_crp_blocks (int): Pooling blocks per SPM. Default: 2.
        crp_pool_size (int): Max-pool window of the CRP. Default: 5.
        crp_kernel_size (int): Conv kernel of the CRP. Default: 3.
        num_classifier_convs (int): Depthwise-separable convs before the
            final conv. Default: 2.
        classifier_kernel_size (int): Kernel of the final conv. Default: 1.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``channels``,
            ``num_classes``, ``loss_decode``, ...).

    Shape:
        inputs: the backbone's tuple; output: (N, num_classes, H0, W0), the
        size of the shallow branch.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 in_index: Sequence[int],
                 num_crp_blocks: int = 2,
                 crp_pool_size: int = 5,
                 crp_kernel_size: int = 3,
                 num_classifier_convs: int = 2,
                 classifier_kernel_size: int = 1,
                 **kwargs):
        super().__init__(in_channels, in_index, num_classifier_convs,
                         classifier_kernel_size, **kwargs)
        if len(self.in_channels) < 2:
            raise ValueError(
                f'SPMHead needs the shallow branch and at least one deep '
                f'feature; in_channels {list(self.in_channels)} selects '
                f'{len(self.in_channels)}.')
        self.shallow_proj = ConvModule(
            self.in_channels[0],
            self.channels,
            1,
            norm_cfg=self.norm_cfg,
            act_cfg=None)
        self.spms = nn.ModuleList(
            StagePoolingModule(c, self.channels, num_crp_blocks,
                               crp_pool_size, crp_kernel_size, self.norm_cfg,
                               self.act_cfg) for c in self.in_channels[1:])
        self.relu = nn.ReLU(inplace=True)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        shallow, *deep = self._transform_inputs(inputs)
        size = shallow.shape[2:]
        fused = self.shallow_proj(shallow)
        for spm, x in zip(self.spms, deep):
            fused = fused + resize_to(spm(x), size, self.align_corners)
        return self.classify(self.relu(fused))
