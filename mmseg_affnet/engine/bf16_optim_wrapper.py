"""Mixed-precision training in bfloat16, on CPUs as on GPUs.

mmengine's ``AmpOptimWrapper`` asserts a CUDA, NPU, MLU or MUSA device
(``amp_optimizer_wrapper.py``) and scales the loss for float16. bfloat16 has
float32's exponent range, so gradients need no loss scaling, and PyTorch's
CPU autocast supports it (oneDNN runs convolutions and matrix products in
bfloat16 on CPUs with AVX-512 BF16 or AMX). This wrapper only adds the
autocast context to the forward pass and the loss; the backward pass follows
autocast's dtypes, and the parameters, their gradients and the optimizer
state stay float32. Validation and testing do not pass through the optimizer
wrapper and run in float32.

On a CPU without native bfloat16 (AVX2 only: no AVX-512 BF16 or AMX),
oneDNN emulates it: measured on a 2-core AMD EPYC (AVX2), the CamVid CPU
recipe trained at 6-8 s an iteration against 0.55-0.6 s in float32. The
wrapper then warns once, naming the float32 switch.
"""
import logging
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast
from mmseg.registry import OPTIM_WRAPPERS


@OPTIM_WRAPPERS.register_module()
class BF16OptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose forward pass and loss run under bfloat16
    autocast on the device type of the model's parameters
    (``mmengine.runner.amp.autocast``: CPU, or a GPU that supports bfloat16;
    it raises a clear error on one that does not, such as Turing).

    Use it in a config as ``optim_wrapper = dict(type='BF16OptimWrapper',
    optimizer=...)``; every other argument is ``OptimWrapper``'s.
    """

    _warned_emulated = False

    @contextmanager
    def optim_context(self, model: nn.Module):
        """Gradient-accumulation context of ``OptimWrapper`` plus autocast.

        Args:
            model (nn.Module): The training model.
        """
        device_type = next(model.parameters()).device.type
        if device_type == 'cpu' and not self._warned_emulated \
                and not cpu_has_native_bfloat16():
            self._warned_emulated = True
            print_log(
                'BF16OptimWrapper: this CPU has no native bfloat16 (no '
                'AVX-512 BF16 or AMX; oneDNN emulates it), so training runs '
                'several times slower than in float32. Train in float32 with '
                '--cfg-options optim_wrapper.type=OptimWrapper.',
                logger='current', level=logging.WARNING)
        with super().optim_context(model), autocast(
                device_type=device_type, dtype=torch.bfloat16):
            yield


def cpu_has_native_bfloat16() -> bool:
    """Whether oneDNN runs bfloat16 natively on this CPU (AVX-512 BF16 or
    AMX), as PyTorch reports it."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
