"""Test (and evaluate) a segmentor with mmengine's Runner and the plugin.

Example:
    python tools/test.py configs/affnet_cityscapes.py \\
        work_dirs/affnet_cityscapes/epoch_150.pth
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner
from mmseg.registry import RUNNERS

import mmseg_affnet  # noqa: F401  (registers AFFNetRunner, metrics, ...)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Test a segmentor')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir', help='the dir to save logs and evaluation results')
    parser.add_argument(
        '--out', help='the dir to save predicted label maps (PNG) in')
    parser.add_argument(
        '--show-dir',
        help='the dir to save every test image painted with its prediction')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. key=value or key="[a,b]"')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch'],
        default='none',
        help='job launcher (pytorch: started by torchrun)')
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Read the config and apply the command line to it."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
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
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg \
        else Runner.from_cfg(cfg)
    runner.test()


if __name__ == '__main__':
    main()
