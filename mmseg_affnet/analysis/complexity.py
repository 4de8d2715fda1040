"""Parameter and multiply-add counts of a segmentor's inference graph."""
from typing import Tuple

import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info

from ..deploy import LogitsAtInputSize, quiet

FLOP_COUNTER = ('mmengine.analysis.get_model_complexity_info '
                '(1 multiply-add = 1 FLOP; convolutions, matmuls, norms, '
                'bilinear upsampling and adaptive pooling counted; '
                'activations, element-wise ops and max-pooling not)')


def inference_params(model: nn.Module) -> int:
    """Parameters used by the tensor forward (auxiliary heads excluded).

    Args:
        model (nn.Module): An mmseg segmentor.

    Returns:
        int: Number of parameters outside ``auxiliary_head``.
    """
    return sum(p.numel() for name, p in model.named_parameters()
               if not name.startswith('auxiliary_head'))


def count_macs(model: nn.Module, size: Tuple[int, int]) -> int:
    """Multiply-adds of :class:`LogitsAtInputSize` at batch 1 and ``size``.

    Counted with mmengine's FLOP counter, which counts one multiply-add as
    one FLOP (see :data:`FLOP_COUNTER` for what it covers).

    Args:
        model (nn.Module): An mmseg segmentor in eval mode.
        size (tuple[int, int]): Input height and width.

    Returns:
        int: Multiply-adds of one (1, 3, H, W) input.
    """
    inputs = torch.randn(1, 3, *size)
    with quiet():  # it warns about every operator it does not count
        info = get_model_complexity_info(
            LogitsAtInputSize(model), inputs=(inputs, ), show_table=False,
            show_arch=False)
    return info['flops']
