"""Frame sources and sinks of the video pipeline (:mod:`.video`).

Sources (:func:`open_source`) read a video file, a folder of frames (in
name order, numbers compared by value) or a camera, one frame at a time;
the first frame is read when the source opens, so an input that cannot be
read fails before any model is built, with one line naming the problem
and the fix. Every frame of a source has the first frame's size.

Sinks write what the pipeline produces: :class:`VideoSink` the overlay
video (OpenCV's ``VideoWriter``, codec by extension, written to
``NAME.part.EXT`` and renamed when complete, never over an existing
file), :class:`LabelSink` the label-id frames as PNGs into a new or empty
folder (each written by the project's atomic writer).

Example:
    >>> source = open_source('dashcam.mp4')
    >>> sink = VideoSink('out.mp4', source.size, source.fps or 30)
    >>> for frame in source.frames():
    ...     sink.write(frame.image)
    >>> sink.close(keep=True)
"""
import os
import os.path as osp
import re
import resource
import stat
from contextlib import contextmanager
from typing import Iterator, List, NamedTuple, Optional, Tuple, Union

import cv2
import numpy as np

from ..utils.image import UnreadableImageError, read_image, write_png
from ..utils.io import check_output_folder, not_a_file, refuse_existing
from .infer import IMAGE_SUFFIXES

#: Codec of each output extension that OpenCV's FFmpeg backend writes.
CODECS = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.mkv': 'mp4v',
          '.avi': 'MJPG'}
PART_INFIX = '.part'
VIDEO_HINT = ('pass a video file (e.g. .mp4, .avi), a folder of frames or a '
              'camera index (e.g. 0)')


class Frame(NamedTuple):
    """One frame of a source.

    Attributes:
        index (int): Position in the source, from 0 (frames a camera
            source dropped count too).
        name (str): The name its label PNG gets: a frame file's stem, else
            the zero-padded index.
        image (np.ndarray): (H, W, 3) uint8 BGR image.
    """
    index: int
    name: str
    image: np.ndarray


