"""Eager inference without changing the outputs: Conv+BN fusion, layouts.

:func:`prepare_for_inference` is the one entry point: eval mode, no
gradients, Conv+BN folding (:func:`fuse_conv_bn`), stride-1 max-pools in
channels-last layout (:class:`ChannelsLastMaxPool2d`) and channels-last
weights. Works for AFFNet and for any ``EncoderDecoder`` of mmseg.
"""
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..models.utils import ChannelsLastMaxPool2d


def _conv_followed_by_bn(conv: nn.Module, norm: nn.Module) -> bool:
    return (isinstance(conv, nn.Conv2d) and isinstance(norm, _BatchNorm)
            and norm.track_running_stats)


def _fuse_conv_module(module: ConvModule) -> None:
    order = module.order
    if (not module.with_norm
            or order.index('norm') != order.index('conv') + 1
            or not _conv_followed_by_bn(module.conv, module.norm)):
        return
    module.conv = fuse_conv_bn_eval(module.conv, module.norm)
    setattr(module, module.norm_name, nn.Identity())


def _fuse_sequential(module: nn.Sequential) -> None:
    for index in range(len(module) - 1):
        if _conv_followed_by_bn(module[index], module[index + 1]):
            module[index] = fuse_conv_bn_eval(module[index], module[index + 1])
            module[index + 1] = nn.Identity()


def fuse_conv_bn(model: nn.Module) -> nn.Module:
    """Fold eval-mode batch norms into the convs that directly feed them.

    Hand-written on purpose: ``mmcv.cnn.fuse_conv_bn`` pairs a BN with the
    previous conv in registration order, which is wrong where a BN follows
    a concatenation (e.g. the initial unit of mmseg's ENet-style blocks).
    Here only pairs whose data flow is known are fused: a ``ConvModule``
    whose order puts the norm right after the conv, and adjacent conv/BN
    layers of an ``nn.Sequential`` that keeps the default ``forward``. Any
    other BN is left as it is, so the outputs do not change (up to
    rounding).

    Args:
        model (nn.Module): Model in eval mode; changed in place.

    Returns:
        nn.Module: The same model.
    """
    if model.training:
        raise ValueError('fuse_conv_bn needs a model in eval mode: fusing '
                         'uses the running statistics; call model.eval().')
    for module in list(model.modules()):
        if isinstance(module, ConvModule):
            _fuse_conv_module(module)
        elif (isinstance(module, nn.Sequential)
              and type(module).forward is nn.Sequential.forward):
            _fuse_sequential(module)
    return model


def use_channels_last_max_pools(model: nn.Module) -> nn.Module:
    """Swap every stride-1 ``nn.MaxPool2d`` for :class:`ChannelsLastMaxPool2d`.

    AFFNet's heads build their pools as :class:`ChannelsLastMaxPool2d`
    already; this speeds up the stride-1 pools of other mmseg models
    (e.g. a peer's head). Strided pools are left alone: PyTorch's NCHW
    kernel is fast enough for them and they are not where the time goes.

    Args:
        model (nn.Module): Model; changed in place.

    Returns:
        nn.Module: The same model.
    """
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if (type(child) is nn.MaxPool2d
                    and nn.modules.utils._pair(child.stride) == (1, 1)):
                swapped = ChannelsLastMaxPool2d(
                    child.kernel_size, child.stride, child.padding,
                    child.dilation, child.return_indices, child.ceil_mode)
                setattr(parent, name, swapped)
    return model


def prepare_for_inference(model: nn.Module,
                          channels_last: bool = True) -> nn.Module:
    """Make a model fast for eager inference without changing its outputs.

    Puts the model in eval mode, disables gradients, fuses Conv+BN
    (:func:`fuse_conv_bn`), runs stride-1 max-pools in channels-last layout
    (:func:`use_channels_last_max_pools`) and optionally stores its weights
    channels-last; feed it inputs converted with
    ``x.contiguous(memory_format=torch.channels_last)`` then. Only the model
    changes; process-wide settings such as cuDNN autotuning are the
    caller's (e.g. :func:`mmseg_affnet.analysis.torch_settings`).

    Args:
        model (nn.Module): Model to prepare; changed in place.
        channels_last (bool): Convert 4-D weights to channels-last.
            Default: True.

    Returns:
        nn.Module: The same model.
    """
    model.eval().requires_grad_(False)
    fuse_conv_bn(model)
    use_channels_last_max_pools(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return model
