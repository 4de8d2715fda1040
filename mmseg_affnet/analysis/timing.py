"""Interleaved latency measurement of several ways to run models.

On a shared machine the load changes while a benchmark runs. Calling every
model once in turn, round after round, spreads those changes over all of
them alike, so the ratios of their latencies stay comparable even when the
absolute numbers drift.
"""
import os
import platform
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor
from tqdm import tqdm

from ..deploy import InferenceBackend


def machine() -> dict:
    """The hardware and versions a measurement ran on.

    Returns:
        dict: ``cpu`` (processor name), ``cpu_count``, ``cuda_device``
        (None without CUDA) and ``torch`` (version).
    """
    return dict(
        cpu=platform.processor() or platform.machine(),
        cpu_count=os.cpu_count(),
        cuda_device=(torch.cuda.get_device_name()
                     if torch.cuda.is_available() else None),
        torch=torch.__version__)


@dataclass
class TimedCall:
    """One timed way of running one model: a zero-argument callable.

    Args:
        model (str): Model name (a row label).
        variant (str): How it runs, e.g. ``'eager'``, ``'fused'``,
            ``'onnxruntime'``, ``'onnxruntime-int8'``.
        precision (str): ``'fp32'``, ``'fp16'`` or ``'int8'``.
        call (Callable[[], object]): Runs the model once on a fixed input
            (synchronised on CUDA).
    """
    model: str
    variant: str
    precision: str
    call: Callable[[], object]

    def __call__(self) -> object:
        return self.call()


def torch_call(model: str, variant: str, module: nn.Module, inputs: Tensor,
               precision: str = 'fp32') -> TimedCall:
    """A :class:`TimedCall` of a PyTorch module under inference mode.

    Args:
        model (str): Model name.
        variant (str): Variant label.
        module (nn.Module): Module in eval mode, on the device of
            ``inputs``.
        inputs (Tensor): Its input.
        precision (str): ``'fp32'``, or ``'fp16'`` for CUDA autocast.
            Default: 'fp32'.

    Returns:
        TimedCall: The call.
    """
    cuda = inputs.is_cuda

    def call():
        with torch.inference_mode(), torch.autocast(
                'cuda', dtype=torch.float16, enabled=precision == 'fp16'):
            module(inputs)
        if cuda:
            torch.cuda.synchronize()

    return TimedCall(model, variant, precision, call)


def train_step_call(model: str, module: nn.Module, inputs: Tensor,
                    precision: str = 'fp32',
                    variant: str = 'train-step') -> TimedCall:
    """A :class:`TimedCall` of one training step's forward and backward.

    The module runs in train mode (batch statistics, dropout) and the mean
    of its output is back-propagated; the optimizer step, which costs the
    same for every model of a size, is left out.

    Args:
        model (str): Model name.
        module (nn.Module): Module returning logits, in train mode, on the
            device of ``inputs``; its parameters require gradients.
        inputs (Tensor): A batch of at least 2 images (batch norms in train
            mode need more than one value per channel).
        precision (str): ``'fp32'``, or ``'bf16'``: the forward pass under
            bfloat16 autocast on the inputs' device, as
            :class:`mmseg_affnet.engine.BF16OptimWrapper` trains.
            Default: 'fp32'.
        variant (str): Variant label, e.g. ``'train-step-channels-last'``
            for a module converted to that layout. Default: 'train-step'.

    Returns:
        TimedCall: The call.
    """
    cuda = inputs.is_cuda

    def call():
        module.zero_grad(set_to_none=True)
        with torch.autocast(inputs.device.type, dtype=torch.bfloat16,
                            enabled=precision == 'bf16'):
            logits = module(inputs)
        logits.float().mean().backward()
        if cuda:
            torch.cuda.synchronize()

    return TimedCall(model, variant, precision, call)


def ort_call(model: str, variant: str, backend: InferenceBackend,
             inputs: np.ndarray) -> TimedCall:
    """A :class:`TimedCall` of an exported graph's backend.

    Args:
        model (str): Model name.
        variant (str): Variant label.
        backend (InferenceBackend): E.g. an
            :class:`~mmseg_affnet.deploy.OnnxBackend` of a graph from
            :func:`mmseg_affnet.deploy.export_onnx` or its INT8 version;
            its ``precision`` labels the call.
        inputs (np.ndarray): float32 input of the graph's shape.

    Returns:
        TimedCall: The call.
    """
    return TimedCall(model, variant, backend.precision,
                     lambda: backend.logits(inputs))


