"""The inference graph every deploy path shares: logits at input size."""
import torch.nn as nn
from mmseg.models.utils import resize
from torch import Tensor


class LogitsAtInputSize(nn.Module):
    """A segmentor's logits, bilinearly resized to the input resolution.

    Calls ``segmentor(inputs, mode='tensor')`` (no data preprocessor, no
    post-processing) and resizes the logits to the input's height and width
    unless they already have it, with the decode head's ``align_corners``.

    Args:
        segmentor (nn.Module): An mmseg segmentor (e.g. ``EncoderDecoder``).

    Shape:
        (N, 3, H, W) -> (N, num_classes, H, W)
    """

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.segmentor = segmentor

    def forward(self, inputs: Tensor) -> Tensor:
        logits = self.segmentor(inputs, mode='tensor')
        if logits.shape[2:] == inputs.shape[2:]:
            return logits
        return resize(
            logits,
            size=inputs.shape[2:],
            mode='bilinear',
            align_corners=self.segmentor.align_corners)
