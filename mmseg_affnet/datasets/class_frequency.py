"""Per-class pixel frequencies of a label folder, for OWFL.

:func:`write_class_frequency` counts the pixels of every class in every
label map under a folder and writes the JSON that
:func:`mmseg_affnet.models.losses.load_class_frequencies` reads
(``class_frequencies=`` of ``ObjectWeightedFocalLoss``)::

    {"classes": [...], "pixel_counts": [...], "frequencies": [...],
     "source": "..."}

Pixels labelled ``ignore_index`` are not counted; any other value outside
``0..num_classes-1`` is an error naming the file.

Example:
    >>> from mmseg_affnet.datasets.class_frequency import (
    ...     write_class_frequency)
    >>> content = write_class_frequency('data/cityscapes/gtFine/train',
    ...                                 'work_dirs/class_frequency.json')
"""
import json
import os
import os.path as osp
from functools import partial
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.utils import scandir
from mmseg.registry import DATASETS
from prettytable import PrettyTable

from ..models.losses import load_class_frequencies, owfl_alpha_gamma
from ..utils.io import atomic_write_text, refuse_existing, refuse_inputs
from ._progress import map_with_progress
from .checks import read_label_map
from .layout import CITYSCAPES_SEG_MAP_SUFFIX
from .transforms import invalid_labels

DEFAULT_SUFFIX = CITYSCAPES_SEG_MAP_SUFFIX


def dataset_classes(dataset_type: str = 'CityscapesDataset') -> List[str]:
    """Class names of a registered mmseg dataset (its ``METAINFO``).

    Args:
        dataset_type (str): A dataset type of mmseg's ``DATASETS`` registry.
            Default: 'CityscapesDataset'.

    Returns:
        list[str]: The class names; their count is the number of classes.

    Raises:
        KeyError: If the dataset type is not registered.
    """
    dataset_cls = DATASETS.get(dataset_type)
    if dataset_cls is None:
        raise KeyError(f'{dataset_type} is not a registered mmseg dataset; '
                       'pass e.g. CityscapesDataset or ADE20KDataset.')
    return list(dataset_cls.METAINFO['classes'])


def count_label_pixels(path: str,
                       num_classes: int,
                       ignore_index: int = 255) -> np.ndarray:
    """Pixel count of each class in one label map.

    Args:
        path (str): Single-channel label image of class ids.
        num_classes (int): Valid ids are 0..num_classes-1.
        ignore_index (int): The one other valid id, not counted.
            Default: 255.

    Returns:
        np.ndarray: Counts of shape (num_classes, ), int64.

    Raises:
        ValueError: If the file is empty, truncated or not an image, is not
            single-channel, or holds an id that is neither a class nor
            ``ignore_index``.
    """
    try:
        label = read_label_map(path)
    except ValueError as err:
        raise ValueError(f'{err} Restore it (unpack or convert the labels '
                         'again) or move it away.') from err
    counts = np.bincount(label.ravel(),
                         minlength=max(num_classes, ignore_index + 1))
    counts[ignore_index] = 0
    values = np.flatnonzero((counts > 0) & invalid_labels(
        np.arange(len(counts)), num_classes, ignore_index)).tolist()
    if values:
        raise ValueError(
            f'{path} holds label values {values[:10]} outside '
            f'0..{num_classes - 1} and {ignore_index} (ignore). Use train-id '
            'labels (*_labelTrainIds.png, made by mmsegmentation\'s '
            'tools/dataset_converters/cityscapes.py) or pass the classes of '
            'your dataset.')
    return counts[:num_classes].astype(np.int64)


def label_files(label_dir: str, suffix: str = DEFAULT_SUFFIX) -> List[str]:
    """Every ``*suffix`` label file under ``label_dir``, sorted.

    Args:
        label_dir (str): Folder searched recursively.
        suffix (str): File name ending of the label maps.
            Default: '_gtFine_labelTrainIds.png'.

    Returns:
        list[str]: Paths (``label_dir`` joined with each relative path).

    Raises:
        FileNotFoundError: If no label file matches.
    """
    paths = sorted(scandir(label_dir, suffix, recursive=True)) \
        if osp.isdir(label_dir) else []
    if not paths:
        raise FileNotFoundError(
            f'No *{suffix} files under {label_dir}; check LABEL_DIR and '
            '--suffix.')
    return [osp.join(label_dir, path) for path in paths]


def count_label_folder(label_dir: str,
                       num_classes: int,
                       suffix: str = DEFAULT_SUFFIX,
                       ignore_index: int = 255,
                       nproc: int = 1,
                       progress: bool = True) -> Dict:
    """Total pixel counts of every ``*suffix`` label under ``label_dir``.

    Args:
        label_dir (str): Folder searched recursively.
        num_classes (int): Number of classes.
        suffix (str): File name ending of the label maps.
            Default: '_gtFine_labelTrainIds.png'.
        ignore_index (int): Label value that is not counted. Default: 255.
        nproc (int): Worker processes. Default: 1.
        progress (bool): Show a progress bar. Default: True.

    Returns:
        dict: ``pixel_counts`` (list of int), ``frequencies`` (list of
        float, summing to 1) and ``num_files``.

    Raises:
        FileNotFoundError: If no label file matches.
        ValueError: If a label is invalid or no pixel is labelled.
    """
    paths = label_files(label_dir, suffix)
    count = partial(count_label_pixels, num_classes=num_classes,
                    ignore_index=ignore_index)
    counts = np.sum(
        map_with_progress(count, paths, nproc, progress, chunksize=8),
        axis=0)
    if counts.sum() == 0:
        raise ValueError(f'Every pixel under {label_dir} is {ignore_index} '
                         '(ignored); there is nothing to count.')
    return dict(pixel_counts=counts.tolist(),
                frequencies=(counts / counts.sum()).tolist(),
                num_files=len(paths))


