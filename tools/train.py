"""Train a segmentor (mmseg's tools/train.py, with the plugin's checks).

Example:
    python tools/train.py configs/affnet_cityscapes.py --work-dir work_dirs/x
    python tools/train.py configs/affnet_cityscapes.py --resume
"""
import argparse

from mmengine.config import Config

from mmseg_affnet.apis.train import run_training
from mmseg_affnet.utils.cli import add_runner_arguments, config_from_args
from mmseg_affnet.utils import reported_errors


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


def enable_amp(cfg: Config) -> None:
    """Switch the config's OptimWrapper to AmpOptimWrapper."""
    wrapper_type = cfg.optim_wrapper.type
    if wrapper_type != 'OptimWrapper':
        raise ValueError(f'--amp needs optim_wrapper.type OptimWrapper, but '
                         f'the config has {wrapper_type}.')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def main(argv=None) -> None:
    args = parse_args(argv)
    # Every error is one line naming the problem and the fix (the refusals
    # of the work-dir guard, the preflight checks, damaged, foreign and
    # pickled checkpoints, missing data and configs); --debug: traceback.
    with reported_errors(args.debug):
        cfg = config_from_args(args)
        cfg.resume = args.resume
        if args.amp:
            enable_amp(cfg)
        run_training(cfg)


if __name__ == '__main__':
    main()
