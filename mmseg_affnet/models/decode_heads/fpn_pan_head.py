"""FPN + PAN fusion head: the AFFM alternative of AFFNet's Table II."""
from typing import List, Sequence

import torch.nn as nn
from mmcv.cnn import ConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.registry import MODELS
from torch import Tensor

from .affm_head import (build_separable_classifier, check_input_channels,
                        resize_to)


@MODELS.register_module()
class FPNPANHead(BaseDecodeHead):
    """Feature-pyramid (top-down) plus path-aggregation (bottom-up) fusion.

    The baseline the paper compares AFFM with (Table II, Fig. 6(b)). Inputs
    are ordered from finest to coarsest. Lateral 1x1 convs bring every input
    to ``channels``; the FPN pass adds each coarser level, upsampled, into the
    next finer one and smooths it with a 3x3 conv; the PAN pass goes back
    down, adding each finer level into the next coarser one. Every PAN level
    is then upsampled to the finest resolution and the levels are summed
    before the same classifier as :class:`AFFMHead`.

    Interpretation: the paper does not give the PAN down-sampling operator;
    here it is a 3x3 conv followed by a bilinear resize to the next level's
    size, so that levels of equal resolution (AFFNet's two 1/32 outputs) need
    no special case.

    Args:
        num_classifier_convs (int): Depthwise-separable convs before the
            1x1 classifier. Default: 2.
        **kwargs: :class:`BaseDecodeHead` arguments (``in_channels`` and
            ``in_index`` as lists, ``channels``, ``num_classes``, ...).

    Shape:
        inputs: the backbone's tuple; output: (N, num_classes, H0, W0), the
        size of the first selected input.
    """

    def __init__(self, num_classifier_convs: int = 2, **kwargs):
        super().__init__(input_transform='multiple_select', **kwargs)
        num_levels = len(self.in_channels)
        self.laterals = nn.ModuleList(
            self._conv(c, 1) for c in self.in_channels)
        self.top_down_convs = nn.ModuleList(
            self._conv(self.channels, 3) for _ in range(num_levels - 1))
        self.bottom_up_convs = nn.ModuleList(
            self._conv(self.channels, 3) for _ in range(num_levels - 1))
        self.pan_convs = nn.ModuleList(
            self._conv(self.channels, 3) for _ in range(num_levels - 1))
        self.classifier = build_separable_classifier(self.channels,
                                                     num_classifier_convs,
                                                     self.norm_cfg,
                                                     self.act_cfg)

    def _conv(self, in_channels: int, kernel_size: int) -> ConvModule:
        return ConvModule(
            in_channels,
            self.channels,
            kernel_size,
            padding=kernel_size // 2,
            norm_cfg=self.norm_cfg,
            act_cfg=self.act_cfg)

    def _top_down(self, levels: List[Tensor]) -> List[Tensor]:
        fpn = levels[-1:]
        for finer, conv in zip(levels[-2::-1], self.top_down_convs[::-1]):
            coarser = resize_to(fpn[0], finer.shape[2:], self.align_corners)
            fpn.insert(0, conv(finer + coarser))
        return fpn

    def _bottom_up(self, fpn: List[Tensor]) -> List[Tensor]:
        pan = fpn[:1]
        for coarser, down, conv in zip(fpn[1:], self.bottom_up_convs,
                                       self.pan_convs):
            finer = resize_to(down(pan[-1]), coarser.shape[2:],
                              self.align_corners)
            pan.append(conv(coarser + finer))
        return pan

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        inputs = check_input_channels(
            self._transform_inputs(inputs), self.in_channels, self.in_index,
            type(self).__name__)
        levels = [lateral(x) for lateral, x in zip(self.laterals, inputs)]
        pan = self._bottom_up(self._top_down(levels))
        size = inputs[0].shape[2:]
        fused = sum(resize_to(x, size, self.align_corners) for x in pan)
        return self.cls_seg(self.classifier(fused))
