"""Command-line arguments the tools share (train, test, demo)."""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

from ..apis.model import load_config


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options`` and ``--launcher``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--work-dir', help='the dir to save logs, checkpoints and results in')
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


def config_from_args(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the arguments of
    :func:`add_runner_arguments` to it.

    The work dir is, in this order, ``--work-dir``, the config's
    ``work_dir``, or ``./work_dirs/<config name>`` (as in mmseg's tools).

    Args:
        args (argparse.Namespace): Parsed command line with ``config``.

    Returns:
        Config: The config.
    """
    cfg = load_config(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg
