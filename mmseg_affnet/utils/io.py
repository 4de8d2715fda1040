"""The one output guard and the one atomic writer of the project.

Every tool that writes a file a user keeps (checkpoints, results, tables,
plots, masks, patches, ONNX models) goes through these two functions, so
that nothing a user has is ever overwritten and no reader ever sees a
half-written file. The guard's companions refuse an output that is one of
the command's inputs (:func:`refuse_inputs`) or a folder that is a file
(:func:`check_output_folder`); a summary a tool regenerates is written by
:func:`mmseg_affnet.utils.generated_files.write_owned`, which replaces only
files the tool recorded as its own.
"""
import errno
import fcntl
import os
import os.path as osp
import socket
import stat
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


def require_file(path: PathLike, name: str, folder_fix: str,
                 missing_fix: str) -> None:
    """Raise a clear error unless ``path`` is an existing file.

    Args:
        path (str | PathLike): The input file.
        name (str): How the message names it, e.g. ``'Config x.py'``.
        folder_fix (str): Appended to ``'<name> is a folder'`` (and to
            ``'<name> is a character device'``, or whatever else it is).
        missing_fix (str): Appended to ``'<name> does not exist'``.

    Raises:
        IsADirectoryError: If ``path`` is a folder.
        FileNotFoundError: If nothing is at ``path`` (a link to nothing is
            named as such).
        OSError: If ``path`` is a device, a named pipe or a socket, or a
            link to one (reading it would block or never end); the message
            says which.
    """
    if osp.isdir(path):
        raise IsADirectoryError(f'{name} is a folder{folder_fix}')
    if osp.isfile(path):
        return
    if osp.islink(path) and not osp.exists(path):
        raise FileNotFoundError(
            f'{name} is a link to {os.readlink(path)}, which does not '
            f'exist{missing_fix}')
    if not osp.exists(path):
        raise FileNotFoundError(f'{name} does not exist{missing_fix}')
    kind = special_file_kind(path)
    target = (f' (a link to {osp.realpath(path)})'
              if osp.islink(path) else '')
    raise _with_errno(OSError(f'{name} is {kind}{target}{folder_fix}'),
                      errno.EINVAL)


def special_file_kind(path: PathLike) -> str:
    """What ``path`` is when it exists but is neither a file nor a folder.

    Args:
        path (str | PathLike): An existing path (links are followed).

    Returns:
        str: e.g. ``'a character device'`` or ``'a named pipe (FIFO)'``.
    """
    mode = os.stat(path).st_mode
    for test, kind in ((stat.S_ISCHR, 'a character device'),
                       (stat.S_ISBLK, 'a block device'),
                       (stat.S_ISFIFO, 'a named pipe (FIFO)'),
                       (stat.S_ISSOCK, 'a socket')):
        if test(mode):
            return kind
    return 'not a regular file'


def not_a_file(path: PathLike) -> str:
    """Why ``path``, which is not a regular file (links followed), cannot
    be read as one.

    Args:
        path (str | PathLike): A path that is not a regular file.

    Returns:
        str: e.g. ``'a symbolic link that loops'``, ``'a symbolic link to
        x.png, which is missing (No such file or directory)'``,
        ``'a folder'`` or ``'a named pipe (FIFO)'``.
    """
    try:
        os.stat(path)
    except OSError as error:
        if error.errno == errno.ELOOP:
            return 'a symbolic link that loops'
        if osp.islink(path):
            return f'a symbolic link to {os.readlink(path)}, which is ' \
                f'missing ({error.strerror})'
        return error.strerror
    return 'a folder' if osp.isdir(path) else special_file_kind(path)


