"""Benchmark AFFNet against MMSegmentation's real-time segmentors.

Builds every model in one process (AFFNet from this repository's config, the
others from the configs shipped with mmseg, plus any ``--configs``) and
measures, for each input size and device:

- parameters used at inference (auxiliary heads excluded);
- FLOPs with ``mmengine.analysis.get_model_complexity_info``, which counts one
  multiply-add as one FLOP (so the column is GMACs);
- median and p90 latency and FPS at batch 1 after warm-up: the segmentor's
  ``model(inputs, mode='tensor')`` plus bilinear upsampling of the logits to
  the input size, in eval mode, without data preprocessing or
  post-processing. The runs of all models are interleaved (one call of each
  model in turn, ``--iters`` rounds), so load changes on a shared machine hit
  every model alike and the ratios stay comparable;
- peak CUDA memory of one forward (max allocated minus allocated before it:
  activations and workspace, weights excluded); n/a on CPU, where PyTorch
  keeps no allocator statistics.

Every ``--deploy-models`` model also gets a ``fused`` row (eval mode, Conv+BN
fusion, channels-last: ``mmseg_affnet.deploy.prepare_for_inference``) and an
``onnxruntime`` row (CPU only). Weights are random: latency does not depend on
them. SyncBN is converted to BN. Writes ``NAME.csv``, ``NAME.json`` and
``NAME.png`` (latency vs parameters) to ``--out-dir``.

Example:
    python tools/benchmark.py --sizes 512x1024 --iters 50 --threads 2
    python tools/benchmark.py --models AFFNet Fast-SCNN --configs my_cfg.py
"""
import argparse
import copy
import csv
import json
import logging
import os
import os.path as osp
import platform
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import mmseg
import numpy as np
import onnxruntime
import torch
import torch.nn as nn
from mmengine.analysis import get_model_complexity_info
from mmengine.logging import MMLogger
from torch import Tensor
from tqdm import tqdm

from mmseg_affnet.deploy import (LogitsAtInputSize, create_ort_session,
                                 export_onnx, load_segmentor,
                                 prepare_for_inference)

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
REFERENCE = 'AFFNet'
DEFAULT_DEPLOY_MODELS = (REFERENCE, 'Fast-SCNN')
MODEL_ZOO = {
    REFERENCE: osp.join(REPO_ROOT, 'configs', 'affnet_cityscapes.py'),
    'Fast-SCNN': 'mmseg::fastscnn/fast_scnn_8xb4-160k_cityscapes-512x1024.py',
    'BiSeNetV2':
    'mmseg::bisenetv2/bisenetv2_fcn_4xb4-160k_cityscapes-1024x1024.py',
    'STDC1': 'mmseg::stdc/stdc1_4xb12-80k_cityscapes-512x1024.py',
    'PIDNet-S': 'mmseg::pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py',
    'DDRNet-23-slim': 'mmseg::ddrnet/'
    'ddrnet_23-slim_in1k-pre_2xb6-120k_cityscapes-1024x1024.py',
    'CGNet': 'mmseg::cgnet/cgnet_fcn_4xb8-60k_cityscapes-512x1024.py',
    'ERFNet': 'mmseg::erfnet/erfnet_fcn_4xb4-160k_cityscapes-512x1024.py',
}
FLOP_COUNTER = ('mmengine.analysis.get_model_complexity_info '
                '(1 multiply-add = 1 FLOP; convolutions, matmuls, norms, '
                'bilinear upsampling and adaptive pooling counted; '
                'activations, element-wise ops and max-pooling not)')
LATENCY_DEFINITION = ("model(inputs, mode='tensor') + bilinear upsampling of "
                      'the logits to the input size, batch 1, eval mode, no '
                      'preprocessing or post-processing')
CSV_FIELDS = ('model', 'variant', 'device', 'precision', 'input', 'params_m',
              'gmacs', 'latency_median_ms', 'latency_p90_ms', 'fps',
              'peak_memory_mib', 'latency_vs_affnet', 'macs_vs_affnet',
              'config')


@dataclass
class Runner:
    """One timed way of running one model: a zero-argument callable."""
    model: str
    variant: str
    precision: str
    call: Callable[[], object]


