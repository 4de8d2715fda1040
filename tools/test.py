"""Test (and evaluate) a segmentor with a checkpoint, loaded strictly.

Example:
    python tools/test.py configs/affnet_cityscapes.py \\
        work_dirs/affnet_cityscapes/epoch_150.pth
"""
import argparse

from mmseg_affnet.apis.test import run_test
from mmseg_affnet.utils.cli import add_runner_arguments, config_from_args
from mmseg_affnet.utils import reported_errors


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='a new dir to save predicted label maps (PNG) in')
    parser.add_argument(
        '--show-dir',
        help='a new dir to save every test image painted with its prediction')
    parser.add_argument(
        '--tta', action='store_true',
        help="test-time augmentation with the config's tta_pipeline and "
        'tta_model, as in mmseg (e.g. CamVid CPU config: flip)')
    add_runner_arguments(parser)
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    with reported_errors(args.debug):
        cfg = config_from_args(args)
        run_test(cfg, args.checkpoint, args.out, args.show_dir, args.tta)


if __name__ == '__main__':
    main()
