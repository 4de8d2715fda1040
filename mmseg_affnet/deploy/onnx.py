"""ONNX export of a segmentor and onnxruntime sessions to run it.

The graph is :class:`LogitsAtInputSize`: one normalised image batch
``inputs`` (N, 3, H, W) -> ``logits`` (N, num_classes, H, W). Data
preprocessing (mean/std, BGR->RGB) and the argmax are not part of it; the
input size is fixed at export time.
"""
import logging
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import numpy as np
import onnxruntime as ort
import torch
import torch.nn as nn
from mmengine.logging import MMLogger
from torch import Tensor

from ..engine.segmentor import init_segmentor
from ..models.utils import check_input_size
from ..utils.config import load_config
from ..utils.io import atomic_write_bytes, refuse_existing, refuse_inputs
from .logits import LogitsAtInputSize

PathLike = Union[str, Path]
INPUT_NAME = 'inputs'
OUTPUT_NAME = 'logits'
OPTIMIZATION_LEVELS = {
    'disable': ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    'basic': ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    'extended': ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    'all': ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


@contextmanager
def quiet() -> Iterator[None]:
    """Silence warnings, mmengine's log and torch.onnx's log inside.

    The exporter and mmengine's FLOP counter warn about every operator they
    treat generically; none of it is actionable for a user.
    """
    loggers = [MMLogger.get_current_instance(),
               logging.getLogger('torch.onnx')]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def export_onnx(segmentor: nn.Module,
                inputs: Tensor,
                file: PathLike,
                opset: int = 18) -> None:
    """Export a segmentor's :class:`LogitsAtInputSize` graph to ONNX.

    Uses torch's dynamo-based exporter (needs ``onnxscript``), which handles
    the adaptive pooling of pyramid pooling modules at any input size. The
    graph has a fixed input shape, that of ``inputs``; its input is named
    ``inputs`` and its output ``logits``. The file is written atomically
    and an existing file is refused.

    Args:
        segmentor (nn.Module): An mmseg segmentor in eval mode.
        inputs (Tensor): Example input of shape (N, 3, H, W).
        file (str | Path): Output ``.onnx`` file; must not exist.
        opset (int): ONNX opset version. Default: 18.

    Raises:
        FileExistsError: If ``file`` exists.
    """
    with quiet():
        program = torch.onnx.export(
            LogitsAtInputSize(segmentor).eval(), (inputs, ),
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            opset_version=opset,
            dynamo=True,
            verbose=False)
    atomic_write_bytes(file, program.model_proto.SerializeToString())


def create_ort_session(file: PathLike,
                       threads: int = 0,
                       device: str = 'cpu',
                       optimization_level: str = 'all',
                       spinning: bool = False,
                       parallel: bool = False,
                       memory_pattern: bool = True,
                       profile_prefix: str = '') -> ort.InferenceSession:
    """Open an onnxruntime session of an ONNX file.

    The defaults are the fastest settings measured for AFFNet at 512x1024
    on 2 CPU threads (docs/user_guides/deployment.md): all graph
    optimisations, sequential execution, memory pattern on, no spinning.

    Args:
        file (str | Path): ONNX file.
        threads (int): Intra-op threads; 0 lets onnxruntime choose.
            Default: 0.
        device (str): ``'cpu'`` or ``'cuda'`` (needs onnxruntime-gpu).
            Default: 'cpu'.
        optimization_level (str): Graph optimisations, one of
            ``'disable'``, ``'basic'``, ``'extended'``, ``'all'``.
            Default: 'all'.
        spinning (bool): Let idle intra-op threads busy-wait for work. Off
            by default: after a run the spinning threads steal the cores
            from whatever runs next in the process. Default: False.
        parallel (bool): Run independent nodes in parallel
            (``ORT_PARALLEL``) instead of one after another. Default: False.
        memory_pattern (bool): Pre-plan activation memory for the fixed
            input shape. Default: True.
        profile_prefix (str): If set, write onnxruntime's per-node profile
            to ``<prefix>_<date>.json`` (``session.end_profiling()`` returns
            its path). Default: '' (no profiling).

    Returns:
        onnxruntime.InferenceSession: The session.

    Raises:
        FileNotFoundError: If ``file`` does not exist.
        ValueError: If ``device`` is CUDA and onnxruntime has no CUDA
            provider, or ``optimization_level`` is unknown.
    """
    if not os.path.isfile(file):
        raise FileNotFoundError(
            f'ONNX file {file} does not exist; export one with '
            f'tools/export_onnx.py.')
    if optimization_level not in OPTIMIZATION_LEVELS:
        raise ValueError(f'optimization_level {optimization_level!r} is not '
                         f'one of {list(OPTIMIZATION_LEVELS)}.')
    options = ort.SessionOptions()
    options.graph_optimization_level = OPTIMIZATION_LEVELS[optimization_level]
    options.intra_op_num_threads = threads
    options.add_session_config_entry('session.intra_op.allow_spinning',
                                     '1' if spinning else '0')
    options.execution_mode = (ort.ExecutionMode.ORT_PARALLEL if parallel
                              else ort.ExecutionMode.ORT_SEQUENTIAL)
    options.enable_mem_pattern = memory_pattern
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    provider = ('CUDAExecutionProvider'
                if device.startswith('cuda') else 'CPUExecutionProvider')
    if provider not in ort.get_available_providers():
        raise ValueError(
            f'--device {device}: onnxruntime has no CUDA provider here '
            f'(providers: {", ".join(ort.get_available_providers())}); '
            'install onnxruntime-gpu, or use --device cpu.')
    return ort.InferenceSession(str(file), options, providers=[provider])


def run_session(session: ort.InferenceSession,
                inputs: np.ndarray) -> np.ndarray:
    """Logits of one batch through a session of an exported graph.

    Args:
        session (onnxruntime.InferenceSession): Session of a graph from
            :func:`export_onnx` (or its INT8 version).
        inputs (np.ndarray): float32 array of shape (N, 3, H, W) with the
            graph's H and W.

    Returns:
        np.ndarray: Logits of shape (N, num_classes, H, W).
    """
    return session.run([OUTPUT_NAME], {INPUT_NAME: inputs})[0]


def max_abs_difference(segmentor: nn.Module, inputs: Tensor,
                       onnx_file: PathLike) -> float:
    """Largest absolute difference of onnxruntime's logits to PyTorch's.

    Args:
        segmentor (nn.Module): The exported segmentor, in eval mode.
        inputs (Tensor): An input of the graph's shape.
        onnx_file (str | Path): The exported graph.

    Returns:
        float: ``max |logits_ort - logits_torch|``.
    """
    with torch.inference_mode():
        expected = LogitsAtInputSize(segmentor)(inputs).numpy()
    actual = run_session(create_ort_session(onnx_file), inputs.numpy())
    return float(np.abs(actual - expected).max())


def export_segmentor(config: PathLike,
                     checkpoint: Optional[str],
                     shape: Tuple[int, int],
                     out_file: PathLike,
                     opset: int = 18,
                     cfg_options: Optional[dict] = None) -> float:
    """Export a config's segmentor to ONNX and check it with onnxruntime.

    The model is built with :func:`mmseg_affnet.engine.init_segmentor`
    (weights-only, strict checkpoint loading), exported at batch 1 and
    ``shape`` (:func:`export_onnx`) and run once by onnxruntime on a random
    input against PyTorch.

    Args:
        config (str | Path): Config file (``mmseg::`` allowed).
        checkpoint (str, optional): Checkpoint; None keeps random weights
            (for timing only).
        shape (tuple[int, int]): Input height and width.
        out_file (str | Path): ONNX file to write; must not exist.
        opset (int): ONNX opset. Default: 18.
        cfg_options (dict, optional): Overrides merged into the config
            (mmseg's ``--cfg-options``). Default: None.

    Returns:
        float: Max abs difference of the logits, onnxruntime vs PyTorch.

    Raises:
        FileExistsError: If ``out_file`` exists (checked before any work).
        ValueError: If a side of ``shape`` is below 32, or ``out_file`` is
            the config or the checkpoint.
    """
    refuse_inputs([out_file], [checkpoint, _path_of(config)],
                  'Pass another --out.')
    refuse_existing([out_file], 'pass another --out or move the file away.')
    check_input_size(shape)
    segmentor = init_segmentor(load_config(config, cfg_options), checkpoint)
    inputs = torch.randn(1, 3, *shape)
    export_onnx(segmentor, inputs, out_file, opset)
    return max_abs_difference(segmentor, inputs, out_file)


def _path_of(config) -> Optional[str]:
    """A config's file, or None for a ``Config`` or an ``mmseg::`` path."""
    return config if isinstance(config, (str, Path)) and \
        '::' not in str(config) else None
