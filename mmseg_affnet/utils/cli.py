"""The one way every tool reports an error: one line, and a traceback on
request.

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
import traceback
from contextlib import contextmanager
from typing import Dict, Iterator

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


@contextmanager
def reported_errors(debug: bool = False) -> Iterator[None]:
    """Turn an error of the block into ``error: <message>`` and exit 1.

    ``SystemExit`` (e.g. from ``argparse``) and ``KeyboardInterrupt`` pass
    through unchanged.

    Args:
        debug (bool): Re-raise errors with their traceback instead.
            Default: False.

    Raises:
        SystemExit: With the message of :func:`error_line` (exit status 1).
    """
    try:
        yield
    except Exception as error:  # noqa: B902 - every error gets one line
        if debug:
            raise
        raise SystemExit(error_line(error)) from None
