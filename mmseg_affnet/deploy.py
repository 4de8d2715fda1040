"""Inference deployment of MMSegmentation segmentors.

Loads a segmentor from a config (``mmseg::`` configs included), wraps it so
that it returns logits at the input resolution, prepares it for fast eager
inference (eval mode, Conv+BN fusion, channels-last) and exports it to ONNX
for onnxruntime. Works for AFFNet and for any ``EncoderDecoder`` of mmseg.

Example:
    >>> from mmseg_affnet.deploy import (LogitsAtInputSize, load_segmentor,
    ...                                  prepare_for_inference)
    >>> model = load_segmentor('configs/affnet_cityscapes.py', 'best.pth')
    >>> model = LogitsAtInputSize(prepare_for_inference(model))
    >>> logits = model(images.contiguous(memory_format=torch.channels_last))
"""
import os.path as osp
from pathlib import Path
from typing import Optional, Union

import mmseg
import onnxruntime as ort
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.config import Config
from mmengine.model import revert_sync_batchnorm
from mmseg.apis import init_model
from mmseg.models.utils import resize
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval

MMSEG_PREFIX = 'mmseg::'


def resolve_config_path(config: Union[str, Path]) -> str:
    """Map ``mmseg::path/in/mmseg/configs.py`` to its installed file.

    Args:
        config (str | Path): A config file path, or a path inside mmseg's
            shipped configs prefixed with ``mmseg::``.

    Returns:
        str: The path of an existing config file.
    """
    config = str(config)
    if config.startswith(MMSEG_PREFIX):
        config = osp.join(
            osp.dirname(mmseg.__file__), '.mim', 'configs',
            config[len(MMSEG_PREFIX):])
    if not osp.isfile(config):
        raise FileNotFoundError(
            f'Config {config} does not exist; pass a config file path or '
            f'{MMSEG_PREFIX}<dir>/<name>.py for a config shipped with mmseg '
            f'(see {osp.dirname(mmseg.__file__)}/.mim/configs).')
    return config


def load_segmentor(config: Union[str, Path],
                   checkpoint: Optional[str] = None,
                   device: str = 'cpu') -> nn.Module:
    """Build a segmentor for inference with mmseg's ``init_model``.

    Pretrained-backbone downloads named in the config are skipped, SyncBN is
    converted to BN (so that the model runs in one process) and the model is
    put in eval mode.

    Args:
        config (str | Path): Config path, ``mmseg::`` paths allowed.
        checkpoint (str, optional): Checkpoint to load; None keeps the
            initial weights. Default: None.
        device (str): Device of the model. Default: 'cpu'.

    Returns:
        nn.Module: The segmentor in eval mode.
    """
    if checkpoint is not None and '://' not in checkpoint and not osp.isfile(
            checkpoint):
        raise FileNotFoundError(
            f'Checkpoint {checkpoint} does not exist; pass the .pth file '
            f'saved by training (e.g. work_dirs/<config>/best_mIoU_*.pth) or '
            f'leave it out to use randomly initialised weights.')
    cfg = Config.fromfile(resolve_config_path(config))
    model = init_model(cfg, checkpoint, device=device)
    return revert_sync_batchnorm(model).eval()


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

    Unlike ``mmcv.cnn.fuse_conv_bn``, which pairs a BN with the previous conv
    in registration order, only pairs whose data flow is known are fused: a
    ``ConvModule`` whose order puts the norm right after the conv, and
    adjacent conv/BN layers of an ``nn.Sequential`` that keeps the default
    ``forward``. A BN after a concatenation or any other operation is left
    as it is, so the outputs do not change (up to rounding).

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


def prepare_for_inference(model: nn.Module,
                          channels_last: bool = True,
                          cudnn_benchmark: bool = True) -> nn.Module:
    """Make a model fast for inference without changing its outputs.

    Puts the model in eval mode, disables gradients, fuses Conv+BN
    (:func:`fuse_conv_bn`) and optionally stores its weights channels-last;
    feed it inputs converted with
    ``x.contiguous(memory_format=torch.channels_last)`` then.

    Args:
        model (nn.Module): Model to prepare; changed in place.
        channels_last (bool): Convert 4-D weights to channels-last.
            Default: True.
        cudnn_benchmark (bool): Value for ``torch.backends.cudnn.benchmark``
            (process-wide; lets cuDNN pick the fastest convolution for the
            fixed input size; no effect on CPU). Default: True.

    Returns:
        nn.Module: The same model.
    """
    model.eval().requires_grad_(False)
    fuse_conv_bn(model)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    torch.backends.cudnn.benchmark = cudnn_benchmark
    return model


def export_onnx(segmentor: nn.Module,
                inputs: Tensor,
                file: Union[str, Path],
                opset: int = 18) -> None:
    """Export a segmentor's :class:`LogitsAtInputSize` graph to ONNX.

    Uses torch's dynamo-based exporter (needs ``onnxscript``), which handles
    the adaptive pooling of pyramid pooling modules at any input size. The
    graph has a fixed input shape, that of ``inputs``; its input is named
    ``inputs`` and its output ``logits``.

    Args:
        segmentor (nn.Module): An mmseg segmentor in eval mode.
        inputs (Tensor): Example input of shape (N, 3, H, W).
        file (str | Path): Output ``.onnx`` file (overwritten).
        opset (int): ONNX opset version. Default: 18.
    """
    torch.onnx.export(
        LogitsAtInputSize(segmentor).eval(), (inputs, ),
        str(file),
        input_names=['inputs'],
        output_names=['logits'],
        opset_version=opset,
        dynamo=True,
        verbose=False)


def create_ort_session(file: Union[str, Path], threads: int = 0,
                       device: str = 'cpu') -> ort.InferenceSession:
    """Open an onnxruntime session with all graph optimisations on.

    Args:
        file (str | Path): ONNX file.
        threads (int): Intra-op threads; 0 lets onnxruntime choose.
            Default: 0.
        device (str): ``'cpu'`` or ``'cuda'`` (needs onnxruntime-gpu).
            Default: 'cpu'.

    Returns:
        onnxruntime.InferenceSession: The session.
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_ALL)
    options.intra_op_num_threads = threads
    # No busy-waiting between runs: it would steal the cores from whatever
    # runs next in this process (e.g. the PyTorch models it is compared with).
    options.add_session_config_entry('session.intra_op.allow_spinning', '0')
    provider = ('CUDAExecutionProvider'
                if device.startswith('cuda') else 'CPUExecutionProvider')
    if provider not in ort.get_available_providers():
        raise RuntimeError(
            f'onnxruntime has no {provider}; install onnxruntime-gpu for '
            f'CUDA or use device="cpu".')
    return ort.InferenceSession(str(file), options, providers=[provider])