def parse_size(text: str) -> Tuple[int, int]:
    """Parse ``HxW`` (e.g. ``512x1024``) into ``(H, W)``."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f'size {text!r} is not HxW, e.g. 512x1024') from None
    if height < 32 or width < 32:
        raise argparse.ArgumentTypeError(
            f'size {text!r} is too small: the models downsample 32 times; '
            f'use at least 32x32')
    return height, width


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Benchmark AFFNet and mmseg real-time segmentors.')
    parser.add_argument(
        '--models', nargs='*', default=list(MODEL_ZOO),
        help=f'models of the zoo to run (default: all): {list(MODEL_ZOO)}')
    parser.add_argument(
        '--configs', nargs='*', default=[],
        help='more config files (mmseg:: paths allowed), named by file stem')
    parser.add_argument(
        '--deploy-models', nargs='*', default=None,
        help='models that also get fused and onnxruntime rows (default: '
        'AFFNet and Fast-SCNN if benchmarked; none with an empty list)')
    parser.add_argument(
        '--sizes', nargs='+', type=parse_size,
        default=[(512, 512), (512, 1024), (1024, 2048)],
        help='input sizes HxW (default: 512x512 512x1024 1024x2048)')
    parser.add_argument('--warmup', type=int, default=10,
                        help='untimed calls per model first (default: 10)')
    parser.add_argument('--iters', type=int, default=50,
                        help='timed calls per model (default: 50)')
    parser.add_argument(
        '--device', choices=['all', 'cpu', 'cuda'], default='all',
        help='all: CPU, and CUDA when present (default: all)')
    parser.add_argument('--threads', type=int, default=2,
                        help='CPU threads of PyTorch and onnxruntime '
                        '(default: 2)')
    parser.add_argument('--opset', type=int, default=18,
                        help='ONNX opset of the onnxruntime rows')
    parser.add_argument('--out-dir', default='work_dirs/benchmark',
                        help='output folder (default: work_dirs/benchmark)')
    parser.add_argument('--name', default='benchmark',
                        help='stem of the result files (default: benchmark)')
    parser.add_argument('--force', action='store_true',
                        help='overwrite existing result files')
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.iters < 1 or args.threads < 1:
        parser.error('--warmup must be >= 0, --iters and --threads >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but PyTorch sees no CUDA device; use '
                     '--device cpu or a CUDA build of PyTorch')
    return args


def select_models(names: Sequence[str],
                  extra_configs: Sequence[str]) -> Dict[str, str]:
    """Map each model name to its config; unknown names raise an error.

    Args:
        names (Sequence[str]): Names of :data:`MODEL_ZOO` models.
        extra_configs (Sequence[str]): Config paths, named by file stem.

    Returns:
        dict[str, str]: Model name -> config path.
    """
    unknown = [name for name in names if name not in MODEL_ZOO]
    if unknown:
        raise ValueError(f'Unknown models {unknown}; choose from '
                         f'{list(MODEL_ZOO)} or add configs with --configs.')
    models = {name: MODEL_ZOO[name] for name in names}
    for config in extra_configs:
        name = osp.splitext(osp.basename(config))[0]
        if name in models:
            raise ValueError(f'Two models are named {name!r}; rename the '
                             f'config {config}.')
        models[name] = config
    return models


def select_deploy_models(names: Optional[Sequence[str]],
                         configs: Dict[str, str]) -> List[str]:
    """Models that get fused and onnxruntime rows.

    Args:
        names (Sequence[str], optional): ``--deploy-models``; None selects
            :data:`DEFAULT_DEPLOY_MODELS` that are benchmarked.
        configs (dict[str, str]): The benchmarked models.

    Returns:
        list[str]: Model names.
    """
    if names is None:
        return [name for name in DEFAULT_DEPLOY_MODELS if name in configs]
    missing = [name for name in names if name not in configs]
    if missing:
        raise ValueError(f'--deploy-models {missing} are not among the '
                         f'benchmarked models {list(configs)}.')
    return list(names)


def result_paths(out_dir: str, name: str, force: bool) -> Dict[str, str]:
    """Paths of the CSV, JSON and PNG results; refuse to overwrite.

    Args:
        out_dir (str): Output folder.
        name (str): File stem.
        force (bool): Allow overwriting existing files.

    Returns:
        dict[str, str]: Extension -> path.
    """
    paths = {ext: osp.join(out_dir, f'{name}.{ext}')
             for ext in ('csv', 'json', 'png')}
    existing = [path for path in paths.values() if osp.exists(path)]
    if existing and not force:
        raise FileExistsError(
            f'{existing} already exist; pass --force to overwrite them or '
            f'--name to write new files.')
    return paths


@contextmanager
def quiet():
    """Silence warnings, mmengine's log and torch.onnx's log inside."""
    loggers = [MMLogger.get_current_instance(), logging.getLogger('torch.onnx')]
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


def inference_params(model: nn.Module) -> int:
    """Parameters used by the tensor forward (auxiliary heads excluded)."""
    return sum(p.numel() for name, p in model.named_parameters()
               if not name.startswith('auxiliary_head'))


def count_macs(model: nn.Module, size: Tuple[int, int]) -> int:
    """mmengine's FLOP count (= multiply-adds) of the logits at ``size``."""
    inputs = torch.randn(1, 3, *size)
    with quiet():  # it warns about every operator it does not count
        info = get_model_complexity_info(
            LogitsAtInputSize(model), inputs=(inputs, ), show_table=False,
            show_arch=False)
    return info['flops']


