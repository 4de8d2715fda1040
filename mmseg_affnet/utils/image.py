"""The one image reader (empty and undecodable files named) and the one PNG
writer (encoded, then written atomically)."""
import os.path as osp
from os import PathLike as _PathLike
from typing import Union

import cv2
import numpy as np

from .io import atomic_write_bytes

PathLike = Union[str, _PathLike]


class UnreadableImageError(ValueError):
    """An image file that is empty, truncated or not an image.

    Args:
        path (str | PathLike): The file.
        problem (str): What is wrong, without the path, e.g.
            ``'is empty (0 bytes)'``.
        detail (str): Appended to the message. Default: ''.
    """

    def __init__(self, path: PathLike, problem: str, detail: str = ''):
        super().__init__(f'{path} {problem}{detail}.')
        self.path = path
        self.problem = problem
        #: The problem without the path: ``'the file is empty (0 bytes)'``.
        self.reason = f'the file {problem}'


def read_image(path: PathLike, flags: int = cv2.IMREAD_COLOR) -> np.ndarray:
    """Decode an image file, with a clear error if it cannot be.

    Args:
        path (str | PathLike): The file.
        flags (int): OpenCV's read mode: ``cv2.IMREAD_COLOR`` (BGR, 3
            channels) or ``cv2.IMREAD_UNCHANGED`` (as stored, e.g. a
            single-channel label map). Default: ``cv2.IMREAD_COLOR``.

    Returns:
        np.ndarray: The image, (H, W, 3) BGR or as stored.

    Raises:
        UnreadableImageError: The file is empty, truncated or not an image
            (a ``ValueError``).
        FileNotFoundError: The file does not exist.
    """
    if osp.getsize(path) == 0:
        raise UnreadableImageError(path, 'is empty (0 bytes)')
    image = cv2.imdecode(np.fromfile(path, np.uint8), flags)
    if image is None:
        raise UnreadableImageError(path, 'is truncated or not an image',
                                   ': it cannot be decoded')
    return image


def write_png(path: PathLike, array: np.ndarray,
              overwrite: bool = False) -> None:
    """Encode an array as PNG (OpenCV: BGR or single channel) and write it
    atomically (:func:`mmseg_affnet.utils.atomic_write_bytes`).

    Args:
        path (str | PathLike): The file; missing folders are created.
        array (np.ndarray): (H, W) or (H, W, 3) BGR image.
        overwrite (bool): Replace an existing file. Default: False.

    Raises:
        OSError: The array cannot be encoded as PNG.
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    ok, encoded = cv2.imencode('.png', array)
    if not ok:
        raise OSError(f'Could not encode {path} as PNG.')
    atomic_write_bytes(path, encoded.tobytes(), overwrite)
