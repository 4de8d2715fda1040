"""Sinks of the video pipeline (:mod:`.video`): what it writes.

:class:`VideoSink` writes the overlay video (OpenCV's ``VideoWriter``,
codec by extension, written to ``NAME.part.EXT`` and renamed when complete,
never over an existing file; a file cut short by a full disk or a size
limit is an error and removed); :class:`LabelSink` writes the label-id
frames as PNGs into a new or empty folder (each by the project's atomic
writer).

Example:
    >>> sink = VideoSink('out.mp4', source.size, source.fps or 30)
    >>> for frame in source.frames():
    ...     sink.write(frame.image)
    >>> sink.close(keep=True)
"""
import os
import os.path as osp
import resource
from typing import Optional, Tuple

import cv2
import numpy as np

from ..utils.image import write_png
from ..utils.io import check_output_folder, refuse_existing
from .video_io import quiet_opencv

#: Codec of each output extension that OpenCV's FFmpeg backend writes.
CODECS = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.mkv': 'mp4v',
          '.avi': 'MJPG'}
PART_INFIX = '.part'


def codec_of(path: str, codec: Optional[str] = None) -> str:
    """The FourCC to write ``path`` with.

    Args:
        path (str): Output video file.
        codec (str, optional): A FourCC (4 characters) to use instead of
            the extension's default (:data:`CODECS`). Default: None.

    Returns:
        str: The FourCC.

    Raises:
        ValueError: The codec is not 4 characters, or the extension has no
            default codec.
    """
    if codec is not None:
        if len(codec) != 4:
            raise ValueError(f'--codec {codec!r} is not a FourCC (4 '
                             'characters, e.g. mp4v or MJPG).')
        return codec
    extension = osp.splitext(path)[1].lower()
    if extension not in CODECS:
        raise ValueError(
            f'--out {path}: no default codec for "{extension}"; end it in '
            f'{", ".join(CODECS)}, or pass --codec FOURCC.')
    return CODECS[extension]


def check_video_output(path: str, codec: Optional[str] = None) -> str:
    """Refuse an output video that exists or has no codec, before any work.

    Args:
        path (str): Output video file.
        codec (str, optional): See :func:`codec_of`. Default: None.

    Returns:
        str: The FourCC to write it with.

    Raises:
        FileExistsError: ``path`` exists.
        ValueError: See :func:`codec_of`.
    """
    fourcc = codec_of(path, codec)
    refuse_existing([path], 'Outputs are never overwritten: pass another '
                    '--out or move the file away.')
    return fourcc


