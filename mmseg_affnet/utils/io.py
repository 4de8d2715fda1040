"""The one output guard and the one atomic writer of the project.

Every tool that writes a file a user keeps (checkpoints, results, tables,
plots, masks, patches, ONNX models) goes through these two functions, so
that nothing a user has is ever overwritten and no reader ever sees a
half-written file.
"""
import os
import os.path as osp
from contextlib import contextmanager
from typing import IO, Iterable, Iterator, Union

PathLike = Union[str, 'os.PathLike[str]']
PART_SUFFIX = '.part'


def refuse_existing(paths: Iterable[PathLike], fix: str = '') -> None:
    """Raise if any of ``paths`` exists, naming them and the fix.

    Args:
        paths (Iterable[str | PathLike]): Output files (or folders) that a
            run is about to create.
        fix (str): What the user should do instead, e.g. ``'pass another
            --out'``. Default: ''.

    Raises:
        FileExistsError: If one or more of ``paths`` exist; the message names
            up to five of them.
    """
    existing = [str(path) for path in paths if osp.lexists(path)]
    if existing:
        shown = ', '.join(existing[:5])
        more = f' and {len(existing) - 5} more' if len(existing) > 5 else ''
        raise FileExistsError(
            f'{shown}{more} already exist{"s" if len(existing) == 1 else ""}'
            f' and would be overwritten; nothing was written. '
            f'{fix or "Move them away or choose another output."}')


@contextmanager
def atomic_open(path: PathLike,
                mode: str = 'wb',
                overwrite: bool = False) -> Iterator[IO]:
    """Open ``path`` for writing so that it appears whole or not at all.

    Writes go to ``PATH.part`` in the same folder; on a clean exit the file
    is flushed to disk and renamed onto ``path`` (atomic on POSIX), on an
    error the partial file is removed. A reader, or a run killed in the
    middle, never sees a truncated ``path``.

    Args:
        path (str | PathLike): The final file.
        mode (str): ``'wb'`` or ``'w'``. Default: 'wb'.
        overwrite (bool): Replace an existing ``path``; by default an
            existing file is refused (:func:`refuse_existing`), the only
            callers that replace a file are those that own it (e.g. the
            ``last_checkpoint`` pointer). Default: False.

    Yields:
        IO: The open partial file.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is False.
    """
    if mode not in ('wb', 'w'):
        raise ValueError(f'atomic_open writes new files; mode {mode!r} '
                         "is not 'wb' or 'w'.")
    path = os.fspath(path)
    if not overwrite:
        refuse_existing([path])
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    partial = path + PART_SUFFIX
    try:
        with open(partial, mode) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        if not overwrite:
            refuse_existing([path])
        os.replace(partial, path)
    finally:
        if osp.lexists(partial):
            os.remove(partial)


def atomic_write_bytes(path: PathLike,
                       data: bytes,
                       overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` through :func:`atomic_open`.

    Args:
        path (str | PathLike): The final file.
        data (bytes): Its content.
        overwrite (bool): See :func:`atomic_open`. Default: False.
    """
    with atomic_open(path, 'wb', overwrite=overwrite) as file:
        file.write(data)


def atomic_write_text(path: PathLike, text: str,
                      overwrite: bool = False) -> None:
    """Write ``text`` to ``path`` through :func:`atomic_open`.

    Args:
        path (str | PathLike): The final file.
        text (str): Its content.
        overwrite (bool): See :func:`atomic_open`. Default: False.
    """
    with atomic_open(path, 'w', overwrite=overwrite) as file:
        file.write(text)
