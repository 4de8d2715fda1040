"""Test (and evaluate) a segmentor with mmengine's Runner and the plugin.

Example:
    python tools/test.py configs/affnet_cityscapes.py \\
        work_dirs/affnet_cityscapes/epoch_150.pth
"""
import argparse

from mmengine.config import Config

import mmseg_affnet  # noqa: F401  (registers AFFNetRunner, metrics, ...)
from mmseg_affnet.engine.cli import (add_runner_arguments, build_runner,
                                     load_config)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--out', help='the dir to save predicted label maps (PNG) in')
    parser.add_argument(
        '--show-dir',
        help='the dir to save every test image painted with its prediction')
    add_runner_arguments(parser)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Read the config and apply the command line to it."""
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        if 'visualization' not in cfg.default_hooks:
            raise ValueError('--show-dir needs default_hooks.visualization '
                             "(dict(type='SegVisualizationHook')).")
        cfg.default_hooks.visualization.draw = True
        cfg.default_hooks.visualization.interval = 1  # every image
        cfg.visualizer.save_dir = args.show_dir
    if args.out is not None:
        cfg.test_evaluator.output_dir = args.out
        cfg.test_evaluator.keep_results = True
    return cfg


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = build_config(args)
    build_runner(cfg).test()


if __name__ == '__main__':
    main()
