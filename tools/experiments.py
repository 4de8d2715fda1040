"""Run the paper's experiments as a suite of variants x seeds; judge its
claims.

Every variant (an ablation or loss config of the paper) is trained on one
recipe (default: the short CamVid CPU recipe), everything but the varied
part identical, once per seed; see
:mod:`mmseg_affnet.research.experiment_suite`.

Outputs: ``--results-dir`` (default ``results/camvid/<suite>``) holds
``suite.json``, one ``<variant>/seed<k>/result.json`` per finished run and
``summary.{md,csv,png}`` (verdict per claim, mean ± std per variant);
``--work-dir`` holds the runs' configs, checkpoints and logs. A rerun skips
finished runs and resumes an interrupted one.

Examples:
    # the paper suite, 3 seeds, on CamVid (about 4 h on a 2-core CPU)
    python tools/experiments.py --data-root ../shared/data/camvid
    # regenerate the summary and the docs page's tables from the results only
    python tools/experiments.py --summary-only \
        --readme docs/reproduction/experiment_suite.md
    # 4 GPUs, every run distributed
    bash tools/torchrun_local.sh 4 experiments.py --launcher pytorch \
        --data-root data/camvid
"""
import argparse
from typing import Optional, Sequence

from mmseg_affnet.utils.cli import (add_cfg_options_argument,
                                     add_launcher_argument)
from mmseg_affnet.research.campaign import (add_executor_arguments,
                                            executor_from_args)
from mmseg_affnet.research.experiment_suite import run_experiments
from mmseg_affnet.research.result_store import publish_summary
from mmseg_affnet.research.suites import SUITES, VARIANTS
from mmseg_affnet.utils import add_debug_argument, reported_errors


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Train the variants of an experiment suite on one '
        'recipe over several seeds; summarise mean ± std and a verdict per '
        'claim of the paper.')
    parser.add_argument('--suite', choices=list(SUITES), default='paper',
                        help='paper: the 8 variants of Tables I, II and VII; '
                        'paper-taps: plus the caption\'s taps 3-6 '
                        '(default: paper)')
    parser.add_argument(
        '--variants', nargs='+', choices=list(VARIANTS), metavar='VARIANT',
        help='only these variants of the suite (the reference AFFNet is '
        f'always run): {list(VARIANTS)}')
    parser.add_argument('--seeds', type=int, default=3,
                        help='seeds 0..N-1 of every variant (default: 3)')
    parser.add_argument(
        '--recipe', help='recipe config every variant is trained with '
        '(default: configs/camvid/affnet_camvid_cpu_short.py)')
    parser.add_argument('--data-root',
                        help="dataset folder (default: the recipe's)")
    parser.add_argument(
        '--work-dir', help='configs, checkpoints and logs of the runs '
        '(default: work_dirs/experiments_<suite>)')
    parser.add_argument(
        '--results-dir', help='suite.json, result.json files and summary '
        '(default: results/camvid/<suite>)')
    parser.add_argument(
        '--summary-only', action='store_true',
        help='train nothing: summarise the results in --results-dir')
    parser.add_argument(
        '--readme', help='also write the summary between the lines '
        '"<!-- BEGIN experiments-<suite> -->" and "<!-- END '
        'experiments-<suite> -->" of this Markdown file')
    add_launcher_argument(
        parser, 'pytorch: started by torchrun (tools/torchrun_local.sh), '
        'every run distributed')
    add_cfg_options_argument(
        parser, 'override settings of the recipe (every run), as in '
        "mmseg's tools, e.g. train_cfg.max_epochs=2")
    add_executor_arguments(parser)
    add_debug_argument(parser)
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error('--seeds must be >= 1')
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        paths = run_experiments(
            args.suite,
            args.variants,
            args.seeds,
            recipe=args.recipe,
            data_root=args.data_root,
            work_dir=args.work_dir or f'work_dirs/experiments_{args.suite}',
            results_dir=args.results_dir or f'results/camvid/{args.suite}',
            launcher=args.launcher,
            cfg_options=args.cfg_options,
            train=not args.summary_only,
            executor=executor_from_args(args))
        report = publish_summary(paths, args.readme,
                                 f'experiments-{args.suite}',
                                 'Claims, mean ± std over seeds')
    if report:
        print(report)


if __name__ == '__main__':
    main()
