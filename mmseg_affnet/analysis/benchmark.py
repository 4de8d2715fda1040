"""The benchmark flow: every model, size, device and runtime, interleaved.

:func:`run_benchmark` builds the models once (random weights: latency does
not depend on them), counts their parameters and multiply-adds and times,
for each input size and device, one interleaved round-robin of:

- every model eager, as its config builds it (``LogitsAtInputSize``, eval
  mode; fp32, plus fp16 autocast on CUDA);
- optionally every model's training step (``train-step``: forward and
  backward in train mode at batch :data:`TRAIN_STEP_BATCH`), and the
  reference model's under bfloat16 autocast and/or with its weights
  channels-last (``train-step-channels-last``), the two speed-ups of the
  CamVid CPU recipe, so that their ratios are measured side by side;
- every deploy model ``fused``
  (:func:`mmseg_affnet.deploy.prepare_for_inference`),
  and on CPU under onnxruntime in fp32 (``onnxruntime``) and static INT8
  (``onnxruntime-int8``: QDQ, per-channel weights; calibrated on random
  inputs, which sets the scales but not the speed);
- optionally every deploy model's graph under OpenVINO in fp32
  (``openvino``) and NNCF's static INT8 (``openvino-int8``, calibrated on
  the same random inputs), the optional ``openvino`` extra;
- optionally the reference model's fp32 graph under other onnxruntime
  session options (``ort:<option>`` rows, :data:`ORT_OPTION_VARIANTS`);
- on CPU, 2048^3 matmuls in fp32 (PyTorch) and, with INT8 rows, int8
  (onnxruntime): the multiply-add ceiling of each precision under the
  same load, so that every row's GMAC/s is read as a fraction of its own
  precision's (:func:`~mmseg_affnet.analysis.timing.matmul_calls`).

:func:`results_table`, :func:`write_results` and :func:`plot_latency` turn
the rows into a Markdown table, CSV/JSON files and a latency plot. The
calls themselves are built by :mod:`.benchmark_calls`.
"""
import importlib.metadata
import json
import os
import os.path as osp
import tempfile
from datetime import datetime
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import onnxruntime
from mmseg.utils import collect_env
from tqdm import tqdm

from ..engine.segmentor import init_segmentor
from ..utils.config import load_config
from ..utils.io import (atomic_write_bytes, atomic_write_text,
                        check_output_folder, refuse_existing)
from .complexity import FLOP_COUNTER, count_macs, inference_params
from .report import Panel, Point, csv_text, markdown_table, scatter_png
from .benchmark_calls import (INT8_CALIBRATION_INPUTS, MATMUL_SIZE, Size,
                              make_calls)
from .timing import (TimedCall, cuda_peak_memory_mib, machine,
                     time_interleaved, torch_settings)
from .zoo import REFERENCE

LATENCY_DEFINITION = ("model(inputs, mode='tensor') + bilinear upsampling of "
                      'the logits to the input size, batch 1, eval mode, no '
                      'preprocessing or post-processing')
CSV_FIELDS = ('model', 'variant', 'device', 'precision', 'input', 'params_m',
              'gmacs', 'latency_median_ms', 'latency_p90_ms', 'fps',
              'gmac_per_s', 'ceiling_fraction', 'peak_memory_mib',
              'latency_vs_affnet', 'macs_vs_affnet', 'config')


def result_paths(out_dir: str, name: str) -> Dict[str, str]:
    """Paths of the CSV, JSON and PNG results; refuse existing ones.

    Args:
        out_dir (str): Output folder.
        name (str): File stem.

    Returns:
        dict[str, str]: Extension -> path.

    Raises:
        FileExistsError: If any of them exists.
        NotADirectoryError: If ``out_dir`` or a parent is a file.
    """
    check_output_folder(out_dir, '--out-dir')
    paths = {ext: osp.join(out_dir, f'{name}.{ext}')
             for ext in ('csv', 'json', 'png')}
    refuse_existing(paths.values(),
                    'pass another --name or --out-dir, or move them away.')
    return paths


