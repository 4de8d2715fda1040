"""Attention feature fusion module (AFFM) head of AFFNet (Sec. III.B)."""
from typing import List, Sequence

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, DepthwiseSeparableConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.utils import ConfigType
from torch import Tensor

from ..utils import ChannelsLastMaxPool2d

FUSION_MODES = ('concat', 'add')


class ChannelAttention(nn.Module):
    """CBAM channel gate: ``sigmoid(MLP(AvgPool F) + MLP(MaxPool F))``.

    Args:
        channels (int): Channels of the input.
        reduction_ratio (int): Hidden width of the shared MLP is
            ``max(1, channels // reduction_ratio)``.

    Shape:
        (N, C, H, W) -> (N, C, 1, 1) gate in (0, 1).
    """

    def __init__(self, channels: int, reduction_ratio: int):
        super().__init__()
        hidden = max(1, channels // reduction_ratio)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        avg = x.mean(dim=(2, 3), keepdim=True)
        peak = x.amax(dim=(2, 3), keepdim=True)
        return torch.sigmoid(self.mlp(avg) + self.mlp(peak))


class SpatialAttention(nn.Module):
    """CBAM spatial gate: ``sigmoid(conv([AvgPool_c F; MaxPool_c F]))``.

    Args:
        kernel_size (int): Size of the conv over the two pooled maps; the
            paper uses 3 (CBAM's default is 7). Default: 3.

    Shape:
        (N, C, H, W) -> (N, 1, H, W) gate in (0, 1).
    """

    def __init__(self, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor) -> Tensor:
        pooled = torch.cat(
            [x.mean(dim=1, keepdim=True),
             x.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.conv(pooled))


class CBAM(nn.Module):
    """Convolutional block attention: channel gate, then spatial gate.

    Args:
        channels (int): Channels of the input.
        reduction_ratio (int): See :class:`ChannelAttention`.
        spatial_kernel_size (int): See :class:`SpatialAttention`.

    Shape:
        (N, C, H, W) -> (N, C, H, W)
    """

    def __init__(self, channels: int, reduction_ratio: int,
                 spatial_kernel_size: int):
        super().__init__()
        self.channel_gate = ChannelAttention(channels, reduction_ratio)
        self.spatial_gate = SpatialAttention(spatial_kernel_size)

    def forward(self, x: Tensor) -> Tensor:
        x = x * self.channel_gate(x)
        return x * self.spatial_gate(x)


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


def build_separable_classifier(channels: int, num_convs: int,
                               norm_cfg: ConfigType,
                               act_cfg: ConfigType) -> nn.Sequential:
    """``num_convs`` depthwise-separable 3x3 convs at constant width."""
    return nn.Sequential(*(DepthwiseSeparableConvModule(
        channels, channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg)
                           for _ in range(num_convs)))


def resize_to(x: Tensor, size: torch.Size, align_corners: bool) -> Tensor:
    """Bilinear resize of ``x`` to ``size``; no-op when already that size."""
    if x.shape[2:] == size:
        return x
    return resize(x, size=size, mode='bilinear', align_corners=align_corners)


def check_multiple_select(head: str, in_channels: Sequence[int],
                          in_index: Sequence[int]) -> None:
    """Raise a clear error unless ``in_channels``/``in_index`` pair up.

    :class:`BaseDecodeHead` only ``assert``s this; the heads of this package
    check it first so that a config mistake names the values and the fix.

    Args:
        head (str): Name of the head, for the message.
        in_channels (Sequence[int]): Declared widths of the inputs.
        in_index (Sequence[int]): Indices of the backbone outputs to use.

    Raises:
        TypeError: If either is not a list or tuple.
        ValueError: If they differ in length or are empty.
    """
    for name, value in (('in_channels', in_channels), ('in_index',
                                                        in_index)):
        if not isinstance(value, (list, tuple)):
            raise TypeError(
                f'{head} fuses several backbone outputs: {name} must be a '
                f'list (one entry per selected output), got {value!r}.')
    if not in_index or len(in_channels) != len(in_index):
        raise ValueError(
            f'{head}: in_channels {list(in_channels)} has '
            f'{len(in_channels)} entries but in_index {list(in_index)} has '
            f'{len(in_index)}; give one width per selected backbone output '
            '(in_channels[i] is the width of output in_index[i]).')


def build_classifier_conv(channels: int, out_channels: int,
                          kernel_size: int) -> nn.Conv2d:
    """The last conv of the classifier (mmseg's ``conv_seg``).

    Args:
        channels (int): Input channels.
        out_channels (int): Number of class scores.
        kernel_size (int): Odd kernel size; padded to keep the size.

    Returns:
        nn.Conv2d: ``(N, channels, H, W) -> (N, out_channels, H, W)``.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(
            f'classifier_kernel_size must be a positive odd number, got '
            f'{kernel_size}.')
    return nn.Conv2d(
        channels, out_channels, kernel_size, padding=kernel_size // 2)


class MultiLevelFusionHead(BaseDecodeHead):
    """Base of this package's heads: fuse several backbone outputs, classify.

    Checks ``in_channels``/``in_index`` with a clear message
    (:func:`check_multiple_select`), selects the inputs with
    ``multiple_select`` and builds the classifier every head shares:
    ``num_classifier_convs`` depthwise-separable 3x3 convs at ``channels``
    and a final conv (``conv_seg``) of ``classifier_kernel_size``. A
    subclass builds its fusion and ends its ``forward`` with
    :meth:`classify`.

    Args:
        in_channels (Sequence[int]): Widths of the selected inputs.
        in_index (Sequence[int]): Backbone outputs to fuse.
        num_classifier_convs (int): Depthwise-separable convs before the
            final conv. Default: 2.
        classifier_kernel_size (int): Kernel of the final conv. Default: 1.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``channels``,
            ``num_classes``, ``loss_decode``, ...).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 in_index: Sequence[int],
                 num_classifier_convs: int = 2,
                 classifier_kernel_size: int = 1,
                 **kwargs):
        check_multiple_select(type(self).__name__, in_channels, in_index)
        super().__init__(
            in_channels=in_channels,
            in_index=in_index,
            input_transform='multiple_select',
            **kwargs)
        self.classifier = build_separable_classifier(self.channels,
                                                     num_classifier_convs,
                                                     self.norm_cfg,
                                                     self.act_cfg)
        self.conv_seg = build_classifier_conv(self.channels,
                                              self.out_channels,
                                              classifier_kernel_size)

    def classify(self, fused: Tensor) -> Tensor:
        """Class scores of the fused features.

        Args:
            fused (Tensor): Shape (N, channels, H, W).

        Returns:
            Tensor: Shape (N, num_classes, H, W).
        """
        return self.cls_seg(self.classifier(fused))


