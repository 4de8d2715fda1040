"""The base of the multi-level fusion heads (AFFM, FPN+PAN, SPM): input
checks, resizing and the shared classifier."""
from typing import Sequence

import torch
import torch.nn as nn
from mmcv.cnn import DepthwiseSeparableConvModule
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from mmseg.models.utils import resize
from mmseg.utils import ConfigType
from torch import Tensor


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