def torch_runner(name: str, variant: str, module: nn.Module, inputs: Tensor,
                 precision: str) -> Runner:
    """Runner of a PyTorch module; fp16 means CUDA autocast."""
    cuda = inputs.is_cuda

    def call():
        autocast = (torch.autocast('cuda', dtype=torch.float16)
                    if precision == 'fp16' else nullcontext())
        with torch.inference_mode(), autocast:
            module(inputs)
        if cuda:
            torch.cuda.synchronize()

    return Runner(name, variant, precision, call)


def ort_runner(name: str, model: nn.Module, inputs: Tensor, threads: int,
               opset: int, tmp_dir: str) -> Runner:
    """Export ``model`` to ONNX at the size of ``inputs``; runner of it."""
    file = osp.join(tmp_dir, f'{name}_{inputs.shape[2]}x{inputs.shape[3]}'
                    '.onnx')
    with quiet():
        export_onnx(model, inputs, file, opset)
    session = create_ort_session(file, threads)
    feed = {'inputs': inputs.numpy()}
    return Runner(name, 'onnxruntime', 'fp32',
                  lambda: session.run(None, feed))


def make_runners(models: Dict[str, nn.Module], deploy_models: Sequence[str],
                 size: Tuple[int, int], device: str, threads: int,
                 opset: int, tmp_dir: str) -> List[Runner]:
    """All runners of one input size on one device.

    Args:
        models (dict[str, nn.Module]): Eager CPU models by name.
        deploy_models (Sequence[str]): Names that get fused and onnxruntime
            runners (onnxruntime on CPU only).
        size (tuple[int, int]): Input height and width.
        device (str): 'cpu' or 'cuda'.
        threads (int): onnxruntime intra-op threads.
        opset (int): ONNX opset.
        tmp_dir (str): Folder for the ONNX files.

    Returns:
        list[Runner]: Eager runners first, then fused and onnxruntime ones.
    """
    inputs = torch.randn(1, 3, *size)
    precisions = ['fp32', 'fp16'] if device == 'cuda' else ['fp32']
    eager, fused, ort = [], [], []
    for name, model in models.items():
        module = LogitsAtInputSize(copy.deepcopy(model)).to(device)
        eager += [torch_runner(name, 'eager', module, inputs.to(device), p)
                  for p in precisions]
        if name not in deploy_models:
            continue
        fused_module = LogitsAtInputSize(
            prepare_for_inference(copy.deepcopy(model).to(device)))
        fused_inputs = inputs.to(device).contiguous(
            memory_format=torch.channels_last)
        fused += [torch_runner(name, 'fused', fused_module, fused_inputs, p)
                  for p in precisions]
        if device == 'cpu':
            ort.append(ort_runner(name, model, inputs, threads, opset,
                                  tmp_dir))
    return eager + fused + ort


