"""Train AFFNet and mmseg real-time models on the demo dataset; compare them.

Every model is trained by ``tools/demo.py``'s flow with the data, pipelines,
optimizer and schedule of the demo config (``configs/affnet_demo.py``); for
the other models only ``model`` is replaced by the one of their mmseg config
(keeping the demo's data preprocessor, without pretrained weights). Then one
table gives, per model, the val mIoU next to the inference parameters, the
GMACs and the median CPU latency at the demo image size (measured
interleaved, as in ``tools/benchmark.py``).

Outputs under ``--work-dir``: one folder per model (its config, checkpoint
and log) and ``compare_demo.md`` / ``compare_demo.csv``. Nothing is
overwritten: a work dir holding checkpoints or results is refused.

Example:
    python tools/compare_demo.py --work-dir work_dirs/compare_demo
    python tools/compare_demo.py --others Fast-SCNN ERFNet \
        --cfg-options train_cfg.max_epochs=2 train_cfg.val_interval=2
"""
import argparse
import copy
import csv
import os
import os.path as osp
import sys
from argparse import Namespace
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config, DictAction
from tqdm import tqdm

from mmseg_affnet.deploy import (LogitsAtInputSize, load_segmentor,
                                 resolve_config_path)
from mmseg_affnet.engine import check_work_dir

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from benchmark import (MODEL_ZOO, REFERENCE, count_macs,  # noqa: E402
                       inference_params, time_interleaved, torch_runner)
from demo import DEMO_CONFIG, run_demo  # noqa: E402
from make_demo_dataset import generate_demo_dataset  # noqa: E402

RESULT_NAME = 'compare_demo'
# mmseg 1.2.2's CrossEntropyLoss with a class_weight fails on ignored pixels
# (IndexError in cross_entropy), and the configs of CGNet and PIDNet-S set one.
UNTRAINABLE = ('CGNet', 'PIDNet-S')
CSV_FIELDS = ('model', 'config', 'val_miou', 'params_m', 'gmacs',
              'latency_median_ms', 'train_seconds', 'checkpoint')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    others = [
        name for name in MODEL_ZOO
        if name != REFERENCE and name not in UNTRAINABLE
    ]
    parser = argparse.ArgumentParser(
        description='Train AFFNet and mmseg models on the demo dataset with '
        'one schedule; compare mIoU, parameters and latency.')
    parser.add_argument('--config', default=DEMO_CONFIG,
                        help='demo config (default: configs/affnet_demo.py)')
    parser.add_argument(
        '--others', nargs='+', default=['Fast-SCNN', 'ERFNet'],
        choices=others, help='mmseg models trained beside AFFNet '
        f'(default: Fast-SCNN ERFNet; {UNTRAINABLE} fail in mmseg 1.2.2 '
        'on ignored pixels)')
    parser.add_argument('--work-dir', default='work_dirs/compare_demo',
                        help='one sub-folder per model, and the results')
    parser.add_argument('--data-root', default='data/demo_cityscapes',
                        help='demo dataset folder (generated if absent)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the dataset and of every training')
    parser.add_argument('--threads', type=int, default=2,
                        help='CPU threads for the latency (default: 2)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed calls per model (default: 5)')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed calls per model (default: 20)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, default={},
        help='overrides for every model, e.g. train_cfg.max_epochs=1 '
        'train_cfg.val_interval=1 demo_dataset.num_train=8')
    return parser.parse_args(argv)


def model_config(demo_cfg: Config, zoo_config: Optional[str]) -> Config:
    """The demo config, with the model of ``zoo_config`` if given.

    Args:
        demo_cfg (Config): The demo config.
        zoo_config (str, optional): Config whose ``model`` replaces the
            demo's; None keeps AFFNet.

    Returns:
        Config: A copy of the demo config.
    """
    cfg = copy.deepcopy(demo_cfg)
    if zoo_config is None:
        return cfg
    model = Config.fromfile(resolve_config_path(zoo_config)).model
    model.data_preprocessor = cfg.model.data_preprocessor
    model.backbone.init_cfg = None  # no pretrained download
    cfg.model = model
    return cfg


def check_outputs_are_new(work_dir: str, names: Sequence[str]) -> Dict[str,
                                                                       str]:
    """Refuse work dirs with checkpoints or results; return result paths."""
    for name in names:
        check_work_dir(osp.join(work_dir, name), resume=False)
    paths = {ext: osp.join(work_dir, f'{RESULT_NAME}.{ext}')
             for ext in ('md', 'csv')}
    existing = [path for path in paths.values() if osp.exists(path)]
    if existing:
        raise FileExistsError(f'{existing} already exist; choose another '
                              f'--work-dir.')
    return paths


