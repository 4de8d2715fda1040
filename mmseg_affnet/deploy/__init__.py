"""Deployment: fused eager inference, ONNX export, INT8 quantization.

- :mod:`.logits`: :class:`LogitsAtInputSize`, the graph every path runs.
- :mod:`.conv_bn_folding`: :func:`prepare_for_inference` (Conv+BN folding,
  channels-last max-pools and weights) for fast eager PyTorch.
- :mod:`.onnx`: :func:`export_onnx`, :func:`export_segmentor` and
  :func:`create_ort_session`.
- :mod:`.quantize`: static INT8 quantization (:func:`quantize_onnx`,
  :func:`quantize_segmentor`) calibrated on a config's images.
- :mod:`.backends`: one inference layer, :class:`InferenceBackend`: the
  PyTorch segmentor (:class:`TorchBackend`) or an exported graph
  (:class:`OnnxBackend`, :class:`OpenVinoBackend`, :func:`open_graph`),
  for video, evaluation and the benchmark.
- :mod:`.openvino`: the optional OpenVINO runtime
  (:func:`compile_openvino`) and NNCF's INT8 (:func:`quantize_openvino`).
- :mod:`.evaluate`: val-set mIoU of any backend (:func:`evaluate_backend`),
  an ONNX graph (:func:`evaluate_onnx`) or a checkpoint
  (:func:`evaluate_checkpoint`), through one val loop.

Example:
    >>> from mmseg_affnet.deploy import (LogitsAtInputSize,
    ...                                  prepare_for_inference)
    >>> model = LogitsAtInputSize(prepare_for_inference(segmentor))
    >>> logits = model(images.contiguous(memory_format=torch.channels_last))
"""
from .backends import (GRAPH_BACKENDS, InferenceBackend, OnnxBackend,
                       OpenVinoBackend, TorchBackend, argmax_channels,
                       open_graph)
from .conv_bn_folding import (fuse_conv_bn, prepare_for_inference,
                              use_channels_last_max_pools)
from .evaluate import (accuracy_table, compare_accuracy, evaluate_backend,
                       evaluate_checkpoint, evaluate_onnx, process_val_set)
from .logits import LogitsAtInputSize
from .onnx import (create_ort_session, export_onnx, export_segmentor,
                   max_abs_difference, quiet, run_session)
from .openvino import compile_openvino, quantize_openvino
from .quantize import (CALIBRATION_METHODS, CalibrationImages,
                       graph_input_shape, quantize_onnx, quantize_segmentor)

__all__ = [
    'accuracy_table', 'argmax_channels', 'CALIBRATION_METHODS',
    'CalibrationImages', 'compare_accuracy', 'compile_openvino',
    'create_ort_session',
    'evaluate_backend', 'evaluate_checkpoint', 'evaluate_onnx',
    'export_onnx', 'export_segmentor', 'fuse_conv_bn', 'GRAPH_BACKENDS',
    'graph_input_shape', 'InferenceBackend', 'LogitsAtInputSize',
    'max_abs_difference', 'OnnxBackend', 'open_graph', 'OpenVinoBackend',
    'prepare_for_inference', 'process_val_set', 'quantize_onnx',
    'quantize_openvino',
    'quantize_segmentor', 'quiet', 'run_session', 'TorchBackend',
    'use_channels_last_max_pools'
]
