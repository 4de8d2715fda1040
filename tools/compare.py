"""Train AFFNet and real-time peers with one recipe; compare them.

Every model is trained with the recipe's data, pipelines, optimizer and
schedule (only the model dict differs, from the model's own config without
pretrained weights), its BN statistics recomputed before evaluation, then
scored on val, counted and timed (see :mod:`mmseg_affnet.apis.compare`).

Outputs under ``--work-dir``: ``<model>/`` (config, checkpoints, log,
``result.json``) and ``comparison.md`` / ``.csv`` / ``.png``. A rerun skips
the models with a ``result.json`` and resumes an interrupted training.

Examples:
    # all models on the synthetic demo data (CPU)
    python tools/compare.py
    # two models, shorter
    python tools/compare.py --models AFFNet Fast-SCNN \
        --work-dir work_dirs/compare_two --cfg-options train_cfg.max_epochs=2
    # CamVid, the short CPU recipe (one seed)
    python tools/compare.py --dataset camvid --data-root ../shared/data/camvid
    # Cityscapes, the paper's fine-only recipe, 4 GPUs
    bash tools/torchrun_local.sh 4 compare.py --dataset cityscapes \
        --launcher pytorch --cfg-options train_dataloader.batch_size=3
"""
import argparse
from typing import Optional, Sequence

from mmseg_affnet.apis.compare import (COMPARISON_MODELS, DEFAULT_DATA_ROOTS,
                                       RECIPES, run_comparison)
from mmseg_affnet.engine.cli import (add_cfg_options_argument,
                                     add_launcher_argument)
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train AFFNet and real-time segmentors with one recipe; '
        'compare val mIoU, parameters, GMACs, CPU latency and training '
        'time.')
    parser.add_argument(
        '--models', nargs='+', default=list(COMPARISON_MODELS),
        choices=list(COMPARISON_MODELS), metavar='MODEL',
        help=f'models to compare (default: all): {list(COMPARISON_MODELS)}')
    parser.add_argument(
        '--dataset', choices=list(RECIPES), default='demo',
        help='demo: synthetic data (generated if absent), configs/'
        'affnet_demo.py; cityscapes: the fine-only recipe, configs/'
        'affnet_fine-only_cityscapes.py; camvid: the short CamVid CPU '
        'recipe, configs/camvid/affnet_camvid_cpu_short.py (default: demo)')
    parser.add_argument(
        '--data-root', help='dataset folder (default: ' +
        ', '.join(f'{root} ({dataset})'
                  for dataset, root in DEFAULT_DATA_ROOTS.items()) + ')')
    parser.add_argument(
        '--work-dir', help='one sub-folder per model and the comparison '
        'files (default: work_dirs/compare_<dataset>)')
    parser.add_argument('--seed', type=int, default=0,
                        help='seed of the demo data and of every training')
    parser.add_argument(
        '--precise-bn-samples', type=int, default=200,
        help='training images the BN statistics are averaged over before '
        'each evaluation (default: 200)')
    parser.add_argument('--threads', type=int, default=2,
                        help='CPU threads of the latency (default: 2)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed latency calls per model (default: 5)')
    parser.add_argument('--iters', type=int, default=20,
                        help='timed latency calls per model (default: 20)')
    add_launcher_argument(
        parser, 'pytorch: started by torchrun (tools/torchrun_local.sh), '
        'every training runs distributed')
    add_cfg_options_argument(
        parser, 'override settings of the recipe (every model), as in '
        "mmseg's tools, e.g. train_cfg.max_epochs=2")
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.precise_bn_samples < 1 or args.threads < 1 or args.iters < 1 \
            or args.warmup < 0:
        parser.error('--precise-bn-samples, --threads and --iters must be '
                     '>= 1, --warmup >= 0')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        rows, paths = run_comparison(
            args.models,
            args.work_dir or f'work_dirs/compare_{args.dataset}',
            dataset=args.dataset,
            data_root=args.data_root,
            seed=args.seed,
            launcher=args.launcher,
            cfg_options=args.cfg_options,
            precise_bn_samples=args.precise_bn_samples,
            threads=args.threads,
            warmup=args.warmup,
            iters=args.iters)
    if paths:
        with open(paths['md']) as file:
            print('\n' + file.read())
        print(f"Wrote {paths['md']}, {paths['csv']} and {paths['png']}.")


if __name__ == '__main__':
    main()
