"""What the tools share on the command line: the arguments, the one way
every tool reports an error (one line, and a traceback on request), and
stop signals taken as Ctrl+C.

Every tool that reads a config takes ``--cfg-options`` with the meaning of
mmseg's tools (:func:`add_cfg_options_argument`); train and test also share
``--work-dir`` and ``--launcher`` (:func:`add_runner_arguments`).

Every ``tools/*.py`` adds ``--debug`` (:func:`add_debug_argument`) and runs
its work inside :func:`reported_errors`::

    def main(argv=None):
        args = parse_args(argv)
        with reported_errors(args.debug):
            ...

An error then ends the tool with ``error: <message>`` on stderr and exit
status 1 instead of a traceback. The project's errors (a missing or damaged
file, a config of another model, an output that exists, bad data) name the
file and the fix in their message, so that line is all a user needs;
``--debug`` re-raises the error with its full traceback. An error of a kind
the project does not raise on purpose is reported with its type and the
hint to rerun with ``--debug``.
"""
import argparse
import os.path as osp
import re
import signal
import sys
import threading
import traceback
from contextlib import contextmanager
from typing import Dict, Iterator

from mmengine.config import Config, DictAction

from .config import load_config
from .io import check_output_folder

#: Errors whose message is written for the user: bad arguments, configs,
#: files and data (OSError covers missing, existing, folder-instead-of-file
#: and unreadable files), and registry look-ups of unknown types.
USER_ERRORS = (ValueError, OSError, KeyError, SyntaxError)
DEBUG_HINT = 'rerun with --debug for the full traceback'
#: How torch's DataLoader passes on the error of a worker process.
WORKER_TRACEBACK = 'Original Traceback (most recent call last):'
#: Keys of a pipeline's ``results`` dict that name the sample's files.
PIPELINE_FILE_KEYS = {'img_path': 'image', 'seg_map_path': 'label map'}


