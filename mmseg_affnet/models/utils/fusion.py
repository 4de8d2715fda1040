"""The branches and fusions of the attention feature fusion module: a
max-pooling branch, and concatenation or sum of branches."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.utils import ConfigType
from torch import Tensor

from .max_pool import ChannelsLastMaxPool2d

FUSION_MODES = ('concat', 'add')


class PoolingBranch(nn.Sequential):
    """AFFM pooling branch: 1x1 conv to ``channels``, stride-1 max-pool.

    Args:
        in_channels (int): Channels of the input.
        channels (int): Output channels.
        pool_size (int): Max-pool window (odd, padded to keep the size).
        norm_cfg (dict | None): Config of the norm layer.
        act_cfg (dict | None): Config of the activation.

    Shape:
        (N, in_channels, H, W) -> (N, channels, H, W)
    """

    def __init__(self, in_channels: int, channels: int, pool_size: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType):
        super().__init__(
            ConvModule(
                in_channels, channels, 1, norm_cfg=norm_cfg,
                act_cfg=act_cfg),
            ChannelsLastMaxPool2d(
                pool_size, stride=1, padding=pool_size // 2))


class ConcatFusion(nn.Module):
    """Concatenate branches, then a conv to ``channels`` ("Concat").

    Args:
        in_channels (Sequence[int]): Channels of each branch.
        channels (int): Output channels.
        norm_cfg (dict | None): Config of the norm layer.
        act_cfg (dict | None): Config of the activation.
        kernel_size (int): Odd size of the conv after the concatenation.
            Default: 3 (AFFM's "Concat").

    Shape:
        list of (N, C_i, H, W) -> (N, channels, H, W)
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 channels: int,
                 norm_cfg: ConfigType,
                 act_cfg: ConfigType,
                 kernel_size: int = 3):
        super().__init__()
        self.conv = ConvModule(
            sum(in_channels),
            channels,
            kernel_size,
            padding=kernel_size // 2,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)

    def forward(self, branches: List[Tensor]) -> Tensor:
        return self.conv(torch.cat(branches, dim=1))


class AddFusion(nn.Module):
    """Element-wise sum of branches ("EWA").

    Branches whose width differs from ``channels`` are first projected by a
    1x1 conv; branches that already match are summed as they are.

    Args:
        in_channels (Sequence[int]): Channels of each branch.
        channels (int): Output channels.
        norm_cfg (dict | None): Config of the projections' norm layers.
        act_cfg (dict | None): Config of the projections' activations.

    Shape:
        list of (N, C_i, H, W) -> (N, channels, H, W)
    """

    def __init__(self, in_channels: Sequence[int], channels: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType):
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Identity() if c == channels else ConvModule(
                c, channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in in_channels)

    def forward(self, branches: List[Tensor]) -> Tensor:
        return sum(
            project(x) for project, x in zip(self.projections, branches))


def build_fusion(mode: str, in_channels: Sequence[int], channels: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType) -> nn.Module:
    """Build the ``'concat'`` or ``'add'`` fusion of a list of branches."""
    if mode not in FUSION_MODES:
        raise ValueError(
            f'Unknown fusion {mode!r}; choose one of {FUSION_MODES}.')
    fusion = ConcatFusion if mode == 'concat' else AddFusion
    return fusion(in_channels, channels, norm_cfg, act_cfg)
