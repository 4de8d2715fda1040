"""Deployment: fused eager inference, ONNX export, INT8 quantization.

- :mod:`.logits`: :class:`LogitsAtInputSize`, the graph every path runs.
- :mod:`.fusion`: :func:`prepare_for_inference` (Conv+BN folding,
  channels-last max-pools and weights) for fast eager PyTorch.
- :mod:`.onnx`: :func:`export_onnx` and :func:`create_ort_session`.

Example:
    >>> from mmseg_affnet.deploy import (LogitsAtInputSize,
    ...                                  prepare_for_inference)
    >>> model = LogitsAtInputSize(prepare_for_inference(segmentor))
    >>> logits = model(images.contiguous(memory_format=torch.channels_last))
"""
from .fusion import (ChannelsLastMaxPool2d, fuse_conv_bn,
                     prepare_for_inference, use_channels_last_max_pools)
from .loader import load_segmentor, resolve_config_path
from .logits import LogitsAtInputSize
from .onnx import create_ort_session, export_onnx, quiet, run_session

__all__ = [
    'ChannelsLastMaxPool2d', 'LogitsAtInputSize', 'create_ort_session',
    'export_onnx', 'fuse_conv_bn', 'load_segmentor', 'prepare_for_inference',
    'quiet', 'resolve_config_path', 'run_session',
    'use_channels_last_max_pools'
]
