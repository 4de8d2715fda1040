"""Files a tool regenerates: summaries it may replace because it wrote them,
and the generated block of a documentation page.

A results folder's summary (tables, CSV, plots) is rewritten by every run
of its tool, but a file of the same name that the user wrote is never
replaced: :func:`write_owned` records the digest of every file it writes,
and :func:`refuse_foreign` refuses, before any work, a file whose content
is not the recorded one. :func:`replace_marked_block` rewrites only the
lines between two markers of a Markdown page.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Iterable

from .io import PathLike, atomic_write_bytes, atomic_write_text

#: The record of the files a tool wrote (:func:`write_owned`).
OWNED_RECORD_KEY = 'written_by_mmseg_affnet'


def _owned_record(record: str) -> dict:
    if not osp.lexists(record):
        return {}
    try:
        with open(record, encoding='utf-8') as file:
            content = json.load(file)
    except (OSError, ValueError):
        content = None
    if not isinstance(content, dict) or not isinstance(
            content.get(OWNED_RECORD_KEY), dict):
        raise FileExistsError(
            f'{record} is not a record of files this project wrote, so the '
            'files it would list cannot be told from yours; nothing was '
            'written. Move it away or choose another output folder.')
    return content[OWNED_RECORD_KEY]


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        for block in iter(lambda: file.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def refuse_foreign(paths: Iterable[PathLike], record: PathLike) -> None:
    """Raise unless every existing path is a file the tool wrote itself.

    A file counts as the tool's own when ``record`` (written by
    :func:`write_owned`) lists it with the hash of its current content; a
    file the tool never wrote, or one edited since, is a user's.

    Args:
        paths (Iterable[str | PathLike]): Files a tool regenerates.
        record (str | PathLike): The tool's record, in the same folder.

    Raises:
        FileExistsError: Naming the files that are not the tool's own.
    """
    record = os.fspath(record)
    owned = _owned_record(record)
    foreign = []
    for path in (os.fspath(path) for path in paths):
        if not osp.lexists(path):
            continue
        if osp.islink(path) or not osp.isfile(path) or owned.get(
                osp.basename(path)) != _sha256(path):
            foreign.append(path)
    if foreign:
        raise FileExistsError(
            f'{", ".join(foreign)} '
            f'{"was" if len(foreign) == 1 else "were"} not written by this '
            f'tool (or changed since; the tool records what it writes in '
            f'{record}), so {"it is" if len(foreign) == 1 else "they are"} '
            'not overwritten; nothing was written. Move '
            f'{"it" if len(foreign) == 1 else "them"} away or choose another '
            'output folder.')


def write_owned(path: PathLike, data: bytes, record: PathLike) -> None:
    """Write or regenerate a file that only the tool itself writes.

    ``path`` is refused if it holds a file the tool did not write
    (:func:`refuse_foreign`); otherwise it is written atomically and its
    hash recorded in ``record`` (atomically too).

    Args:
        path (str | PathLike): The file; its folder must be ``record``'s.
        data (bytes): Its content.
        record (str | PathLike): The tool's record of the files it wrote.

    Raises:
        FileExistsError: If ``path`` is not the tool's own file.
    """
    path, record = os.fspath(path), os.fspath(record)
    if osp.dirname(osp.abspath(path)) != osp.dirname(osp.abspath(record)):
        raise ValueError(f'{path} and its record {record} must share a '
                         'folder.')
    refuse_foreign([path], record)
    owned = _owned_record(record)
    atomic_write_bytes(path, data, overwrite=True)
    owned[osp.basename(path)] = hashlib.sha256(data).hexdigest()
    atomic_write_text(record,
                      json.dumps({OWNED_RECORD_KEY: owned}, indent=2,
                                 sort_keys=True),
                      overwrite=True)


def replace_marked_block(path: PathLike, name: str, text: str) -> None:
    """Replace the text between two markers of a Markdown file.

    The markers are ``<!-- BEGIN name -->`` and ``<!-- END name -->`` on
    lines of their own; they stay, everything between them is replaced by
    ``text`` and the file is rewritten atomically. Nothing else changes, so
    a generated table can live inside a hand-written README.

    Args:
        path (str | PathLike): The Markdown file.
        name (str): The block's name.
        text (str): The new content of the block.

    Raises:
        ValueError: If the file does not hold both markers once, in order.
    """
    path = os.fspath(path)
    begin, end = f'<!-- BEGIN {name} -->\n', f'<!-- END {name} -->'
    with open(path, encoding='utf-8') as file:
        content = file.read()
    start, stop = content.find(begin), content.find(end)
    if (content.count(begin) != 1 or content.count(end) != 1
            or stop < start):
        raise ValueError(
            f'{path} must hold the lines "{begin.strip()}" and "{end}" once '
            'each, in this order, around the generated text; add them where '
            'the text belongs.')
    atomic_write_text(
        path, content[:start + len(begin)] + text.rstrip('\n') + '\n' +
        content[stop:], overwrite=True)


__all__ = ['refuse_foreign', 'replace_marked_block', 'write_owned']
