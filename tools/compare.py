"""Train AFFNet and real-time peers with one recipe; compare them.

Only the model differs (its own config, no pretrained weights); BN
statistics are recomputed before scoring on val; then every model is
counted and timed (:mod:`mmseg_affnet.research.comparison`). ``--work-dir``
gets ``<model>/`` (config, checkpoints, log); ``--results-dir`` (default:
the work dir) ``<model>/result.json``, ``latency.json`` and
``comparison.{md,csv,png}``. A rerun skips finished models and resumes an
interrupted training; ``--summary-only`` summarises the results dir alone.

Examples:
    # all models on the synthetic demo data (CPU)
    python tools/compare.py
    # CamVid, the short CPU recipe (one seed), results kept in the repository
    python tools/compare.py --dataset camvid --data-root ../shared/data/camvid \
        --results-dir results/camvid/compare
    # regenerate its summary and the docs page's table from the results only
    python tools/compare.py --dataset camvid --results-dir \
        results/camvid/compare --summary-only \
        --readme docs/reproduction/comparison.md
    # Cityscapes, the paper's fine-only recipe, 4 GPUs
    bash tools/torchrun_local.sh 4 compare.py --dataset cityscapes \
        --launcher pytorch --cfg-options train_dataloader.batch_size=3
"""
import argparse
from typing import Optional, Sequence

from mmseg_affnet.utils.cli import (add_cfg_options_argument,
                                     add_launcher_argument)
from mmseg_affnet.research.campaign import (add_executor_arguments,
                                            executor_from_args)
from mmseg_affnet.research.comparison import (
    COMPARISON_MODELS, DEFAULT_DATA_ROOTS, RECIPES, run_comparison)
from mmseg_affnet.research.result_store import publish_summary
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
        '--work-dir', help='one sub-folder per model: config, checkpoints, '
        'logs (default: work_dirs/compare_<dataset>)')
    parser.add_argument(
        '--results-dir', help='<model>/result.json, latency.json and the '
        'summary (default: the work dir)')
    parser.add_argument(
        '--summary-only', action='store_true',
        help='train and time nothing: summarise the results in '
        '--results-dir')
    parser.add_argument(
        '--readme', help='also write the summary into this Markdown file, '
        'between its lines "<!-- BEGIN/END compare-<dataset> -->"')
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
    add_executor_arguments(parser)
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
        _, paths = run_comparison(
            args.models, args.work_dir or f'work_dirs/compare_{args.dataset}',
            dataset=args.dataset, data_root=args.data_root, seed=args.seed,
            launcher=args.launcher, cfg_options=args.cfg_options,
            precise_bn_samples=args.precise_bn_samples,
            threads=args.threads, warmup=args.warmup, iters=args.iters,
            results_dir=args.results_dir, train=not args.summary_only,
            executor=executor_from_args(args))
        report = publish_summary(paths, args.readme,
                                 f'compare-{args.dataset}',
                                 'Val mIoU against CPU latency')
    if report:
        print(report)


if __name__ == '__main__':
    main()