@contextmanager
def atomic_path(path: PathLike, overwrite: bool = False) -> Iterator[str]:
    """Let a writer that takes a file name write ``path`` whole or not at all.

    The block writes the yielded ``PATH.part`` (e.g. ``torch.save`` or
    mmengine's ``save_checkpoint`` given that name); on a clean exit the
    partial file is flushed to disk and renamed onto ``path`` (atomic on
    POSIX). On any error or interruption the partial file is removed, so no
    truncated file is left under either name. An ``OSError`` of the write
    (a full disk, ``[Errno 27] File too large`` under ``ulimit -f``) is
    raised again naming ``path``: writers such as ``file.write`` do not.

    Args:
        path (str | PathLike): The final file.
        overwrite (bool): Replace an existing ``path``; by default an
            existing file is refused (:func:`refuse_existing`), the only
            callers that replace a file are those that own it (e.g. the
            ``last_checkpoint`` pointer). Default: False.

    Yields:
        str: The partial file to write.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is False.
        OSError: If writing fails; the message names ``path``, says that
            nothing was written under that name, and how to fix it.
    """
    path = os.fspath(path)
    if not overwrite:
        refuse_existing([path])
    folder = osp.dirname(osp.abspath(path))
    partial = path + PART_SUFFIX
    try:
        try:
            os.makedirs(folder, exist_ok=True)
            yield partial
            with open(partial, 'rb+') as file:
                os.fsync(file.fileno())
            if not overwrite:
                refuse_existing([path])
            os.replace(partial, path)
        except OSError as error:
            raise write_error(path, error) from error
    finally:
        if osp.lexists(partial):
            os.remove(partial)


def write_error(path: PathLike, error: OSError) -> OSError:
    """``error`` of writing ``path`` as an error whose message names the
    file and the fix (errors that already name a file they refuse, e.g.
    :func:`refuse_existing`'s, are returned unchanged).

    Args:
        path (str | PathLike): The file being written.
        error (OSError): What writing it raised.

    Returns:
        OSError: An error of the same type and ``errno``.
    """
    if error.errno is None or isinstance(error, FileExistsError):
        return error
    reason = os.strerror(error.errno)
    if error.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        fix = ('Free space on that disk (or raise the file size limit, '
               '`ulimit -f`), then run again.')
    else:
        fix = 'Fix the folder (permissions, disk) or choose another output.'
    return _with_errno(type(error)(
        f'Could not write {os.fspath(path)}: [Errno {error.errno}] {reason}; '
        'nothing was written under that name (the partial file is removed). '
        f'{fix}'), error.errno)


def _with_errno(error: OSError, number: int) -> OSError:
    """``error`` with ``errno`` set but its message alone as its text
    (``OSError(errno, text)`` would prefix the text with ``[Errno N]``)."""
    error.errno = number
    return error


@contextmanager
def atomic_open(path: PathLike,
                mode: str = 'wb',
                overwrite: bool = False) -> Iterator[IO]:
    """Open ``path`` for writing so that it appears whole or not at all.

    Writes go to ``PATH.part`` in the same folder (:func:`atomic_path`); on
    a clean exit the file is flushed to disk and renamed onto ``path``
    (atomic on POSIX), on an error the partial file is removed and a failed
    write is an error naming ``path``. A reader, or a run killed in the
    middle, never sees a truncated ``path``.

    Args:
        path (str | PathLike): The final file.
        mode (str): ``'wb'`` or ``'w'``. Default: 'wb'.
        overwrite (bool): See :func:`atomic_path`. Default: False.

    Yields:
        IO: The open partial file.

    Raises:
        FileExistsError: If ``path`` exists and ``overwrite`` is False.
        OSError: If writing fails (:func:`atomic_path`).
    """
    if mode not in ('wb', 'w'):
        raise ValueError(f'atomic_open writes new files; mode {mode!r} '
                         "is not 'wb' or 'w'.")
    with atomic_path(path, overwrite) as partial:
        with open(partial, mode) as file:
            yield file


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
    """Write ``text`` to ``path``, UTF-8 encoded, through
    :func:`atomic_write_bytes`.

    Args:
        path (str | PathLike): The final file.
        text (str): Its content.
        overwrite (bool): See :func:`atomic_open`. Default: False.
    """
    atomic_write_bytes(path, text.encode('utf-8'), overwrite)