def train(name: str, cfg: Config, args: argparse.Namespace) -> dict:
    """Write ``cfg`` into the model's work dir and train it as the demo does.

    Returns:
        dict: ``config`` (path), ``mIoU``, ``checkpoint``, ``seconds``.
    """
    work_dir = osp.join(args.work_dir, name)
    os.makedirs(work_dir, exist_ok=True)
    config = osp.join(work_dir, f'{name}_demo.py')
    cfg.dump(config)
    result = run_demo(
        Namespace(config=config, work_dir=work_dir, data_root=args.data_root,
                  seed=args.seed, num_overlays=0, cfg_options=None))
    return dict(result, config=config)


def measure_latency(trained: Dict[str, dict], size: Sequence[int],
                    args: argparse.Namespace) -> Dict[str, dict]:
    """Parameters, GMACs and median CPU latency of each trained model."""
    models = {
        name: load_segmentor(result['config'], result['checkpoint'])
        for name, result in trained.items()
    }
    inputs = torch.randn(1, 3, *size)
    runners = [
        torch_runner(name, 'eager', LogitsAtInputSize(model), inputs, 'fp32')
        for name, model in models.items()
    ]
    with tqdm(total=len(runners) * (args.warmup + args.iters),
              desc='latency calls') as progress:
        times = time_interleaved(runners, args.warmup, args.iters, progress)
    return {
        name: dict(
            params_m=inference_params(model) / 1e6,
            gmacs=count_macs(model, size) / 1e9,
            latency_median_ms=float(np.median(t)) * 1e3)
        for (name, model), t in zip(models.items(), times)
    }


def make_rows(trained: Dict[str, dict],
              costs: Dict[str, dict]) -> List[dict]:
    """One result row per model: training results next to its costs."""
    return [
        dict(model=name, config=result['config'], val_miou=result['mIoU'],
             train_seconds=result['seconds'],
             checkpoint=result['checkpoint'], **costs[name])
        for name, result in trained.items()
    ]


def markdown_table(rows: Sequence[dict], size: Sequence[int],
                   args: argparse.Namespace) -> str:
    """The comparison as a markdown table with its settings above it."""
    lines = [
        f'Demo dataset, one schedule for all ({osp.basename(args.config)}, '
        f'seed {args.seed}). Latency: CPU, {args.threads} threads, batch 1, '
        f'1x3x{size[0]}x{size[1]}, logits at input size, median of '
        f'{args.iters} interleaved calls. GMACs: mmengine '
        f'get_model_complexity_info (1 multiply-add = 1 FLOP).', '',
        '| Model | val mIoU (%) | Params (M) | GMACs | Latency (ms) '
        '| Train + val wall time (s) |', '|---|---:|---:|---:|---:|---:|'
    ]
    lines += [
        f"| {r['model']} | {r['val_miou']:.2f} | {r['params_m']:.3f} "
        f"| {r['gmacs']:.3f} | {r['latency_median_ms']:.1f} "
        f"| {r['train_seconds']:.0f} |" for r in rows
    ]
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    names = [REFERENCE, *args.others]
    try:
        paths = check_outputs_are_new(args.work_dir, names)
    except FileExistsError as err:
        raise SystemExit(f'error: {err}')
    torch.set_num_threads(args.threads)
    demo_cfg = Config.fromfile(args.config)
    demo_cfg.merge_from_dict(args.cfg_options)
    # Generated before the first training, so that no wall time includes it.
    generate_demo_dataset(args.data_root, seed=args.seed,
                          **demo_cfg.demo_dataset)
    configs = {REFERENCE: None, **{n: MODEL_ZOO[n] for n in args.others}}
    trained = {
        name: train(name, model_config(demo_cfg, config), args)
        for name, config in tqdm(configs.items(), desc='training')
    }
    size = demo_cfg.demo_dataset['size']
    rows = make_rows(trained, measure_latency(trained, size, args))
    table = markdown_table(rows, size, args)
    print('\n' + table)
    with open(paths['md'], 'w') as f:
        f.write(table + '\n')
    with open(paths['csv'], 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows({k: row[k] for k in CSV_FIELDS} for row in rows)
    print(f"Wrote {paths['md']} and {paths['csv']}.")


if __name__ == '__main__':
    main()