@contextmanager
def quiet_opencv() -> Iterator[None]:
    """Silence OpenCV's log inside (its backends log every failed open;
    the caller raises one clear error instead)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def natural_key(name: str) -> List[Union[int, str]]:
    """Sort key of a file name with its numbers compared by value.

    Args:
        name (str): A file name, e.g. ``'frame_10.png'``.

    Returns:
        list[int | str]: e.g. ``['frame_', 10, '.png']``, so that
        ``frame_2.png`` comes before ``frame_10.png``.
    """
    return [int(part) if part.isdigit() else part
            for part in re.split(r'(\d+)', name)]


class FrameSource:
    """Frames of a video file, a frame folder or a camera.

    Build one with :func:`open_source`. The first frame is read at once:
    ``size`` is known before :meth:`frames` runs.

    Args:
        kind (str): ``'video'``, ``'folder'`` or ``'camera'``.
        description (str): The input, for messages.
        first (np.ndarray): The first frame, (H, W, 3) uint8 BGR.
        fps (float, optional): Frame rate the source declares, if any.
        total (int, optional): Number of frames, if known.
        capture (cv2.VideoCapture, optional): For videos and cameras.
        files (list[str], optional): Frame files of a folder, in order.

    Attributes:
        size (tuple[int, int]): (width, height) of every frame.
    """

    def __init__(self,
                 kind: str,
                 description: str,
                 first: np.ndarray,
                 fps: Optional[float] = None,
                 total: Optional[int] = None,
                 capture: Optional[cv2.VideoCapture] = None,
                 files: Optional[List[str]] = None) -> None:
        self.kind = kind
        self.description = description
        self.fps = fps
        self.total = total
        self.size = (first.shape[1], first.shape[0])
        self._first = first
        self._capture = capture
        self._files = files

    @property
    def live(self) -> bool:
        """Whether frames keep coming whether or not they are read (a
        camera): the pipeline drops frames rather than fall behind."""
        return self.kind == 'camera'

    def frames(self) -> Iterator[Frame]:
        """Yield every frame, the first included, in order.

        Returns:
            Iterator[Frame]: The frames.

        Raises:
            ValueError: A frame has another size than the first, or a frame
                file cannot be read.
        """
        for index, image in enumerate(self._images()):
            name = (osp.splitext(osp.basename(self._files[index]))[0]
                    if self._files else f'{index:06d}')
            if (image.shape[1], image.shape[0]) != self.size:
                raise ValueError(
                    f'Frame {index} ({self._frame_label(index)}) is '
                    f'{image.shape[1]}x{image.shape[0]}, but the frames '
                    f'before it are {self.size[0]}x{self.size[1]}: one '
                    'output video has one frame size. Resize the frames to '
                    'one size, or split the input where the size changes.')
            yield Frame(index, name, image)

    def _images(self) -> Iterator[np.ndarray]:
        yield self._first
        self._first = None
        if self._files is not None:
            for path in self._files[1:]:
                try:
                    yield read_image(path)
                except (ValueError, OSError) as error:
                    raise ValueError(
                        f'Frame file {path} cannot be read '
                        f'({_reason(error)}); replace or remove it.') \
                        from None
            return
        while True:
            ok, image = self._capture.read()
            if not ok:
                return
            yield image

    def _frame_label(self, index: int) -> str:
        return self._files[index] if self._files else self.description

    def close(self) -> None:
        """Release the capture device or file."""
        if self._capture is not None:
            self._capture.release()


def open_source(spec: Union[str, int]) -> FrameSource:
    """Open a video file, a folder of frames or a camera.

    Args:
        spec (str | int): A video file, a folder of images (taken in name
            order, numbers by value; not searched recursively), a camera
            index (an int, or a string of digits that is not an existing
            path) or a camera device such as ``/dev/video0``.

    Returns:
        FrameSource: The source, its first frame read.

    Raises:
        FileNotFoundError: The file or folder does not exist, or the folder
            holds no images.
        PermissionError: It cannot be read.
        ValueError: The file is not a video OpenCV reads, holds no frame,
            or is a single image; a frame file of a folder cannot be read.
        OSError: The camera does not open or gives no frame.
    """
    if isinstance(spec, int) or (not osp.lexists(spec) and
                                 str(spec).isdigit()):
        return _open_camera(int(spec))
    path = str(spec)
    if not osp.exists(path):
        raise FileNotFoundError(f'Input {path} does not exist; '
                                f'{VIDEO_HINT}.')
    if osp.isdir(path):
        return _open_folder(path)
    if stat.S_ISCHR(os.stat(path).st_mode):
        return _open_camera(path)
    if not os.access(path, os.R_OK):
        raise PermissionError(f'Input {path} is not readable (permission '
                              'denied); fix its permissions or copy it.')
    if path.lower().endswith(IMAGE_SUFFIXES):
        raise ValueError(f'Input {path} is a single image; segment images '
                         'with tools/infer.py, or pass the folder of frames '
                         'it belongs to.')
    return _open_video(path)


def _open_folder(path: str) -> FrameSource:
    try:
        names = os.listdir(path)
    except OSError as error:
        raise PermissionError(
            f'Folder {path} cannot be listed ({error.strerror}); fix its '
            'permissions.') from None
    candidates = [osp.join(path, name)
                  for name in sorted(names, key=natural_key)
                  if name.lower().endswith(IMAGE_SUFFIXES)]
    files = [file for file in candidates if osp.isfile(file)]
    if len(files) < len(candidates):
        not_files = [f'{file} ({not_a_file(file)})' for file in candidates
                     if not osp.isfile(file)]
        raise ValueError(
            f'Folder {path}: {len(not_files)} entr'
            f'{"y is" if len(not_files) == 1 else "ies are"} named as a '
            f'frame but cannot be read as a file: {", ".join(not_files)}; '
            'replace or remove '
            f'{"it" if len(not_files) == 1 else "them"} (every frame is '
            'read: a video does not skip frames).')
    if not files:
        raise FileNotFoundError(
            f'Folder {path} holds no frames ({", ".join(IMAGE_SUFFIXES)}; '
            f'sub-folders are not searched); {VIDEO_HINT}.')
    stems = {}
    for file in files:
        stem = osp.splitext(osp.basename(file))[0]
        if stem in stems:
            raise ValueError(
                f'Frames {stems[stem]} and {file} have one name; their '
                'label PNGs would collide. Rename or remove one.')
        stems[stem] = file
    try:
        first = read_image(files[0])
    except (ValueError, OSError) as error:
        raise ValueError(f'Frame file {files[0]} cannot be read '
                         f'({_reason(error)}); replace or remove it.') \
            from None
    return FrameSource('folder', path, first, None, len(files), files=files)



def _reason(error: Exception) -> str:
    return error.reason if isinstance(error, UnreadableImageError) else \
        str(error)


def _open_video(path: str) -> FrameSource:
    with quiet_opencv():
        capture = cv2.VideoCapture(path)
        ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        empty = osp.getsize(path) == 0
        raise ValueError(
            f'Input {path} is {"an empty file" if empty else "not a video"} '
            f'{"" if empty else "OpenCV can read (damaged, or a format its "}'
            f'{"" if empty else "FFmpeg lacks) "}and has no frame; re-encode '
            'it as .mp4 or .avi, or pass a folder of frames.')
    fps = capture.get(cv2.CAP_PROP_FPS)
    total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    return FrameSource('video', path, first, fps if fps > 0 else None,
                       total if total > 0 else None, capture=capture)


def _open_camera(device: Union[int, str]) -> FrameSource:
    with quiet_opencv():
        capture = cv2.VideoCapture(device)
        ok, first = capture.read() if capture.isOpened() else (False, None)
    if not ok:
        capture.release()
        raise OSError(
            f'Camera {device} did not open or gave no frame (no such '
            'device, busy, or not permitted); check `ls /dev/video*` and '
            'that no other program uses it, pass another camera index, or '
            'a video file.')
    fps = capture.get(cv2.CAP_PROP_FPS)
    return FrameSource('camera', f'camera {device}', first,
                       fps if fps > 0 else None, capture=capture)


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