@MODELS.register_module()
class AFFMHead(MultiLevelFusionHead):
    """Attention feature fusion module of AFFNet (Kuang et al., Figs. 3-5).

    Every selected input gets two branches: an attention branch (CBAM,
    eqs. 1-2) and a pooling branch (1x1 conv to ``channels`` and a stride-1
    max-pool). Both are upsampled bilinearly to the resolution of the first
    selected input (1/8 for AFFNet). The attention branches are fused by
    ``attention_fusion`` (default: concatenation and a 3x3 conv to
    ``channels``), the pooling branches by ``pooling_fusion`` (default:
    element-wise sum), and the two results are summed. A classifier of two
    depthwise-separable 3x3 convs and a final conv (``conv_seg``, 1x1 by
    default) gives the class scores.

    Classifier kernel: the caption of Fig. 1 calls the classifier's last
    conv a 3x3 standard convolution. With 3x3 the full AFFNet has 1,671,148
    parameters, 3.2 % above the paper's 1.62 M; with 1x1 (mmseg's usual
    ``conv_seg``) it has 1,651,692 (+2.0 %). The total decides the default,
    1x1; ``classifier_kernel_size=3`` gives the caption's reading.

    Works on any backbone: the inputs may have any number and widths, given
    by ``in_channels`` and ``in_index``.

    Args:
        in_channels (Sequence[int]): Widths of the selected inputs.
        in_index (Sequence[int]): Backbone outputs to fuse; the first sets
            the output resolution.
        reduction_ratio (int): CBAM channel-MLP reduction. Default: 16.
        spatial_kernel_size (int): CBAM spatial conv size. Default: 3.
        pool_size (int): Max-pool window of the pooling branch. Default: 5.
        attention_fusion (str): ``'concat'`` or ``'add'``.
            Default: 'concat'.
        pooling_fusion (str): ``'concat'`` or ``'add'``. Default: 'add'.
        num_classifier_convs (int): Depthwise-separable convs before the
            final conv. Default: 2.
        classifier_kernel_size (int): Kernel of the final conv. Default: 1.
        **kwargs: Other :class:`BaseDecodeHead` arguments (``channels``,
            ``num_classes``, ``loss_decode``, ...).

    Shape:
        inputs: the backbone's tuple; output: (N, num_classes, H0, W0), the
        size of the first selected input.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 in_index: Sequence[int],
                 reduction_ratio: int = 16,
                 spatial_kernel_size: int = 3,
                 pool_size: int = 5,
                 attention_fusion: str = 'concat',
                 pooling_fusion: str = 'add',
                 num_classifier_convs: int = 2,
                 classifier_kernel_size: int = 1,
                 **kwargs):
        super().__init__(in_channels, in_index, num_classifier_convs,
                         classifier_kernel_size, **kwargs)
        self.attention = nn.ModuleList(
            CBAM(c, reduction_ratio, spatial_kernel_size)
            for c in self.in_channels)
        self.pooling = nn.ModuleList(
            PoolingBranch(c, self.channels, pool_size, self.norm_cfg,
                          self.act_cfg) for c in self.in_channels)
        self.attention_fusion = build_fusion(attention_fusion,
                                             self.in_channels, self.channels,
                                             self.norm_cfg, self.act_cfg)
        self.pooling_fusion = build_fusion(pooling_fusion,
                                           [self.channels] *
                                           len(self.in_channels),
                                           self.channels, self.norm_cfg,
                                           self.act_cfg)

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        inputs = self._transform_inputs(inputs)
        size = inputs[0].shape[2:]
        attended = [
            resize_to(cbam(x), size, self.align_corners)
            for cbam, x in zip(self.attention, inputs)
        ]
        pooled = [
            resize_to(branch(x), size, self.align_corners)
            for branch, x in zip(self.pooling, inputs)
        ]
        fused = self.attention_fusion(attended) + self.pooling_fusion(pooled)
        return self.classify(fused)