def add_debug_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--debug`` (show the traceback of an error) to a tool's parser.

    Args:
        parser (argparse.ArgumentParser): The tool's parser.
    """
    parser.add_argument(
        '--debug', action='store_true',
        help='on an error, show the full traceback instead of one line')


def error_line(error: BaseException) -> str:
    """The message a tool prints for ``error``, without a traceback.

    Args:
        error (BaseException): The error.

    Returns:
        str: ``error: <message>``. An error raised while a data pipeline
        loaded a sample gets the sample's files (:func:`pipeline_files`);
        one passed on from a ``DataLoader`` worker is reduced to its last
        line; errors outside :data:`USER_ERRORS` get their type, and both
        :data:`DEBUG_HINT`.
    """
    message = error.args[0] if isinstance(error, KeyError) and \
        len(error.args) == 1 else str(error)
    message = str(message).strip() or type(error).__name__
    # What a tool kept or removed when the error stopped it
    # (``error.add_note``), e.g. the frames a video run wrote.
    message = ' '.join([message, *getattr(error, '__notes__', ())])
    if WORKER_TRACEBACK in message:  # a worker's traceback, as text
        return (f'error: {message.splitlines()[-1].strip()} (raised in a '
                f'DataLoader worker; {DEBUG_HINT})')
    files = pipeline_files(error)
    if files and not any(path in message for path in files.values()):
        message += ' (while loading ' + ' and '.join(
            f'{PIPELINE_FILE_KEYS[key]} {path}'
            for key, path in files.items()) + ')'
    if isinstance(error, USER_ERRORS):
        return f'error: {message}'
    return f'error: {type(error).__name__}: {message} ({DEBUG_HINT})'


def pipeline_files(error: BaseException) -> Dict[str, str]:
    """The files of the sample a data pipeline was loading when ``error``
    was raised (in this process), found in the frames of its traceback.

    mmcv's transforms pass a sample as a ``results`` dict with ``img_path``
    and ``seg_map_path``; errors of image decoders (e.g. PIL's ``image file
    is truncated``) do not name the file.

    Args:
        error (BaseException): The error.

    Returns:
        dict[str, str]: ``img_path`` and ``seg_map_path`` of the innermost
        such frame (those it has); empty if there is none.
    """
    files: Dict[str, str] = {}
    for frame, _ in traceback.walk_tb(error.__traceback__):
        results = frame.f_locals.get('results')
        if isinstance(results, dict):
            found = {key: results[key] for key in PIPELINE_FILE_KEYS
                     if isinstance(results.get(key), str)}
            files = found or files
    return files


#: Exit status of a tool stopped by Ctrl+C (128 + SIGINT, as a shell
#: reports it).
EXIT_INTERRUPTED = 130


class Interrupted(KeyboardInterrupt):
    """Ctrl+C, with the line a tool prints for it (e.g. where a training
    can resume); :func:`reported_errors` prints it and exits with
    :data:`EXIT_INTERRUPTED`."""


def was_interrupted(error: BaseException) -> bool:
    """Whether ``error`` is, or was raised while handling, a Ctrl+C.

    Some libraries turn every exception into one of theirs: mmengine's
    ``Config.pretty_text`` catches anything yapf raises, a
    ``KeyboardInterrupt`` included, and raises ``SyntaxError('Failed to
    format the config file ...')`` with the whole config; a Ctrl+C while a
    checkpoint is saved ends that way.

    Args:
        error (BaseException): The error.

    Returns:
        bool: True if a ``KeyboardInterrupt`` is in its chain of causes and
        contexts.
    """
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


#: Signals that stop a tool as Ctrl+C does inside
#: :func:`stop_signals_as_ctrl_c` (``kill``, a closed terminal).
STOP_SIGNALS = ('SIGTERM', 'SIGHUP')


class StopSignal(Interrupted):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl+C would be.

    Args:
        name (str): The signal, e.g. ``'SIGTERM'``.
    """

    def __init__(self, name: str) -> None:
        super().__init__(f'interrupted by {name}')
        self.signal_name = name


def interrupt_name(error: KeyboardInterrupt) -> str:
    """What stopped a run: ``'Ctrl+C'``, ``'SIGTERM'`` or ``'SIGHUP'``."""
    return getattr(error, 'signal_name', 'Ctrl+C')


@contextmanager
def stop_signals_as_ctrl_c() -> Iterator[None]:
    """Inside, SIGTERM and SIGHUP stop the program as Ctrl+C does.

    Their default action kills the process at once, so a tool that keeps
    what it did on Ctrl+C (e.g. the frames of a video) lost it on ``kill``
    or a closed terminal. Here each raises :class:`StopSignal` (a
    ``KeyboardInterrupt``) in the main thread instead. A signal whose
    handler is not the default (e.g. SIGHUP ignored under ``nohup``) keeps
    its handler; outside the main thread nothing changes. The previous
    handlers are restored on exit.
    """
    def stop(signum, frame):
        raise StopSignal(signal.Signals(signum).name)

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for name in STOP_SIGNALS:
            number = getattr(signal, name, None)
            if number is not None and \
                    signal.getsignal(number) == signal.SIG_DFL:
                previous[number] = signal.signal(number, stop)
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


@contextmanager
def reported_errors(debug: bool = False) -> Iterator[None]:
    """Turn an error of the block into ``error: <message>`` and exit 1.

    A Ctrl+C (also one that a library turned into another error, see
    :func:`was_interrupted`) prints one line, ``interrupted`` or the
    message of an :class:`Interrupted`, and exits with status 130.
    ``SystemExit`` (e.g. from ``argparse``) passes through unchanged.

    Args:
        debug (bool): Re-raise errors with their traceback instead.
            Default: False.

    Raises:
        SystemExit: With the message of :func:`error_line` (exit status 1),
            or with status 130 after a Ctrl+C.
    """
    try:
        yield
    except SystemExit:
        raise
    except BaseException as error:  # noqa: B902 - every error gets one line
        if debug:
            raise
        if was_interrupted(error):
            print(str(error) if isinstance(error, Interrupted) and str(error)
                  else 'interrupted', file=sys.stderr)
            raise SystemExit(EXIT_INTERRUPTED) from None
        if not isinstance(error, Exception):
            raise
        raise SystemExit(error_line(error)) from None


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