def make_rows(calls: Sequence[TimedCall], times: Sequence[Sequence[float]],
              memories: Sequence[Optional[float]], device: str, size: Size,
              params: Dict[str, int], macs: Dict[str, int],
              configs: Dict[str, str]) -> List[dict]:
    """One result row per call, with ratios to eager AFFNet and GMAC/s.

    Args:
        calls (Sequence[TimedCall]): The timed calls.
        times (Sequence[Sequence[float]]): Their seconds per timed call.
        memories (Sequence[float | None]): Peak CUDA memory per call (MiB).
        device (str): 'cpu' or 'cuda'.
        size (tuple[int, int]): Input height and width.
        params (dict[str, int]): Inference parameters per model.
        macs (dict[str, int]): Multiply-adds per model at ``size``.
        configs (dict[str, str]): Config per model.

    Returns:
        list[dict]: Rows with the keys of :data:`CSV_FIELDS`. A
        ``train-step*`` row is compared with the reference's fp32 training
        step and gets no GMAC/s (its ``gmacs`` is one image's forward pass);
        every other row is compared with the reference's eager row.
    """
    macs = dict(macs, matmul=MATMUL_SIZE**3)
    medians = [float(np.median(t)) * 1e3 for t in times]
    reference = {
        (c.variant, c.precision): median
        for c, median in zip(calls, medians)
        if c.model == REFERENCE and c.variant in ('eager', 'train-step')
    }
    ceilings = {c.precision: macs['matmul'] / median / 1e6
                for c, median in zip(calls, medians) if c.model == 'matmul'}
    rows = []
    for call, call_times, median, memory in zip(calls, times, medians,
                                                memories):
        training = call.variant.startswith('train-step')
        reference_ms = reference.get(
            ('train-step', 'fp32') if training else
            ('eager', call.precision) if ('eager', call.precision)
            in reference else ('eager', 'fp32'))
        gmac_per_s = None if training else macs[call.model] / median / 1e6
        rows.append(
            dict(
                model=call.model,
                variant=call.variant,
                device=device,
                precision=call.precision,
                input=f'{size[0]}x{size[1]}',
                params_m=params.get(call.model, 0) / 1e6,
                gmacs=macs[call.model] / 1e9,
                latency_median_ms=median,
                latency_p90_ms=float(np.percentile(call_times, 90)) * 1e3,
                fps=1e3 / median,
                gmac_per_s=gmac_per_s,
                ceiling_fraction=(gmac_per_s / ceilings[call.precision]
                                  if call.precision in ceilings
                                  and gmac_per_s else None),
                peak_memory_mib=memory,
                latency_vs_affnet=(median / reference_ms
                                   if reference_ms else None),
                macs_vs_affnet=(macs[call.model] / macs[REFERENCE]
                                if REFERENCE in macs else None),
                config=configs.get(call.model, 'torch.mm')))
    return rows


def run_benchmark(configs: Dict[str, str],
                  deploy_models: Sequence[str],
                  sizes: Sequence[Size],
                  devices: Sequence[str],
                  warmup: int,
                  iters: int,
                  threads: int,
                  opset: int = 18,
                  int8: bool = True,
                  ort_options: bool = False,
                  train_step: bool = False,
                  cfg_options: Optional[dict] = None,
                  openvino: bool = False) -> List[dict]:
    """Benchmark models; one interleaved timing per input size and device.

    Args:
        configs (dict[str, str]): Model name -> config (``mmseg::``
            allowed), e.g. from :func:`mmseg_affnet.analysis.select_models`.
        deploy_models (Sequence[str]): Models that also get fused and
            onnxruntime rows.
        sizes (Sequence[tuple[int, int]]): Input heights and widths.
        devices (Sequence[str]): 'cpu' and/or 'cuda'.
        warmup (int): Untimed rounds.
        iters (int): Timed rounds.
        threads (int): CPU threads of PyTorch and onnxruntime.
        opset (int): ONNX opset. Default: 18.
        int8 (bool): Add ``onnxruntime-int8`` rows. Default: True.
        ort_options (bool): Add the reference model's
            :data:`ORT_OPTION_VARIANTS` rows. Default: False.
        train_step (bool): Add every model's ``train-step`` row (forward
            and backward at batch :data:`TRAIN_STEP_BATCH`) and the
            reference's :data:`TRAIN_STEP_VARIANTS`. Default: False.
        cfg_options (dict, optional): Overrides merged into every model's
            config (mmseg's ``--cfg-options``). Default: None.
        openvino (bool): Add the deploy models' ``openvino`` and
            ``openvino-int8`` rows (the optional ``openvino`` extra).
            Default: False.

    Returns:
        list[dict]: One row per model, variant, size and device (keys of
        :data:`CSV_FIELDS`); each group is also printed as a table.
    """
    # Threads and cuDNN autotuning for the timing only; restored after.
    with torch_settings(threads, cudnn_benchmark=True):
        models = {name: init_segmentor(load_config(config, cfg_options))
                  for name, config in configs.items()}
        params = {name: inference_params(model)
                  for name, model in models.items()}
        rows: List[dict] = []
        for size in tqdm(sizes, desc='sizes', position=0):
            macs = {name: count_macs(model, size)
                    for name, model in models.items()}
            for device in devices:
                with tempfile.TemporaryDirectory() as tmp_dir:
                    calls = make_calls(models, deploy_models, size, device,
                                       threads, opset, tmp_dir, int8,
                                       ort_options, train_step, openvino)
                    with tqdm(total=len(calls) * (warmup + iters),
                              desc=f'{size[0]}x{size[1]} {device} calls',
                              position=1, leave=False) as progress:
                        times = time_interleaved(calls, warmup, iters,
                                                 progress)
                    memories = [
                        cuda_peak_memory_mib(c) if device == 'cuda' else None
                        for c in calls
                    ]
                group = make_rows(calls, times, memories, device, size,
                                  params, macs, configs)
                tqdm.write(results_table(group) + '\n')
                rows += group
        return rows


