"""Command-line arguments the tools share.

Every tool that reads a config takes ``--cfg-options`` with the meaning of
mmseg's tools (:func:`add_cfg_options_argument`); train and test also share
``--work-dir`` and ``--launcher`` (:func:`add_runner_arguments`). Every tool
takes ``--debug`` (:func:`mmseg_affnet.utils.add_debug_argument`).
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

from ..utils.cli import add_debug_argument
from ..utils.config import load_config
from ..utils.io import check_output_folder

CFG_OPTIONS_HELP = (
    'override settings of the config, as in mmseg\'s tools: key=value '
    'pairs merged into it, e.g. train_dataloader.dataset.data_root=data/x '
    'or key="[a,b]"')


def add_launcher_argument(
        parser: argparse.ArgumentParser,
        help: str = 'job launcher (pytorch: started by torchrun)') -> None:
    """Add ``--launcher`` (``none`` or ``pytorch``, as in mmseg's tools).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        help (str): The option's help text.
    """
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none', help=help)


def add_cfg_options_argument(parser: argparse.ArgumentParser,
                             help: str = CFG_OPTIONS_HELP) -> None:
    """Add mmseg's ``--cfg-options`` (a dict of ``key=value`` overrides).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        help (str): The option's help text. Default: :data:`CFG_OPTIONS_HELP`.
    """
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=help)


def add_runner_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--work-dir``, ``--cfg-options``, ``--launcher`` and
    ``--debug``.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--work-dir', help='the dir to save logs, checkpoints and results in')
    add_cfg_options_argument(parser)
    add_launcher_argument(parser)
    add_debug_argument(parser)


def config_from_args(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply the arguments of
    :func:`add_runner_arguments` to it.

    The work dir is, in this order, ``--work-dir``, the config's
    ``work_dir``, or ``./work_dirs/<config name>`` (as in mmseg's tools).

    Args:
        args (argparse.Namespace): Parsed command line with ``config``.

    Returns:
        Config: The config.

    Raises:
        NotADirectoryError: If the work dir, or a parent of it, is a file.
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
    check_output_folder(cfg.work_dir,
                        '--work-dir' if args.work_dir else 'work_dir')
    return cfg
