"""Check every image and label map of a dataset before a run starts.

A bad file otherwise stops training or testing at the moment the data
loader reaches it (after hours of training, for a validation-only file)
with a decoder's traceback that names no file. :func:`check_label_files`
finds all of them at once and names each file and the fix.
"""
import os
import os.path as osp
from functools import partial
from typing import List, Optional, Tuple

import cv2
import numpy as np
from mmseg.registry import DATASETS
from PIL import Image

from ..utils.image import read_image
from ._progress import map_with_progress
from .layout import dataset_suffixes, leaf_datasets, loads_annotations
from .transforms import invalid_labels

# How many problems one error message lists.
MAX_LISTED = 10


def read_label_map(path: str) -> np.ndarray:
    """Decode a label map of class ids, with a clear error if it cannot be.

    OpenCV decodes it (the fast path); a palette PNG, which OpenCV turns
    into colours, is read with PIL as class ids, as mmseg's
    ``LoadAnnotations`` (PIL backend) reads it.

    Args:
        path (str): A single-channel (or palette) label image.

    Returns:
        np.ndarray: The label map of shape (H, W).

    Raises:
        ValueError: If the file is empty, truncated or not an image, or has
            colour channels.
    """
    label = read_image(path, cv2.IMREAD_UNCHANGED)
    if label.ndim == 3:
        with Image.open(path) as image:
            if image.mode in ('P', 'L', 'I', 'I;16'):
                return np.asarray(image)
        raise ValueError(
            f'{path} has {label.shape[2]} colour channels: it is not a label '
            'map of class ids (expected e.g. *_gtFine_labelTrainIds.png, '
            'not the colour labels *_gtFine_color.png).')
    return label


def image_size(path: str) -> Tuple[int, int]:
    """(height, width) of an image, read from its header; its data verified.

    PIL reads the size from the header and ``verify`` checks the file's
    structure (PNG chunk checksums, a truncated end) without decoding the
    pixels, which is several times faster than decoding.

    Args:
        path (str): An image file.

    Returns:
        tuple[int, int]: Height and width.

    Raises:
        ValueError: If the file is empty, truncated or not an image.
    """
    if osp.getsize(path) == 0:
        raise ValueError(f'{path} is empty (0 bytes).')
    try:
        with Image.open(path) as image:
            width, height = image.size
            image.verify()
    except (OSError, SyntaxError, ValueError) as err:
        raise ValueError(f'{path} is truncated or not an image: it cannot '
                         f'be decoded ({err}).') from err
    return height, width


def label_lookup(reduce_zero_label: bool = False,
                 label_map: Optional[dict] = None) -> np.ndarray:
    """What mmseg's ``LoadAnnotations`` turns each stored value 0..255 into.

    Args:
        reduce_zero_label (bool): 0 becomes 255, every other value v - 1.
            Default: False.
        label_map (dict, optional): Old id -> new id, applied after that.
            Default: None.

    Returns:
        np.ndarray: (256, ) int64 lookup table.
    """
    lut = np.arange(256)
    if reduce_zero_label:
        lut = np.where(lut == 0, 255, lut - 1)
        lut[lut == 254] = 255
    if label_map:
        mapped = lut.copy()
        for old_id, new_id in label_map.items():
            mapped[lut == old_id] = new_id
        lut = mapped
    return lut