def matmul_calls(size: int = 2048, precisions: Sequence[str] = ('fp32', ),
                 threads: int = 0) -> List[TimedCall]:
    """Large matmuls: the CPU's practical multiply-add ceiling, one per
    precision, each through the runtime its rows use.

    ``size`` x ``size`` times ``size`` x ``size`` (``size**3``
    multiply-adds): fp32 by ``torch.mm`` (oneDNN/MKL GEMM, the fastest
    kernel PyTorch runs), int8 by onnxruntime's ``MatMulInteger`` (uint8 x
    int8 -> int32, the MLAS GEMM its INT8 graphs' convolutions run; VNNI
    where the CPU has it). Timed among the models, they give each
    precision's ceiling under the same load. There is no bf16 ceiling: the
    benchmark's bf16 rows are training steps, which have no GMAC/s, and on a
    CPU without native bfloat16 (AVX2) a 2048^3 bf16 ``torch.mm`` ran at
    0.5 GMAC/s (17 s a call).

    Args:
        size (int): Matrix side. Default: 2048 (8.6 G multiply-adds).
        precisions (Sequence[str]): Of ``'fp32'`` and ``'int8'``; others
            are left out. Default: ('fp32', ).
        threads (int): onnxruntime's intra-op threads (0: its choice);
            PyTorch's are the caller's. Default: 0.

    Returns:
        list[TimedCall]: Model ``'matmul'``, variant ``f'{size}x{size}'``,
        one per precision.
    """
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    variant = f'{size}x{size}'
    calls = []
    if 'fp32' in precisions:
        calls.append(TimedCall('matmul', variant, 'fp32',
                               lambda: torch.mm(a, b)))
    if 'int8' in precisions:
        calls.append(TimedCall('matmul', variant, 'int8',
                               _int8_matmul(size, threads)))
    return calls


def _int8_matmul(size: int, threads: int) -> Callable[[], object]:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ..deploy import create_ort_session
    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(
        rng.integers(-128, 128, (size, size), dtype=np.int8), 'b')
    graph = helper.make_graph(
        [helper.make_node('MatMulInteger', ['a', 'b'], ['y'])], 'matmul',
        [helper.make_tensor_value_info('a', TensorProto.UINT8, [size, size])],
        [helper.make_tensor_value_info('y', TensorProto.INT32, [size, size])],
        [weights])
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid('', 13)])
    onnx.checker.check_model(model)
    with tempfile.TemporaryDirectory() as tmp_dir:
        path = os.path.join(tmp_dir, 'matmul_int8.onnx')
        onnx.save(model, path)
        session = create_ort_session(path, threads)
    a = rng.integers(0, 256, (size, size), dtype=np.uint8)
    return lambda: session.run(None, {'a': a})


def time_interleaved(runners: Sequence[Callable[[], object]],
                     warmup: int,
                     iters: int,
                     progress: Optional[tqdm] = None) -> List[List[float]]:
    """Call each runner in turn, ``warmup`` untimed and ``iters`` timed rounds.

    Args:
        runners (Sequence[Callable[[], object]]): Zero-argument callables,
            e.g. :class:`TimedCall` objects.
        warmup (int): Untimed rounds first.
        iters (int): Timed rounds.
        progress (tqdm, optional): A progress bar advanced by
            ``len(runners)`` per round. Default: None.

    Returns:
        list[list[float]]: Seconds of each timed call, per runner.
    """
    if warmup < 0 or iters < 1:
        raise ValueError(f'warmup must be >= 0 and iters >= 1, got '
                         f'warmup={warmup}, iters={iters}.')
    times: List[List[float]] = [[] for _ in runners]
    for round_index in range(warmup + iters):
        for runner, runner_times in zip(runners, times):
            start = time.perf_counter()
            runner()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                runner_times.append(elapsed)
        if progress is not None:
            progress.update(len(runners))
    return times


def cuda_peak_memory_mib(runner: Callable[[], object]) -> float:
    """Peak CUDA memory of one call beyond what was allocated before, MiB.

    Args:
        runner (Callable[[], object]): A CUDA call.

    Returns:
        float: Max allocated during the call minus allocated before it.
    """
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    runner()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


@contextmanager
def torch_settings(threads: Optional[int] = None,
                   cudnn_benchmark: Optional[bool] = None) -> Iterator[None]:
    """Set PyTorch's CPU threads and cuDNN autotuning for a block only.

    Both are process-wide; the values found on entry are restored on exit.

    Args:
        threads (int, optional): ``torch.set_num_threads``; None keeps the
            current number. Default: None.
        cudnn_benchmark (bool, optional): ``torch.backends.cudnn.benchmark``
            (cuDNN picks the fastest convolution for a fixed input size; no
            effect on CPU); None keeps it. Default: None.
    """
    previous = torch.get_num_threads(), torch.backends.cudnn.benchmark
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        if cudnn_benchmark is not None:
            torch.backends.cudnn.benchmark = cudnn_benchmark
        yield
    finally:
        torch.set_num_threads(previous[0])
        torch.backends.cudnn.benchmark = previous[1]


def median_latencies_ms(calls: Sequence[TimedCall], threads: int,
                        warmup: int, iters: int,
                        desc: str = 'latency calls') -> List[float]:
    """Median milliseconds of each call, timed interleaved with ``threads``
    CPU threads (restored afterwards) and a progress bar.

    Args:
        calls (Sequence[TimedCall]): The calls.
        threads (int): PyTorch CPU threads.
        warmup (int): Untimed rounds.
        iters (int): Timed rounds.
        desc (str): Label of the progress bar. Default: 'latency calls'.

    Returns:
        list[float]: Median latency of each call in ms.
    """
    with torch_settings(threads), tqdm(total=len(calls) * (warmup + iters),
                                       desc=desc) as progress:
        times = time_interleaved(calls, warmup, iters, progress)
    return [float(np.median(t)) * 1e3 for t in times]
