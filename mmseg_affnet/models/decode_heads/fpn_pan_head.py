"""FPN + PAN fusion head: the AFFM alternative of AFFNet's Table II."""
from typing import List, Sequence

import torch.nn as nn
from mmseg.registry import MODELS
from torch import Tensor

from ..utils import (CBAM, ConcatFusion, MultiLevelFusionHead, PoolingBranch,
                     resize_to)


@MODELS.register_module()
class FPNPANHead(MultiLevelFusionHead):
    """AFFM's branches fused by a YOLOv4-style FPN + PAN (Fig. 6(b)).

    The module AFFNet is compared with in Table II. Per selected input it
    has the same two branches as :class:`AFFMHead`, built from the same
    classes: a CBAM attention branch and a pooling branch (1x1 conv to
    ``channels`` and a stride-1 max-pool). Only the fusion differs: the
    levels meet in a feature-pyramid (top-down) path followed by a
    path-aggregation (bottom-up) path, and every merge is a concatenation
    followed by a convolution ("Concat"), never a sum. The result goes to
    the same classifier as AFFM.

    With inputs ordered finest (``0``) to coarsest (``L``), ``a_i`` the
    attention and ``p_i`` the pooling branch of input ``i``::

        t_L = conv([a_L; p_L])
        t_i = conv([a_i; p_i; up(t_(i+1))])      i = L-1 .. 0  (FPN)
        b_0 = t_0
        b_i = conv([down(b_(i-1)); t_i])         i = 1 .. L    (PAN)
        out = classifier(conv([b_0; up(b_1); ...; up(b_L)]))

    Readings of what Fig. 6(b) leaves open, each chosen so that the module
    stays the lighter of the two, as the paper presents it (measured on the
    full AFFNet at 512x1024 with mmengine's counter: 1.57 M parameters and
    2.82 GMAC, against 1.65 M and 5.04 GMAC with AFFM):

    - **What feeds the paths.** The two branch outputs of a level are not
      fused on their own: they enter that level's FPN merge, concatenated
      with the upsampled coarser level. One concat+conv per level thus fuses
      the branches and the levels.
    - **Kernels.** Every merge conv is 1x1 (+BN+ReLU), as the first conv of
      YOLOv4's post-concat stacks; a 3x3 merge at 1/8 alone would cost
      about 3.0 GMAC at 512x1024.
    - **Widths.** Every path level has ``channels`` (128) channels, the
      width of AFFM's fusions.
    - **Up-sampling** (FPN): bilinear, to the next finer level's size.
    - **Down-sampling** (PAN): bilinear, to the next coarser level's size,
      parameter-free. YOLOv4 uses a 3x3 stride-2 conv, which would add
      parameters and cannot express the stride-1 step between AFFNet's two
      1/32 levels; the merge conv that follows does the learning.
    - **Reaching the classifier.** Every PAN level is upsampled to the
      finest resolution and the levels are merged by one more concat+conv
      (1x1, to ``channels``), so that each PAN output reaches the
      classifier directly (and every parameter gets a gradient).

    Args:
        in_channels (Sequence[int]): Widths of the selected inputs.
        in_index (Sequence[int]): Backbone outputs to fuse, finest first;
            the first sets the output resolution.
        reduction_ratio (int): CBAM channel-MLP reduction. Default: 16.
        spatial_kernel_size (int): CBAM spatial conv size. Default: 3.
        pool_size (int): Max-pool window of the pooling branch. Default: 5.
        num_classifier_convs (int): Depthwise-separable convs before the
            final conv. Default: 2.
        classifier_kernel_size (int): Kernel of the final conv, as in
            :class:`AFFMHead`. Default: 1.
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
                 num_classifier_convs: int = 2,
                 classifier_kernel_size: int = 1,
                 **kwargs):
        super().__init__(in_channels, in_index, num_classifier_convs,
                         classifier_kernel_size, **kwargs)
        width = self.channels
        num_levels = len(self.in_channels)
        self.attention = nn.ModuleList(
            CBAM(c, reduction_ratio, spatial_kernel_size)
            for c in self.in_channels)
        self.pooling = nn.ModuleList(
            PoolingBranch(c, width, pool_size, self.norm_cfg, self.act_cfg)
            for c in self.in_channels)
        # top_down[i] merges level i; the coarsest has no coarser input.
        self.top_down = nn.ModuleList(
            self._merge([c, width] + ([width] if i < num_levels - 1 else []))
            for i, c in enumerate(self.in_channels))
        # bottom_up[i - 1] merges level i with the level below it.
        self.bottom_up = nn.ModuleList(
            self._merge([width, width]) for _ in range(num_levels - 1))
        self.output_merge = self._merge([width] * num_levels)

    def _merge(self, in_channels: List[int]) -> ConcatFusion:
        return ConcatFusion(
            in_channels,
            self.channels,
            self.norm_cfg,
            self.act_cfg,
            kernel_size=1)

    def _top_down(self, attended: List[Tensor],
                  pooled: List[Tensor]) -> List[Tensor]:
        """FPN path, coarsest level first; returns levels finest first."""
        fpn: List[Tensor] = []
        for a, p, merge in zip(attended[::-1], pooled[::-1],
                               self.top_down[::-1]):
            coarser = [resize_to(fpn[0], a.shape[2:], self.align_corners)
                       ] if fpn else []
            fpn.insert(0, merge([a, p, *coarser]))
        return fpn

    def _bottom_up(self, fpn: List[Tensor]) -> List[Tensor]:
        """PAN path from the finest level up; returns levels finest first."""
        pan = fpn[:1]
        for level, merge in zip(fpn[1:], self.bottom_up):
            finer = resize_to(pan[-1], level.shape[2:], self.align_corners)
            pan.append(merge([finer, level]))
        return pan

    def forward(self, inputs: Sequence[Tensor]) -> Tensor:
        inputs = self._transform_inputs(inputs)
        attended = [cbam(x) for cbam, x in zip(self.attention, inputs)]
        pooled = [branch(x) for branch, x in zip(self.pooling, inputs)]
        pan = self._bottom_up(self._top_down(attended, pooled))
        size = inputs[0].shape[2:]
        fused = self.output_merge(
            [resize_to(x, size, self.align_corners) for x in pan])
        return self.classify(fused)
