"""Train a segmentor with mmengine's Runner and the AFFNet plugin.

Example:
    python tools/train.py configs/affnet_cityscapes.py --work-dir work_dirs/x
    python tools/train.py configs/affnet_cityscapes.py --resume
"""
import argparse
import logging
import os.path as osp

from mmengine.config import Config
from mmengine.logging import print_log

import mmseg_affnet  # noqa: F401  (registers AFFNetRunner, hooks, ...)
from mmseg_affnet.engine import check_work_dir
from mmseg_affnet.engine.cli import (add_runner_arguments, build_runner,
                                     load_config)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a segmentor')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume',
        action='store_true',
        help='continue the training from the last checkpoint in the work '
        'dir (or, with --cfg-options load_from=CKPT, from CKPT)')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='enable automatic-mixed-precision training')
    add_runner_arguments(parser)
    return parser.parse_args(argv)


def build_config(args: argparse.Namespace) -> Config:
    """Read the config and apply the command line to it."""
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    set_resume(cfg, args)
    return cfg


def set_resume(cfg: Config, args: argparse.Namespace) -> None:
    """Decide what ``--resume`` resumes.

    mmengine resumes from ``load_from`` whenever it is set. A ``load_from``
    written in the config file (stage 2's stage-1 weights) only initialises
    a new training, so ``--resume`` continues from the work dir's last
    checkpoint instead, or starts the training if there is none yet. Only a
    ``load_from`` given with ``--cfg-options`` is resumed from.
    """
    cfg.resume = args.resume
    named_on_command_line = 'load_from' in (args.cfg_options or {})
    if not args.resume or named_on_command_line or not cfg.get('load_from'):
        return
    if osp.exists(osp.join(cfg.work_dir, 'last_checkpoint')):
        print_log(
            f'--resume continues from the last checkpoint in {cfg.work_dir}; '
            f'load_from ({cfg.load_from}) only initialises new trainings.',
            logger='current')
        cfg.load_from = None
    else:
        print_log(
            f'--resume: no checkpoint in {cfg.work_dir} yet, so a new '
            f'training starts from load_from ({cfg.load_from}).',
            logger='current')
        cfg.resume = False


def enable_amp(cfg: Config) -> None:
    """Switch the config's OptimWrapper to AmpOptimWrapper."""
    wrapper_type = cfg.optim_wrapper.type
    if wrapper_type == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
        return
    if wrapper_type != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, but '
                         f'the config has {wrapper_type}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main(argv=None) -> None:
    args = parse_args(argv)
    cfg = build_config(args)
    if not (cfg.resume and cfg.get('load_from')):
        check_work_dir(cfg.work_dir, cfg.resume)
    build_runner(cfg).train()


if __name__ == '__main__':
    main()
