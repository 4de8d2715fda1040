"""Command-line arguments the tools share.

Every tool that reads a config takes ``--cfg-options`` with the meaning of
mmseg's tools (:func:`add_cfg_options_argument`); train and test also share
``--work-dir`` and ``--launcher`` (:func:`add_runner_arguments`). Every tool
takes ``--debug`` (:func:`mmseg_affnet.utils.add_debug_argument`).
"""
import argparse
import os.path as osp
import re

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


class CfgOptionsAction(DictAction):
    """mmseg's ``--cfg-options`` (mmengine's ``DictAction``), keeping the
    spaces of a value.

    ``DictAction`` removes every space of a value before reading it (so
    that ``key="[a, b]"`` is a list), which turned
    ``data_root="/data/cv set"`` into ``/data/cvset``. Here a value that is
    not a list or tuple is kept as written, spaces included; a list or tuple
    item that holds a space is refused, naming the item and how to set it
    instead (spaces around its brackets and commas are fine).
    """

    @staticmethod
    def _parse_iterable(val: str):
        text = val.strip('\'"')
        if ' ' in text.strip() and not _is_sequence(text):
            return DictAction._parse_int_float_bool(text)
        return DictAction._parse_iterable(val)

    def __call__(self, parser, namespace, values, option_string=None):
        for pair in values or ():
            key, _, value = pair.partition('=')
            text = value.strip('\'"')
            if _is_sequence(text) and ' ' in re.sub(
                    r'\s*([\[\](),])\s*', r'\1', text.strip()):
                parser.error(
                    f'--cfg-options {pair}: an item of this list holds a '
                    'space, and mmseg\'s --cfg-options parser reads lists '
                    f'without spaces. Set {key} in a config file instead '
                    '(one that inherits this config through _base_), or '
                    'use a path without spaces (e.g. a symlink).')
        super().__call__(parser, namespace, values, option_string)


def _is_sequence(text: str) -> bool:
    """Whether ``DictAction`` reads ``text`` as a list or tuple."""
    text = text.strip()
    return text[:1] + text[-1:] in ('[]', '()') or ',' in text


def add_cfg_options_argument(parser: argparse.ArgumentParser,
                             help: str = CFG_OPTIONS_HELP) -> None:
    """Add mmseg's ``--cfg-options`` (a dict of ``key=value`` overrides,
    read by :class:`CfgOptionsAction`: a value keeps its spaces).

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
        help (str): The option's help text. Default: :data:`CFG_OPTIONS_HELP`.
    """
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction,
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