def check_output_folder(path: PathLike, option: str = '--work-dir') -> None:
    """Raise if ``path`` cannot be a folder: it, or a parent, is a file.

    Args:
        path (str | PathLike): An output folder, existing or to be created.
        option (str): The option that named it, for the message.
            Default: '--work-dir'.

    Raises:
        NotADirectoryError: If ``path`` or one of its parents exists and is
            not a folder.
    """
    path = os.fspath(path)
    existing = osp.abspath(path)
    while not osp.lexists(existing):
        existing = osp.dirname(existing)
    if osp.isdir(existing):
        return
    what = f'{option} {path} is a file' if existing == osp.abspath(path) \
        else f'{option} {path}: {existing} is a file'
    raise NotADirectoryError(f'{what}, not a folder; pass a folder (new or '
                             'existing) instead.')


def refuse_inputs(outputs: Iterable[PathLike],
                  inputs: Iterable[PathLike],
                  fix: str = '') -> None:
    """Raise if an output is one of the inputs of the same command.

    Paths are compared after resolving links (``realpath``), and existing
    files also by device and inode (hard links), so that no option, not
    even one that allows overwriting, replaces an input.

    Args:
        outputs (Iterable[str | PathLike]): Files a command will write.
        inputs (Iterable[str | PathLike]): Files it reads.
        fix (str): What the user should do instead. Default: ''.

    Raises:
        ValueError: If an output is an input; the message names both.
    """
    def identity(path: str) -> tuple:
        try:
            stat = os.stat(path)
        except OSError:
            return ()
        return (stat.st_dev, stat.st_ino)

    inputs = [os.fspath(path) for path in inputs if path is not None]
    by_path = {osp.realpath(path): path for path in inputs}
    by_inode = {identity(path): path for path in inputs}
    by_inode.pop((), None)
    for output in (os.fspath(path) for path in outputs if path is not None):
        same = by_path.get(osp.realpath(output)) or by_inode.get(
            identity(output))
        if same is not None:
            raise ValueError(
                f'The output {output} is the input {same} of the same '
                'command; an input is never overwritten. '
                f'{fix or "Choose another output."}')


#: The lock file :func:`folder_lock` keeps in a folder while a run uses it.
LOCK_NAME = '.mmseg_affnet.lock'


@contextmanager
def folder_lock(folder: PathLike, fix: str = '') -> Iterator[str]:
    """Hold ``folder`` for this process: a second run is refused at once.

    The lock is ``FOLDER/.mmseg_affnet.lock``, locked with ``flock`` and
    holding the process id and host of the holder. The operating system
    releases a ``flock`` when its process ends, however it ends (SIGKILL
    included), so a lock file left by a dead process is stale and is taken
    over; a clean exit removes it (and the folder, if this created it and
    nothing was written into it).

    Args:
        folder (str | PathLike): The folder, created if missing.
        fix (str): What the refused user should do instead, appended to
            the message. Default: ''.

    Yields:
        str: The lock file.

    Raises:
        BlockingIOError: If another live process holds the folder; the
            message names the folder, that process and ``fix``.
    """
    folder = os.fspath(folder)
    path = osp.join(folder, LOCK_NAME)
    created = not osp.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    while True:
        handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(handle, 200, 0).decode(errors='replace')
            os.close(handle)
            holder = holder.strip() or 'a process that is starting'
            raise _with_errno(BlockingIOError(
                f'{folder} is in use by another run ({holder}, holding '
                f'{path}); two runs in one folder would overwrite each '
                f'other\'s files. '
                f'{fix or "Wait for it to end, or choose another folder."}'),
                errno.EWOULDBLOCK) from None
        # The file may have been removed (by a holder that ended) between
        # open and flock: then this lock guards nothing; take a new file.
        try:
            same = os.path.samestat(os.fstat(handle), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(handle)
    try:
        os.ftruncate(handle, 0)
        os.pwrite(handle, f'process {os.getpid()} on {socket.gethostname()}'
                  .encode(), 0)
        yield path
    finally:
        try:
            if osp.lexists(path):
                os.remove(path)
        finally:
            os.close(handle)
        if created and not os.listdir(folder):
            os.rmdir(folder)  # nothing was written: leave no trace