class VideoSink:
    """An output video, written under a partial name and renamed when
    complete.

    Args:
        path (str): Output video file; must not exist.
        size (tuple[int, int]): (width, height) of every frame.
        fps (float): Frame rate written into the file.
        codec (str, optional): FourCC; None picks the extension's
            (:func:`codec_of`). Default: None.

    Raises:
        FileExistsError: ``path``, or its partial file
            ``NAME.part.EXT`` (left by a killed run), exists.
        NotADirectoryError: A parent of ``path`` is a file.
        PermissionError: The folder is not writable (named as such).
        OSError: The partial file cannot be created for another reason
            (e.g. a read-only file system).
        ValueError: No codec for the extension, or OpenCV cannot write it.
    """

    def __init__(self, path: str, size: Tuple[int, int], fps: float,
                 codec: Optional[str] = None) -> None:
        fourcc = check_video_output(path, codec)
        stem, extension = osp.splitext(path)
        self.path = path
        self.partial = stem + PART_INFIX + extension
        self.frames = 0
        self._closed = False
        refuse_existing([self.partial], 'It is the partial file of an '
                        'interrupted run, or yours: move it away.')
        folder = osp.dirname(osp.abspath(path))
        check_output_folder(folder, '--out')
        try:
            os.makedirs(folder, exist_ok=True)
            # Created here so that a folder we cannot write to is named as
            # such; OpenCV's writer only says that it did not open.
            os.close(os.open(self.partial,
                             os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        except OSError as error:
            raise type(error)(
                f'--out {path}: cannot create {self.partial} in {folder} '
                f'({error.strerror}); choose a folder you can write to, or '
                'fix its permissions.') from None
        with quiet_opencv():
            self._writer = cv2.VideoWriter(
                self.partial, cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if not self._writer.isOpened():
            self._writer.release()
            self._remove_partial()
            raise ValueError(
                f'OpenCV cannot write {path} with codec {fourcc} (not in '
                'its FFmpeg, or not allowed in this container); pass '
                '--codec mp4v with .mp4, or MJPG with .avi.')

    def write(self, image: np.ndarray) -> None:
        """Append a (H, W, 3) uint8 BGR frame of the sink's size."""
        self._writer.write(image)
        self.frames += 1

    def close(self, keep: bool) -> None:
        """Finish the file: check it and rename it to ``path`` if
        ``keep``, else delete it. Closing again does nothing.

        OpenCV's writer reports no write error: a full disk or a file size
        limit (``ulimit -f``) leaves a truncated file, silently. So the
        closed file is opened again and its last frame read; a file that
        fails is removed and the failure raised.

        Raises:
            FileExistsError: ``path`` appeared while the video was written
                (the video is left in the partial file).
            OSError: The file OpenCV wrote is incomplete (removed).
        """
        if self._closed:
            return
        self._closed = True
        self._writer.release()
        if not keep:
            self._remove_partial()
            return
        if self.frames and not last_frame_readable(self.partial,
                                                   self.frames):
            reason = write_failure_reason(self.partial)
            self._remove_partial()
            raise OSError(
                f'Writing {self.path} failed: the video OpenCV wrote '
                f'cannot be read to its last frame ({reason}). It was '
                f'removed; nothing is left under {self.path}. Free disk '
                'space (or raise the limit), or write to another disk '
                '(--out), and run again.')
        refuse_existing([self.path], 'It appeared while the video was '
                        f'written; the video is left in {self.partial}.')
        os.replace(self.partial, self.path)

    def _remove_partial(self) -> None:
        if osp.lexists(self.partial):
            os.remove(self.partial)


def last_frame_readable(path: str, frames: int) -> bool:
    """Whether the video ``path`` opens and its frame ``frames - 1`` (the
    last one written) decodes. Reads only the end of the file, not every
    frame."""
    with quiet_opencv():
        capture = cv2.VideoCapture(path)
        try:
            if not capture.isOpened():
                return False
            capture.set(cv2.CAP_PROP_POS_FRAMES, frames - 1)
            return capture.read()[0]
        finally:
            capture.release()


def write_failure_reason(path: str) -> str:
    """Why a file stopped short: the file size limit, a full disk, or not
    known."""
    size = osp.getsize(path)
    limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if limit != resource.RLIM_INFINITY and size >= limit:
        return (f'it stopped at {size} bytes, the file size limit of this '
                f'process (ulimit -f)')
    disk = os.statvfs(osp.dirname(osp.abspath(path)))
    free = disk.f_bavail * disk.f_frsize
    if free < 1 << 20:
        return f'the disk is full: {free} bytes free'
    return (f'it stopped at {size} bytes; the disk may have been full, or '
            'the file size limit (ulimit -f) reached')


class LabelSink:
    """Label-id frames as PNGs (``NAME.png``) in a new or empty folder.

    Values are class indices (uint8, or uint16 for more than 256 classes).

    Args:
        folder (str): Output folder, created if missing; must be empty.

    Raises:
        FileExistsError: The folder holds files.
        NotADirectoryError: It, or a parent, is a file.
    """

    def __init__(self, folder: str) -> None:
        check_output_folder(folder, '--labels-dir')
        if osp.isdir(folder) and os.listdir(folder):
            raise FileExistsError(
                f'--labels-dir {folder} is not empty; label frames are '
                'never written among other files: pass a new or empty '
                'folder.')
        self.created = not osp.isdir(folder)
        os.makedirs(folder, exist_ok=True)
        self.folder = folder

    def discard_if_empty(self) -> None:
        """Remove the folder if this sink created it and wrote nothing."""
        if self.created and not os.listdir(self.folder):
            os.rmdir(self.folder)

    def write(self, name: str, labels: np.ndarray) -> None:
        """Write ``labels`` (H, W) as ``NAME.png``, atomically.

        Raises:
            FileExistsError: The file exists (a name written twice).
        """
        write_png(osp.join(self.folder, name + '.png'), labels)