def time_interleaved(runners: Sequence[Runner], warmup: int, iters: int,
                     progress: tqdm) -> List[List[float]]:
    """Call each runner in turn, ``warmup`` untimed and ``iters`` timed rounds.

    Returns:
        list[list[float]]: Seconds of each timed call, per runner.
    """
    times = [[] for _ in runners]
    for round_index in range(warmup + iters):
        for runner, runner_times in zip(runners, times):
            start = time.perf_counter()
            runner.call()
            elapsed = time.perf_counter() - start
            if round_index >= warmup:
                runner_times.append(elapsed)
        progress.update(len(runners))
    return times


def cuda_peak_memory_mib(runner: Runner) -> float:
    """Peak CUDA memory of one call beyond what was allocated before, MiB."""
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    runner.call()
    return (torch.cuda.max_memory_allocated() - before) / 2**20


def make_rows(runners: Sequence[Runner], times: Sequence[Sequence[float]],
              memories: Sequence[Optional[float]], device: str,
              size: Tuple[int, int], params: Dict[str, int],
              macs: Dict[str, int], configs: Dict[str, str]) -> List[dict]:
    """One result row per runner, with ratios to eager AFFNet."""
    medians = [float(np.median(t)) * 1e3 for t in times]
    reference = {
        r.precision: median
        for r, median in zip(runners, medians)
        if r.model == REFERENCE and r.variant == 'eager'
    }
    rows = []
    for runner, runner_times, median, memory in zip(runners, times, medians,
                                                    memories):
        reference_ms = reference.get(runner.precision)
        rows.append(
            dict(
                model=runner.model,
                variant=runner.variant,
                device=device,
                precision=runner.precision,
                input=f'{size[0]}x{size[1]}',
                params_m=params[runner.model] / 1e6,
                gmacs=macs[runner.model] / 1e9,
                latency_median_ms=median,
                latency_p90_ms=float(np.percentile(runner_times, 90)) * 1e3,
                fps=1e3 / median,
                peak_memory_mib=memory,
                latency_vs_affnet=(median / reference_ms
                                   if reference_ms else None),
                macs_vs_affnet=(macs[runner.model] / macs[REFERENCE]
                                if REFERENCE in macs else None),
                config=configs[runner.model]))
    return rows


def fmt(value, digits: int = 2) -> str:
    """Format a number for the table; None reads n/a."""
    return 'n/a' if value is None else f'{value:.{digits}f}'


def markdown_table(rows: Sequence[dict], threads: int, warmup: int,
                   iters: int) -> str:
    """A markdown table of rows that share input size and device."""
    first = rows[0]
    threads_note = ''
    if first['device'] == 'cpu':
        wait_policy = os.environ.get('OMP_WAIT_POLICY', 'unset')
        threads_note = (f', {threads} CPU threads, OMP_WAIT_POLICY '
                        f'{wait_policy}')
    lines = [
        f"Input 1x3x{first['input']}, {first['device'].upper()}"
        f'{threads_note}, {warmup} warm-up + {iters} timed calls per model, '
        f'interleaved across models. Latency: {LATENCY_DEFINITION}. '
        f'GMACs: {FLOP_COUNTER}.', '',
        '| Model | Variant | Precision | Params (M) | GMACs | Median (ms) '
        '| p90 (ms) | FPS | Peak mem (MiB) | Latency / AFFNet '
        '| MACs / AFFNet |',
        '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|'
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['variant']} | {row['precision']} "
            f"| {row['params_m']:.3f} | {row['gmacs']:.2f} "
            f"| {row['latency_median_ms']:.1f} "
            f"| {row['latency_p90_ms']:.1f} | {row['fps']:.1f} "
            f"| {fmt(row['peak_memory_mib'], 1)} "
            f"| {fmt(row['latency_vs_affnet'])} "
            f"| {fmt(row['macs_vs_affnet'])} |")
    return '\n'.join(lines)


