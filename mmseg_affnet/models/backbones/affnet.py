"""AFFNet backbone (Kuang et al., Sec. III.A, Figs. 1-2)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule, build_activation_layer, build_norm_layer
from mmengine.model import BaseModule
from mmseg.models.decode_heads.psp_head import PPM
from mmseg.models.utils import InvertedResidual
from mmseg.registry import MODELS
from mmseg.utils import ConfigType, OptMultiConfig
from torch import Tensor


class InitialUnit(nn.Module):
    """ENet's initial unit: a stride-2 3x3 conv beside a 2x2 max-pool.

    Args:
        in_channels (int): Input channels (3 for RGB).
        out_channels (int): Output channels; the conv produces
            ``out_channels - in_channels`` of them, the pool the rest.
        norm_cfg (dict): Config of the norm layer.
        act_cfg (dict): Config of the activation.

    The concatenation is normalised and activated, as in ENet.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H/2), ceil(W/2))
    """

    def __init__(self, in_channels: int, out_channels: int,
                 norm_cfg: ConfigType, act_cfg: ConfigType):
        super().__init__()
        if out_channels <= in_channels:
            raise ValueError(
                f'InitialUnit needs out_channels > in_channels, got '
                f'{out_channels} <= {in_channels}.')
        self.conv = nn.Conv2d(
            in_channels,
            out_channels - in_channels,
            3,
            stride=2,
            padding=1,
            bias=False)
        self.pool = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.norm = build_norm_layer(norm_cfg, out_channels)[1]
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(
            self.norm(torch.cat([self.conv(x), self.pool(x)], dim=1)))


class ShuffleDownsampleUnit(nn.Module):
    """ShuffleNet's stride-2 unit: a conv path beside a 3x3 average pool.

    The conv path is a 1x1 bottleneck, a 3x3 depthwise conv of stride 2 and a
    1x1 expansion to ``out_channels - in_channels``; the pooled input supplies
    the remaining channels, and the concatenation is activated.

    Args:
        in_channels (int): Input channels.
        out_channels (int): Output channels (> in_channels).
        bottleneck_ratio (float): Width of the bottleneck relative to
            ``out_channels``.
        norm_cfg (dict): Config of norm layers.
        act_cfg (dict): Config of activation layers.

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, ceil(H/2), ceil(W/2))
    """

    def __init__(self, in_channels: int, out_channels: int,
                 bottleneck_ratio: float, norm_cfg: ConfigType,
                 act_cfg: ConfigType):
        super().__init__()
        if out_channels <= in_channels:
            raise ValueError(
                f'ShuffleDownsampleUnit needs out_channels > in_channels, '
                f'got {out_channels} <= {in_channels}.')
        mid_channels = max(1, int(out_channels * bottleneck_ratio))
        self.conv_pw = ConvModule(
            in_channels, mid_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv_dw = ConvModule(
            mid_channels,
            mid_channels,
            3,
            stride=2,
            padding=1,
            groups=mid_channels,
            norm_cfg=norm_cfg,
            act_cfg=None)
        self.conv_pwl = ConvModule(
            mid_channels,
            out_channels - in_channels,
            1,
            norm_cfg=norm_cfg,
            act_cfg=None)
        self.pool = nn.AvgPool2d(3, stride=2, padding=1)
        self.act = build_activation_layer(act_cfg)

    def forward(self, x: Tensor) -> Tensor:
        conv = self.conv_pwl(self.conv_dw(self.conv_pw(x)))
        return self.act(torch.cat([conv, self.pool(x)], dim=1))


class LearningToDownsample(nn.Sequential):
    """ENet initial unit followed by ShuffleNet down-sample units to 1/8.

    Args:
        in_channels (int): Image channels.
        channels (Sequence[int]): Output channels of the initial unit and of
            each down-sample unit; ``len(channels)`` stride-2 stages in all.
        bottleneck_ratio (float): See :class:`ShuffleDownsampleUnit`.
        norm_cfg (dict): Config of norm layers.
        act_cfg (dict): Config of activation layers.
    """

    def __init__(self, in_channels: int, channels: Sequence[int],
                 bottleneck_ratio: float, norm_cfg: ConfigType,
                 act_cfg: ConfigType):
        units = [InitialUnit(in_channels, channels[0], norm_cfg, act_cfg)]
        units += [
            ShuffleDownsampleUnit(c_in, c_out, bottleneck_ratio, norm_cfg,
                                  act_cfg)
            for c_in, c_out in zip(channels[:-1], channels[1:])
        ]
        super().__init__(*units)


@MODELS.register_module()
class AFFNet(BaseModule):
    """Backbone of AFFNet, after `Lightweight Semantic Segmentation Network
    based on Attention Feature Fusion` (Kuang, Liu, Chen, Zhang).

    Learning-to-downsample (ENet initial unit + ShuffleNet down-sample units)
    brings the image to 1/8; a deep branch of inverted residuals brings it to
    1/32 and closes with PSPNet's pyramid pooling. Four stage features leave
    the backbone: the 1/8 shallow branch, two taps of the deep branch and the
    pyramid-pooled context, with no extra operation on the branches (more
    taps can be asked for with ``tap_modules``, and the earlier, finer
    learning-to-downsample stages with ``downsample_taps``).

    Where the paper is ambiguous, this implementation chooses:

    - Learning-to-downsample widths (16, 32, 64) and a bottleneck of 1/4 of
      the output width in the ShuffleNet units, without group convolution or
      channel shuffle (with a single group the shuffle is the identity).
      ReLU everywhere (Fig. 2 does not show ReLU6).
    - Deep-branch module ``i`` (1-based) has stride 2 for ``i`` in
      ``down_modules`` = (1, 5) and outputs 64 channels before module 4, 96
      from module 4 and 128 from module 6, so the branch reads 64, 64, 64,
      96, 96, 128, 128, 128, 128 at 1/16 (modules 1-4) and 1/32 (5-9).
      A residual connection is used wherever input and output shapes match.
    - The deep branch reads as three groups of constant width, as in
      Fast-SCNN (64: modules 1-3, 96: modules 4-5, 128: modules 6-9). The
      two "middle-stage" features are the outputs of the first two groups:
      module 3 (1/16, 64 ch) and module 5 (1/32, 96 ch); the third group
      feeds pyramid pooling. Configurable with ``tap_modules``. With these
      choices the full model has 1.65 M parameters (paper: 1.62 M).
      The caption of Fig. 1 says each bottleneck unit holds three inverted
      residual modules, which reads as taps after modules 3 and 6
      (``tap_modules=(3, 6)``: 1/16, 64 ch and 1/32, 128 ch; 1.69 M
      parameters with AFFM); ``configs/ablations/affnet_taps-3-6_*.py``
      trains that reading.
    - Pyramid pooling follows PSPNet: bins (1, 2, 3, 6), each a 1x1 conv to
      ``C/4`` channels, upsampled and concatenated with the input, then a 1x1
      conv back to ``C`` channels. The pooled 1x1 convs carry a bias instead
      of batch norm: the 1x1 bin holds one value per channel and image, so
      batch norm there would fail at batch size 1.

    Args:
        in_channels (int): Image channels. Default: 3.
        downsample_channels (Sequence[int]): Widths of the learning-to-
            downsample stages (1/2, 1/4, 1/8). Default: (16, 32, 64).
        bottleneck_ratio (float): Bottleneck width of the ShuffleNet units.
            Default: 0.25.
        deep_channels (Sequence[int]): Output channels of each inverted
            residual. Default: (64, 64, 64, 96, 96, 128, 128, 128, 128).
        down_modules (Sequence[int]): 1-based modules with stride 2.
            Default: (1, 5).
        expand_ratio (int): Expansion ratio of the inverted residuals.
            Default: 6.
        tap_modules (Sequence[int]): 1-based modules whose outputs are
            returned as the middle-stage features, in increasing order
            (AFFNet uses two; other heads may tap more, e.g. the SPSSNet
            reconstruction taps (3, 5, 9)). Default: (3, 5).
        downsample_taps (Sequence[int]): 1-based learning-to-downsample
            stages before the last one (1: the initial unit, 1/2; 2: the
            first down-sample unit, 1/4) whose outputs are returned too, in
            increasing order, before the shallow branch (AFFNet uses none;
            the SPSSNet reconstruction takes its 1/2 shallow branch from
            stage 1). Default: ().
        pool_scales (Sequence[int]): Pyramid pooling bins.
            Default: (1, 2, 3, 6).
        out_indices (Sequence[int]): Which features to return, numbered in
            depth order: 0..E-1 the E ``downsample_taps``, E the shallow
            branch (1/8), E+1..E+T the T taps, E+T+1 pyramid pooling (1/32).
            Default: (0, 1, 2, 3).
        norm_cfg (dict): Config of norm layers. Default: dict(type='BN').
        act_cfg (dict): Config of activations. Default: dict(type='ReLU').
        align_corners (bool): align_corners of the pyramid pooling
            upsampling. Default: False.
        init_cfg (dict | list[dict], optional): Initialisation config.

    Returns (forward):
        tuple[Tensor]: The selected features; for a (N, 3, H, W) input and the
        defaults: (N, 64, H/8, W/8), (N, 64, H/16, W/16), (N, 96, H/32, W/32),
        (N, 128, H/32, W/32) (each size rounded up).
    """

    def __init__(self,
                 in_channels: int = 3,
                 downsample_channels: Sequence[int] = (16, 32, 64),
                 bottleneck_ratio: float = 0.25,
                 deep_channels: Sequence[int] = (64, 64, 64, 96, 96, 128, 128,
                                                 128, 128),
                 down_modules: Sequence[int] = (1, 5),
                 expand_ratio: int = 6,
                 tap_modules: Sequence[int] = (3, 5),
                 downsample_taps: Sequence[int] = (),
                 pool_scales: Sequence[int] = (1, 2, 3, 6),
                 out_indices: Sequence[int] = (0, 1, 2, 3),
                 norm_cfg: ConfigType = dict(type='BN'),
                 act_cfg: ConfigType = dict(type='ReLU'),
                 align_corners: bool = False,
                 init_cfg: OptMultiConfig = [
                     dict(type='Kaiming', layer='Conv2d'),
                     dict(
                         type='Constant',
                         val=1,
                         layer=['_BatchNorm', 'GroupNorm'])
                 ]):
        super().__init__(init_cfg=init_cfg)
        self._check_downsample_taps(downsample_taps,
                                    len(downsample_channels))
        self._check_indices(out_indices, tap_modules, len(deep_channels),
                            len(downsample_taps))
        self.out_indices = tuple(out_indices)
        self.tap_modules = tuple(tap_modules)
        self.downsample_taps = tuple(downsample_taps)
        self.downsample = LearningToDownsample(in_channels,
                                               downsample_channels,
                                               bottleneck_ratio, norm_cfg,
                                               act_cfg)
        self.deep = self._make_deep_branch(downsample_channels[-1],
                                           deep_channels, down_modules,
                                           expand_ratio, norm_cfg, act_cfg)
        context_channels = deep_channels[-1]
        self.ppm = PPM(
            pool_scales,
            context_channels,
            context_channels // 4,
            conv_cfg=None,
            norm_cfg=None,
            act_cfg=act_cfg,
            align_corners=align_corners)
        self.ppm_fuse = ConvModule(
            context_channels + len(pool_scales) * (context_channels // 4),
            context_channels,
            1,
            norm_cfg=norm_cfg,
            act_cfg=act_cfg)
        stage_channels = (*(downsample_channels[s - 1]
                            for s in downsample_taps),
                          downsample_channels[-1],
                          *(deep_channels[m - 1] for m in tap_modules),
                          context_channels)
        self.out_channels = [stage_channels[i] for i in self.out_indices]

    @staticmethod
    def _check_downsample_taps(downsample_taps: Sequence[int],
                               num_stages: int) -> None:
        in_range = all(1 <= s < num_stages for s in downsample_taps)
        increasing = list(downsample_taps) == sorted(set(downsample_taps))
        if not (in_range and increasing):
            raise ValueError(
                f'downsample_taps must name distinct learning-to-downsample '
                f'stages in increasing order within 1..{num_stages - 1} (the '
                f'last stage, the shallow branch, is always a feature), got '
                f'{tuple(downsample_taps)}.')

    @staticmethod
    def _check_indices(out_indices: Sequence[int],
                       tap_modules: Sequence[int], num_modules: int,
                       num_downsample_taps: int) -> None:
        in_range = all(1 <= m <= num_modules for m in tap_modules)
        increasing = list(tap_modules) == sorted(set(tap_modules))
        if not tap_modules or not (in_range and increasing):
            raise ValueError(
                f'tap_modules must name one or more distinct deep-branch '
                f'modules in increasing order within 1..{num_modules}, got '
                f'{tuple(tap_modules)}.')
        num_features = num_downsample_taps + len(tap_modules) + 2
        if not out_indices or not set(out_indices) <= set(
                range(num_features)):
            raise ValueError(
                f'AFFNet with {num_downsample_taps} downsample_taps and '
                f'{len(tap_modules)} tap_modules returns {num_features} stage '
                f'features; out_indices must be a non-empty subset of '
                f'0..{num_features - 1}, got {tuple(out_indices)}.')

    @staticmethod
    def _make_deep_branch(in_channels: int, channels: Sequence[int],
                          down_modules: Sequence[int], expand_ratio: int,
                          norm_cfg: ConfigType,
                          act_cfg: ConfigType) -> nn.ModuleList:
        modules = nn.ModuleList()
        for index, out_channels in enumerate(channels, start=1):
            stride = 2 if index in down_modules else 1
            modules.append(
                InvertedResidual(
                    in_channels,
                    out_channels,
                    stride,
                    expand_ratio,
                    norm_cfg=norm_cfg,
                    act_cfg=act_cfg))
            in_channels = out_channels
        return modules

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        early: List[Tensor] = []
        for index, unit in enumerate(self.downsample, start=1):
            x = unit(x)
            if index in self.downsample_taps:
                early.append(x)
        shallow = x
        taps: List[Tensor] = []
        deep = shallow
        for index, module in enumerate(self.deep, start=1):
            deep = module(deep)
            if index in self.tap_modules:
                taps.append(deep)
        context = self.ppm_fuse(torch.cat([deep, *self.ppm(deep)], dim=1))
        stages = (*early, shallow, *taps, context)
        return tuple(stages[i] for i in self.out_indices)