def _fmt(value: Optional[float], digits: int = 2) -> str:
    return 'n/a' if value is None else f'{value:.{digits}f}'


def results_table(rows: Sequence[dict]) -> str:
    """A Markdown table of rows (one input size and device).

    Args:
        rows (Sequence[dict]): Rows of :func:`make_rows`.

    Returns:
        str: The table.
    """
    return markdown_table(
        ['Model', 'Variant', 'Precision', 'Input', 'Params (M)', 'GMACs',
         'Median (ms)', 'p90 (ms)', 'FPS', 'GMAC/s', 'of ceiling',
         'Peak mem (MiB)', 'Latency / AFFNet', 'MACs / AFFNet'],
        ([row['model'], row['variant'], row['precision'], row['input'],
          f"{row['params_m']:.3f}", f"{row['gmacs']:.2f}",
          f"{row['latency_median_ms']:.1f}", f"{row['latency_p90_ms']:.1f}",
          f"{row['fps']:.1f}", _fmt(row['gmac_per_s'], 1),
          _fmt(row['ceiling_fraction']), _fmt(row['peak_memory_mib'], 1),
          _fmt(row['latency_vs_affnet']), _fmt(row['macs_vs_affnet'])]
         for row in rows),
        left=('Model', 'Variant', 'Precision', 'Input'))


def environment(settings: dict) -> dict:
    """What the numbers depend on: versions, hardware and settings.

    Args:
        settings (dict): The benchmark's arguments (threads, iters, ...).

    Returns:
        dict: Versions, CPU/GPU, load, definitions and ``settings``.
    """
    return dict(
        date=datetime.now().isoformat(timespec='seconds'),
        # mmseg's environment record; str() for its numpy seed (JSON)
        **{key: str(value) for key, value in collect_env().items()},
        onnxruntime=onnxruntime.__version__,
        **({'openvino_version': importlib.metadata.version('openvino'),
            'nncf_version': importlib.metadata.version('nncf')}
           if settings.get('openvino') else {}),
        **machine(),
        load_average_at_end=os.getloadavg(),
        flop_counter=FLOP_COUNTER,
        latency=LATENCY_DEFINITION,
        ceiling=f'{MATMUL_SIZE}x{MATMUL_SIZE} matmuls timed among the '
        'models, one per precision of the rows: torch.mm in fp32 (and bf16), '
        'onnxruntime MatMulInteger (uint8 x int8) for int8; a row is a '
        'fraction of its own precision\'s',
        int8=f'onnxruntime static QDQ, U8S8, per-channel weights, MinMax on '
        f'{INT8_CALIBRATION_INPUTS} random inputs (speed only); OpenVINO: '
        'NNCF performance preset on the same inputs, average pools and '
        'resizes in fp32',
        peak_memory='CUDA: max allocated during one call minus allocated '
        'before it; CPU: not measured (null)',
        weights='random (latency does not depend on them)',
        **settings)


def write_results(rows: Sequence[dict], env: dict,
                  paths: Dict[str, str]) -> None:
    """Write the rows as CSV and JSON (with ``env``) and plot them.

    Each file is written atomically and none is overwritten.

    Args:
        rows (Sequence[dict]): Rows of :func:`run_benchmark`.
        env (dict): :func:`environment`.
        paths (dict[str, str]): :func:`result_paths`.
    """
    atomic_write_text(paths['csv'], csv_text(
        CSV_FIELDS, ([row[k] for k in CSV_FIELDS] for row in rows)))
    atomic_write_text(paths['json'],
                      json.dumps(dict(environment=env, rows=list(rows)),
                                 indent=2))
    plot_latency(rows, paths['png'])


def plot_latency(rows: Sequence[dict], path: str) -> None:
    """Latency vs parameters, one labelled marker per model row, one panel
    per input size and device, all precisions together (the matmul row is
    left out).

    Args:
        rows (Sequence[dict]): Rows of :func:`run_benchmark`.
        path (str): PNG file to write; must not exist.
    """
    groups: Dict[Tuple[str, str], List[Point]] = {}
    for row in rows:
        if row['model'] == 'matmul':
            continue
        label = (row['model'] if row['variant'] == 'eager' else
                 f"{row['model']} ({row['variant']})")
        if row['precision'] in ('fp16', 'bf16'):
            label += f" {row['precision']}"
        groups.setdefault((row['input'], row['device']), []).append(
            Point(row['params_m'], row['latency_median_ms'], label))
    atomic_write_bytes(path, scatter_png([
        Panel(points, f'{size}, {device.upper()}, batch 1', 'parameters (M)',
              'median latency (ms)')
        for (size, device), points in groups.items()
    ]))
