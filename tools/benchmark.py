"""Benchmark AFFNet against MMSegmentation's real-time segmentors.

Parameters, multiply-adds, and median/p90 latency at batch 1 of every model
(eager; fused, onnxruntime fp32 and INT8 for ``--deploy-models``; a matmul
ceiling on CPU), timed interleaved. See :mod:`mmseg_affnet.analysis.benchmark`
for what each row means. Writes ``NAME.csv``, ``NAME.json`` and
``NAME.png`` to ``--out-dir``; existing files are refused.

Example:
    python tools/benchmark.py --sizes 512x1024 --iters 20 --warmup 5
    python tools/benchmark.py --models AFFNet Fast-SCNN --configs my_cfg.py
"""
import argparse
from typing import Optional, Sequence

import torch
from mmengine.logging import print_log

from mmseg_affnet.analysis import (MODEL_ZOO, environment, parse_size,
                                   result_paths, run_benchmark,
                                   select_deploy_models, select_models,
                                   write_results)
from mmseg_affnet.utils.cli import add_cfg_options_argument
from mmseg_affnet.utils import add_debug_argument, reported_errors


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
        help='models that also get fused and onnxruntime fp32/INT8 rows '
        '(default: AFFNet and Fast-SCNN if benchmarked; none with an empty '
        'list)')
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
    parser.add_argument('--no-int8', action='store_true',
                        help='leave out the onnxruntime-int8 rows')
    parser.add_argument(
        '--openvino', action='store_true',
        help='add OpenVINO fp32 and NNCF INT8 rows of the deploy models '
        "(the optional extra: pip install -e '.[openvino]')")
    parser.add_argument(
        '--ort-options', action='store_true',
        help="add rows of AFFNet's fp32 graph under other onnxruntime "
        'session options (optimisation levels, spinning, parallel '
        'execution, memory pattern, threads)')
    parser.add_argument(
        '--train-step', action='store_true',
        help='add a training-step row (forward + backward, train mode, '
        "batch 2) of every model, and AFFNet's in bfloat16 and/or with "
        'channels-last weights')
    parser.add_argument('--out-dir', default='work_dirs/benchmark',
                        help='output folder (default: work_dirs/benchmark)')
    parser.add_argument('--name', default='benchmark',
                        help='stem of the result files (default: benchmark)')
    add_cfg_options_argument(
        parser, "override settings of every model's config, as in mmseg's "
        'tools, e.g. model.decode_head.num_classes=11')
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.iters < 1 or args.threads < 1:
        parser.error('--warmup must be >= 0, --iters and --threads >= 1')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but PyTorch sees no CUDA device; use '
                     '--device cpu or a CUDA build of PyTorch')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.device == 'all':
        devices = ['cpu', 'cuda'] if torch.cuda.is_available() else ['cpu']
    else:
        devices = [args.device]
    with reported_errors(args.debug):
        configs = select_models(args.models, args.configs)
        deploy_models = select_deploy_models(args.deploy_models, configs)
        paths = result_paths(args.out_dir, args.name)
        rows = run_benchmark(configs, deploy_models, args.sizes, devices,
                             args.warmup, args.iters, args.threads,
                             args.opset, not args.no_int8, args.ort_options,
                             args.train_step, args.cfg_options,
                             args.openvino)
        write_results(rows, environment(vars(args)), paths)
    print_log(f"Wrote {paths['csv']}, {paths['json']} and {paths['png']}.")


if __name__ == '__main__':
    main()
