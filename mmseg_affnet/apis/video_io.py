"""Frame sources of the video pipeline (:mod:`.video`); its sinks are in
:mod:`.video_sinks`.

Sources (:func:`open_source`) read a video file, a folder of frames (in
name order, numbers compared by value) or a camera, one frame at a time;
the first frame is read when the source opens, so an input that cannot be
read fails before any model is built, with one line naming the problem
and the fix. Every frame of a source has the first frame's size.

Example:
    >>> source = open_source('dashcam.mp4')
    >>> for frame in source.frames():
    ...     print(frame.index, frame.image.shape)
"""
import os
import os.path as osp
import re
import stat
from contextlib import contextmanager
from typing import Iterator, List, NamedTuple, Optional, Union

import cv2
import numpy as np

from ..utils.image import UnreadableImageError, read_image
from ..utils.io import not_a_file
from .infer import IMAGE_SUFFIXES

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