def check_sample(sample: Tuple[str, str], num_classes: int,
                 ignore_index: int = 255,
                 lut: Optional[np.ndarray] = None) -> Optional[str]:
    """The problem of one image and its label map, or None if they are fine.

    Args:
        sample (tuple[str, str]): Image path and label map path.
        num_classes (int): Valid labels are 0..num_classes-1.
        ignore_index (int): The one other valid label. Default: 255.
        lut (np.ndarray, optional): (256, ) stored value -> label, see
            :func:`label_lookup`; None: identity. Default: None.

    Returns:
        str | None: What is wrong with the files and how to fix it.
    """
    image_path, label_path = sample
    try:
        height, width = image_size(image_path)
        label = read_label_map(label_path)
    except (OSError, ValueError) as err:
        return (f'{err} Restore the file (unpack or convert the dataset '
                'again) or remove the image and its label map.')
    if label.shape != (height, width):
        return (f'{label_path} is {label.shape[0]}x{label.shape[1]} (HxW) '
                f'but its image {image_path} is {height}x{width}: a label '
                'map must have the size of its image. Check that they '
                'belong together, or resize the label with nearest-neighbour '
                'interpolation.')
    if label.dtype == np.uint8:
        # OpenCV's histogram is about 3x faster than np.bincount here.
        counts = cv2.calcHist([label], [0], None, [256], [0, 256]).ravel()
    elif label.max(initial=0) > 255:
        return (f'{label_path} holds values above 255, which mmseg reads '
                'modulo 256; store labels as 8-bit class ids.')
    else:
        counts = np.bincount(label.ravel(), minlength=256)
    loaded = np.arange(256) if lut is None else lut
    bad = np.flatnonzero((counts > 0)
                         & invalid_labels(loaded, num_classes, ignore_index))
    if bad.size:
        mapped = np.flatnonzero((loaded == ignore_index)
                                & (np.arange(256) != ignore_index))
        also = (f' (the dataset maps {mapped.tolist()[:10]} to '
                f'{ignore_index})' if mapped.size else '')
        return (f'{label_path} holds label values {bad.tolist()[:10]}, '
                f'outside the {num_classes} classes 0..{num_classes - 1} '
                f'and {ignore_index} (ignore){also}. Use train-id label maps '
                "(for Cityscapes: *_gtFine_labelTrainIds.png, written by "
                "mmseg's tools/dataset_converters/cityscapes.py), or set "
                "num_classes of the model's head to your dataset's.")
    return None


def _samples(dataset_cfg: dict) -> Tuple[List[Tuple[str, str]], np.ndarray]:
    """The (image, label) pairs mmseg's dataset reads, and their lookup."""
    cfg = dict(dataset_cfg, pipeline=[], lazy_init=True)
    dataset = DATASETS.build(cfg)
    data_list = dataset.load_data_list()
    lut = label_lookup(dataset.reduce_zero_label, dataset.label_map)
    return [(info['img_path'], info['seg_map_path']) for info in data_list
            if info.get('seg_map_path')], lut


def check_label_files(dataset_cfg: dict,
                      name: str,
                      num_classes: int,
                      ignore_index: int = 255,
                      nproc: Optional[int] = None,
                      progress: bool = True) -> int:
    """Decode every label map of a dataset config and check it and its image.

    For every segmentation dataset of ``dataset_cfg`` whose pipeline loads
    annotations (wrappers such as ``RepeatDataset`` and ``ConcatDataset``
    are unpacked), the (image, label) pairs are listed the way mmseg's
    dataset lists them, and each pair is checked in a pool of processes:

    * the image is not empty and its header and data are intact (PIL
      ``verify``, without decoding the pixels);
    * the label map decodes and has one channel;
    * the label map has the image's size;
    * every label, after the dataset's ``reduce_zero_label`` and
      ``label_map``, is a class id below ``num_classes`` or
      ``ignore_index``.

    Every problem is collected, so one run names all bad files. Call it
    after :func:`check_dataset_layout`, which names missing folders and
    files.

    Args:
        dataset_cfg (dict): A dataset config, as in ``train_dataloader``.
        name (str): What to call the dataset in the error, e.g.
            'val_dataloader'.
        num_classes (int): Classes the model predicts (the decode head's
            ``num_classes``).
        ignore_index (int): The label that is not trained on. Default: 255.
        nproc (int, optional): Worker processes; None: the CPU count, at
            most 8. Default: None.
        progress (bool): Show a progress bar. Default: True.

    Returns:
        int: Number of (image, label) pairs checked.

    Raises:
        ValueError: If any pair has a problem; the message names up to ten
            files, each with its problem and fix.
    """
    if nproc is None:
        nproc = min(8, os.cpu_count() or 1)
    checked, problems = 0, []
    for leaf_cfg in leaf_datasets(dataset_cfg):
        if dataset_suffixes(leaf_cfg) is None or not loads_annotations(
                leaf_cfg.get('pipeline', [])):
            continue
        samples, lut = _samples(leaf_cfg)
        check = partial(check_sample, num_classes=num_classes,
                        ignore_index=ignore_index, lut=lut)
        results = map_with_progress(check, samples, nproc, progress,
                                    chunksize=16)
        problems += [problem for problem in results if problem]
        checked += len(samples)
    if problems:
        listed = '\n'.join(f'  - {problem}'
                           for problem in problems[:MAX_LISTED])
        more = (f'\n  ... and {len(problems) - MAX_LISTED} more'
                if len(problems) > MAX_LISTED else '')
        raise ValueError(
            f'{name}: {len(problems)} of {checked} image/label pairs '
            f'cannot be used; nothing was run.\n{listed}{more}')
    return checked
