"""What the benchmark times: one :class:`~.timing.TimedCall` per model,
variant, precision and runtime of an input size (:func:`make_calls`), as
:mod:`mmseg_affnet.analysis.benchmark` describes its rows.
"""
import copy
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn as nn

from ..deploy import (LogitsAtInputSize, OnnxBackend, OpenVinoBackend,
                      export_onnx, prepare_for_inference, quantize_onnx,
                      quantize_openvino)
from .timing import (TimedCall, matmul_calls, ort_call, torch_call,
                     train_step_call)
from .zoo import REFERENCE

Size = Tuple[int, int]
MATMUL_SIZE = 2048
INT8_CALIBRATION_INPUTS = 4
TRAIN_STEP_BATCH = 2
# The reference model's extra training steps: (variant, precision).
TRAIN_STEP_VARIANTS = (('train-step', 'bf16'),
                       ('train-step-channels-last', 'fp32'),
                       ('train-step-channels-last', 'bf16'))
ORT_OPTION_VARIANTS: Dict[str, dict] = {
    'opt-disable': dict(optimization_level='disable'),
    'opt-basic': dict(optimization_level='basic'),
    'opt-extended': dict(optimization_level='extended'),
    'spinning': dict(spinning=True),
    'parallel': dict(parallel=True),
    'no-mem-pattern': dict(memory_pattern=False),
    'threads-1': dict(threads=1),
}


def _graph_calls(name: str, model: nn.Module, inputs: torch.Tensor,
                 threads: int, opset: int, tmp_dir: str, int8: bool,
                 option_variants: Dict[str, dict],
                 openvino: bool = False) -> List[TimedCall]:
    """Export ``model`` at the size of ``inputs``; its onnxruntime calls
    and, with ``openvino``, its OpenVINO calls (fp32, and INT8 with
    ``int8``)."""
    stem = osp.join(tmp_dir, f'{name}_{inputs.shape[2]}x{inputs.shape[3]}')
    export_onnx(model, inputs, f'{stem}.onnx', opset)
    feed = inputs.numpy()
    calls = [ort_call(name, 'onnxruntime',
                      OnnxBackend(f'{stem}.onnx', model.cfg, threads=threads),
                      feed)]
    for option, kwargs in option_variants.items():
        kwargs = dict(dict(threads=threads), **kwargs)
        calls.append(ort_call(name, f'ort:{option}',
                              OnnxBackend(f'{stem}.onnx', model.cfg,
                                          **kwargs), feed))
    if int8:  # one calibration set for both runtimes
        generator = torch.Generator().manual_seed(0)
        calibration = [
            torch.randn(inputs.shape, generator=generator).numpy()
            for _ in range(INT8_CALIBRATION_INPUTS)
        ]
        quantize_onnx(f'{stem}.onnx', f'{stem}_int8.onnx', calibration)
        calls.append(ort_call(name, 'onnxruntime-int8',
                              OnnxBackend(f'{stem}_int8.onnx', model.cfg,
                                          threads=threads), feed))
    if openvino:
        calls.append(ort_call(name, 'openvino',
                              OpenVinoBackend(f'{stem}.onnx', model.cfg,
                                              threads=threads), feed))
        if int8:
            quantize_openvino(f'{stem}.onnx', f'{stem}_ov_int8.xml',
                              calibration)
            calls.append(ort_call(name, 'openvino-int8',
                                  OpenVinoBackend(f'{stem}_ov_int8.xml',
                                                  model.cfg,
                                                  threads=threads), feed))
    return calls


def bf16_supported(device: str) -> bool:
    """Whether bfloat16 autocast runs on ``device`` ('cpu': always, in
    hardware with AVX-512 BF16 or AMX and emulated otherwise; 'cuda': from
    Ampere on)."""
    return device == 'cpu' or torch.cuda.is_bf16_supported()


def training_module(model: nn.Module, device: str,
                    variant: str = 'train-step') -> nn.Module:
    """A copy of ``model`` for a training step: logits at input size, train
    mode, gradients on; weights channels-last for a ``*-channels-last``
    variant (as :class:`mmseg_affnet.engine.ChannelsLastHook` trains)."""
    module = LogitsAtInputSize(copy.deepcopy(model)).to(device)
    if variant.endswith('channels-last'):
        module.to(memory_format=torch.channels_last)
    return module.train().requires_grad_(True)


def make_calls(models: Dict[str, nn.Module], deploy_models: Sequence[str],
               size: Size, device: str, threads: int, opset: int,
               tmp_dir: str, int8: bool = True,
               ort_options: bool = False,
               train_step: bool = False,
               openvino: bool = False) -> List[TimedCall]:
    """All timed calls of one input size on one device.

    Args:
        models (dict[str, nn.Module]): Eager CPU models by name.
        deploy_models (Sequence[str]): Names that also get fused and (on
            CPU) onnxruntime calls.
        size (tuple[int, int]): Input height and width.
        device (str): 'cpu' or 'cuda'.
        threads (int): onnxruntime intra-op threads.
        opset (int): ONNX opset.
        tmp_dir (str): Folder for the ONNX files.
        int8 (bool): Add ``onnxruntime-int8`` calls. Default: True.
        ort_options (bool): Add the :data:`ORT_OPTION_VARIANTS` calls of the
            reference model. Default: False.
        train_step (bool): Add a ``train-step`` call of every model, and the
            reference's :data:`TRAIN_STEP_VARIANTS`. Default: False.
        openvino (bool): Add ``openvino`` (and with ``int8``
            ``openvino-int8``) calls of the deploy models. Default: False.

    Returns:
        list[TimedCall]: Eager calls, training steps, then fused, then
        exported-graph ones, then (CPU) the matmul ceiling.
    """
    inputs = torch.randn(1, 3, *size)
    precisions = ['fp32', 'fp16'] if device == 'cuda' else ['fp32']
    eager, train, fused, ort = [], [], [], []
    for name, model in models.items():
        module = LogitsAtInputSize(copy.deepcopy(model)).to(device)
        eager += [torch_call(name, 'eager', module, inputs.to(device), p)
                  for p in precisions]
        if train_step:
            batch = torch.randn(TRAIN_STEP_BATCH, 3, *size, device=device)
            train.append(
                train_step_call(name, training_module(model, device), batch))
            if name == REFERENCE:
                train += [
                    train_step_call(
                        name, training_module(model, device, variant), batch,
                        precision, variant)
                    for variant, precision in TRAIN_STEP_VARIANTS
                    if precision != 'bf16' or bf16_supported(device)
                ]
        if name not in deploy_models:
            continue
        fused_module = LogitsAtInputSize(
            prepare_for_inference(copy.deepcopy(model).to(device)))
        fused_inputs = inputs.to(device).contiguous(
            memory_format=torch.channels_last)
        fused += [torch_call(name, 'fused', fused_module, fused_inputs, p)
                  for p in precisions]
        if device == 'cpu':
            variants = (ORT_OPTION_VARIANTS
                        if ort_options and name == REFERENCE else {})
            ort += _graph_calls(name, model, inputs, threads, opset,
                                tmp_dir, int8, variants, openvino)
    models = eager + train + fused + ort
    ceiling = matmul_calls(MATMUL_SIZE, {c.precision for c in models},
                           threads) if device == 'cpu' else []
    return models + ceiling