def write_csv(rows: Sequence[dict], path: str) -> None:
    """Write the rows; empty cells for n/a."""
    with open(path, 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {k: '' if row[k] is None else row[k] for k in CSV_FIELDS})


def environment(args: argparse.Namespace) -> dict:
    """What the numbers depend on: versions, hardware and settings."""
    return dict(
        command=' '.join([osp.basename(sys.argv[0])] + sys.argv[1:]),
        date=datetime.now().isoformat(timespec='seconds'),
        torch=torch.__version__,
        mmseg=mmseg.__version__,
        onnxruntime=onnxruntime.__version__,
        cpu=platform.processor() or platform.machine(),
        cuda_device=(torch.cuda.get_device_name()
                     if torch.cuda.is_available() else None),
        threads=args.threads,
        omp_wait_policy=os.environ.get('OMP_WAIT_POLICY'),
        load_average_at_end=os.getloadavg(),
        warmup=args.warmup,
        iters=args.iters,
        flop_counter=FLOP_COUNTER,
        latency=LATENCY_DEFINITION,
        peak_memory='CUDA: max allocated during one call minus allocated '
        'before it; CPU: not measured (null)',
        weights='random (latency does not depend on them)')


def plot(rows: Sequence[dict], path: str) -> None:
    """Latency vs parameters, one labelled marker per row, one panel per
    input size, device and precision."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    groups: Dict[Tuple[str, str, str], List[dict]] = {}
    for row in rows:
        key = (row['input'], row['device'], row['precision'])
        groups.setdefault(key, []).append(row)
    fig, axes = plt.subplots(
        1, len(groups), figsize=(6 * len(groups), 4.5), squeeze=False)
    for ax, ((size, device, precision), group) in zip(axes[0],
                                                       groups.items()):
        for row in group:
            label = (row['model'] if row['variant'] == 'eager' else
                     f"{row['model']} ({row['variant']})")
            ax.scatter(row['params_m'], row['latency_median_ms'])
            ax.annotate(label, (row['params_m'], row['latency_median_ms']),
                        textcoords='offset points', xytext=(4, 4),
                        fontsize=8)
        ax.set_title(f'{size}, {device.upper()}, {precision}, batch 1')
        ax.set_xlabel('parameters (M)')
        ax.set_ylabel('median latency (ms)')
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def devices(choice: str) -> List[str]:
    """Devices to run on for ``--device``."""
    if choice == 'all':
        return ['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu']
    return [choice]


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    configs = select_models(args.models, args.configs)
    deploy_models = select_deploy_models(args.deploy_models, configs)
    paths = result_paths(args.out_dir, args.name, args.force)
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True

    models = {name: load_segmentor(config) for name, config in configs.items()}
    params = {name: inference_params(model) for name, model in models.items()}
    rows: List[dict] = []
    for size in tqdm(args.sizes, desc='sizes', position=0):
        macs = {name: count_macs(model, size) for name, model in models.items()}
        for device in devices(args.device):
            with tempfile.TemporaryDirectory() as tmp_dir:
                runners = make_runners(models, deploy_models, size,
                                       device, args.threads, args.opset,
                                       tmp_dir)
                with tqdm(total=len(runners) * (args.warmup + args.iters),
                          desc=f'{size[0]}x{size[1]} {device} calls',
                          position=1, leave=False) as progress:
                    times = time_interleaved(runners, args.warmup,
                                             args.iters, progress)
                memories = [
                    cuda_peak_memory_mib(r) if device == 'cuda' else None
                    for r in runners
                ]
            group = make_rows(runners, times, memories, device, size, params,
                              macs, configs)
            tqdm.write(markdown_table(group, args.threads, args.warmup,
                                      args.iters) + '\n')
            rows += group

    os.makedirs(args.out_dir, exist_ok=True)
    write_csv(rows, paths['csv'])
    with open(paths['json'], 'w') as f:
        json.dump(dict(environment=environment(args), rows=rows), f, indent=2)
    plot(rows, paths['png'])
    print(f"Wrote {paths['csv']}, {paths['json']} and {paths['png']}.")


if __name__ == '__main__':
    main()