def class_frequency_table(classes: Sequence[str],
                          pixel_counts: Sequence[int],
                          c: float = 1.02) -> PrettyTable:
    """Frequency, OWFL balance (alpha) and focusing (gamma) of each class.

    Args:
        classes (Sequence[str]): Class names.
        pixel_counts (Sequence[int]): Pixel count of each class.
        c (float): OWFL constant of eq. 4. Default: 1.02.

    Returns:
        PrettyTable: Columns class, pixels, frequency, alpha, gamma.

    Raises:
        ValueError: If OWFL cannot use the counts (e.g. a class has no
            pixel), naming the reason.
    """
    freqs = load_class_frequencies(list(pixel_counts), len(classes))
    alpha, gamma = owfl_alpha_gamma(freqs, c)
    table = PrettyTable(
        field_names=['class', 'pixels', 'frequency', 'alpha', 'gamma'])
    table.align['class'] = 'l'
    for row in zip(classes, pixel_counts, freqs.tolist(), alpha.tolist(),
                   gamma.tolist()):
        name, pixels, freq, a, g = row
        table.add_row([name, pixels, f'{freq:.5f}', f'{a:.3f}', int(g)])
    return table


def check_output_file(out: str, overwrite: bool = False) -> None:
    """Fail before any work if ``out`` cannot be written as a new file.

    Args:
        out (str): The JSON file to write; missing folders are created.
        overwrite (bool): Allow replacing an existing file. Default: False.

    Raises:
        IsADirectoryError: If ``out`` is a folder.
        NotADirectoryError: If a parent of ``out`` is a file.
        PermissionError: If the folder of ``out`` cannot be written.
        FileExistsError: If ``out`` exists and ``overwrite`` is False.
    """
    if osp.isdir(out) or out.endswith((os.sep, '/')):
        raise IsADirectoryError(
            f'--out {out} is a folder; pass a file name such as '
            f'{osp.join(out, "class_frequency.json")}.')
    folder = osp.dirname(osp.abspath(out))
    existing = folder
    while not osp.exists(existing):
        existing = osp.dirname(existing)
    if not osp.isdir(existing):
        raise NotADirectoryError(
            f'--out {out}: {existing} is a file, not a folder; choose '
            'another --out.')
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(
            f'--out {out}: folder {existing} is not writable; choose '
            'another --out.')
    if not overwrite:
        refuse_existing([out], 'Pass --force to replace it, or choose '
                        'another --out.')


def write_class_frequency(label_dir: str,
                          out: str,
                          classes: Optional[Sequence[str]] = None,
                          suffix: str = DEFAULT_SUFFIX,
                          ignore_index: int = 255,
                          overwrite: bool = False,
                          nproc: int = 1,
                          progress: bool = True) -> Dict:
    """Count the class frequencies of a label folder and write their JSON.

    ``out`` is checked before counting: a folder, an unwritable place, an
    existing file (unless ``overwrite``) or one of the label files counted
    (even with ``overwrite``) fail at once. The file is written atomically.

    Args:
        label_dir (str): Folder of label maps, searched recursively.
        out (str): JSON file to write.
        classes (Sequence[str], optional): Class names; their number is the
            number of classes. None: Cityscapes' (``CityscapesDataset``'s
            ``METAINFO``). Default: None.
        suffix (str): File name ending of the label maps.
            Default: '_gtFine_labelTrainIds.png'.
        ignore_index (int): Label value that is not counted. Default: 255.
        overwrite (bool): Replace an existing ``out``. Default: False.
        nproc (int): Worker processes. Default: 1.
        progress (bool): Show a progress bar. Default: True.

    Returns:
        dict: The content written: ``classes``, ``pixel_counts``,
        ``frequencies`` and ``source``.
    """
    check_output_file(out, overwrite)
    refuse_inputs([out], label_files(label_dir, suffix),
                  'Pass an --out outside the label files, e.g. '
                  'work_dirs/class_frequency.json.')
    classes = list(classes or dataset_classes('CityscapesDataset'))
    result = count_label_folder(label_dir, len(classes), suffix,
                                ignore_index, nproc, progress)
    content = dict(
        classes=classes,
        pixel_counts=result['pixel_counts'],
        frequencies=result['frequencies'],
        source=f'Pixel counts of {result["num_files"]} *{suffix} label '
        f'files under {osp.abspath(label_dir)} ({ignore_index} excluded), '
        'written by mmseg_affnet.datasets.class_frequency.')
    atomic_write_text(out, json.dumps(content, indent=2), overwrite=overwrite)
    return content
