"""Count the per-class pixel frequencies of a label folder for OWFL.

Writes the JSON that ``mmseg_affnet.models.losses.load_class_frequencies``
reads (``class_frequencies=`` of ``ObjectWeightedFocalLoss``)::

    {"classes": [...], "pixel_counts": [...], "frequencies": [...],
     "source": "..."}

and prints the OWFL balance (alpha) and focusing (gamma) factors they imply.
Pixels labelled 255 are ignored; any other value outside 0..num_classes-1 is
an error naming the file.

Example:
    python tools/class_frequency.py data/cityscapes/gtFine/train \\
        --out work_dirs/cityscapes_class_frequency.json
"""
import argparse
import glob
import json
import os.path as osp
from typing import Dict, List, Sequence

import cv2
import numpy as np
from mmseg.datasets import CityscapesDataset
from tqdm import tqdm

from mmseg_affnet.models.losses import (load_class_frequencies,
                                        owfl_alpha_gamma)

IGNORE_INDEX = 255


def count_label_pixels(path: str, num_classes: int) -> np.ndarray:
    """Pixel count of each class in one label map.

    Args:
        path (str): Single-channel label image of class ids.
        num_classes (int): Valid ids are 0..num_classes-1 (and 255).

    Returns:
        np.ndarray: Counts of shape (num_classes, ), int64.

    Raises:
        ValueError: If the file is unreadable, not single-channel, or holds
            an id that is neither a class nor 255.
    """
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None or label.ndim != 2:
        raise ValueError(
            f'{path} is not a single-channel label image (expected class ids '
            'such as *_gtFine_labelTrainIds.png, not colour labels).')
    counts = np.bincount(label.ravel(), minlength=IGNORE_INDEX + 1)
    counts[IGNORE_INDEX] = 0
    bad = np.flatnonzero(counts[num_classes:])
    if bad.size:
        values = (bad + num_classes).tolist()
        raise ValueError(
            f'{path} holds label values {values} outside '
            f'0..{num_classes - 1} and {IGNORE_INDEX}. Use train-id labels '
            '(*_labelTrainIds.png, made by mmsegmentation\'s '
            'tools/dataset_converters/cityscapes.py) or set --num-classes.')
    return counts[:num_classes].astype(np.int64)


def count_folder(label_dir: str, suffix: str, num_classes: int,
                 progress: bool = True) -> Dict:
    """Total pixel counts of every ``*suffix`` label under ``label_dir``.

    Args:
        label_dir (str): Folder searched recursively.
        suffix (str): File name ending of the label maps.
        num_classes (int): Number of classes.
        progress (bool): Show a progress bar. Default: True.

    Returns:
        dict: ``pixel_counts`` (list of int), ``frequencies`` (list of
        float, summing to 1) and ``num_files``.

    Raises:
        FileNotFoundError: If no label file matches.
        ValueError: If a label is invalid or no pixel is labelled.
    """
    paths = sorted(glob.glob(osp.join(label_dir, '**', '*' + suffix),
                             recursive=True))
    if not paths:
        raise FileNotFoundError(
            f'No *{suffix} files under {label_dir}; check LABEL_DIR and '
            '--suffix.')
    counts = np.zeros(num_classes, np.int64)
    for path in tqdm(paths, desc='labels', disable=not progress):
        counts += count_label_pixels(path, num_classes)
    if counts.sum() == 0:
        raise ValueError(f'Every pixel under {label_dir} is {IGNORE_INDEX} '
                         '(ignored); there is nothing to count.')
    return dict(pixel_counts=counts.tolist(),
                frequencies=(counts / counts.sum()).tolist(),
                num_files=len(paths))


def default_class_names(num_classes: int) -> List[str]:
    """Cityscapes' names for 19 classes, else ``class_<i>``."""
    cityscapes = list(CityscapesDataset.METAINFO['classes'])
    if num_classes == len(cityscapes):
        return cityscapes
    return [f'class_{i}' for i in range(num_classes)]


def alpha_gamma_table(classes: Sequence[str], pixel_counts: Sequence[int],
                      c: float = 1.02) -> str:
    """Text table of frequency, OWFL alpha and gamma per class.

    Args:
        classes (Sequence[str]): Class names.
        pixel_counts (Sequence[int]): Pixel count of each class.
        c (float): OWFL constant of eq. 4. Default: 1.02.

    Returns:
        str: The table, or the reason OWFL cannot use these counts.
    """
    try:
        freqs = load_class_frequencies(list(pixel_counts), len(classes))
    except ValueError as err:
        return f'OWFL cannot use these counts as they are: {err}'
    alpha, gamma = owfl_alpha_gamma(freqs, c)
    width = max(len(name) for name in classes)
    rows = [f'{"class":<{width}}  frequency   alpha  gamma']
    rows += [f'{name:<{width}}  {f:9.5f}  {a:6.3f}  {g:5.0f}'
             for name, f, a, g in zip(classes, freqs.tolist(),
                                      alpha.tolist(), gamma.tolist())]
    return '\n'.join(rows)


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Per-class pixel frequencies of a label folder, written '
        'as the JSON that ObjectWeightedFocalLoss(class_frequencies=...) '
        'reads.')
    parser.add_argument('label_dir', metavar='LABEL_DIR')
    parser.add_argument('--num-classes', type=int, default=19)
    parser.add_argument('--suffix', default='_gtFine_labelTrainIds.png',
                        help='label file name ending')
    parser.add_argument('--classes', nargs='+', metavar='NAME',
                        help='class names (default: Cityscapes names for 19 '
                        'classes, else class_<i>)')
    parser.add_argument('--out', required=True, metavar='FILE.json')
    parser.add_argument('--force', action='store_true',
                        help='overwrite an existing --out file')
    return parser.parse_args(argv)


def main(argv: Sequence[str] = None):
    args = parse_args(argv)
    classes = args.classes or default_class_names(args.num_classes)
    if len(classes) != args.num_classes:
        raise SystemExit(f'error: --classes names {len(classes)} classes but '
                         f'--num-classes is {args.num_classes}.')
    if osp.exists(args.out) and not args.force:
        raise SystemExit(f'error: {args.out} exists; pass --force to '
                         'overwrite it or choose another --out.')
    try:
        result = count_folder(args.label_dir, args.suffix, args.num_classes)
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f'error: {err}')
    content = dict(
        classes=classes,
        pixel_counts=result['pixel_counts'],
        frequencies=result['frequencies'],
        source=f'Pixel counts of {result["num_files"]} *{args.suffix} label '
        f'files under {osp.abspath(args.label_dir)} ({IGNORE_INDEX} '
        'excluded), written by tools/class_frequency.py.')
    with open(args.out, 'w') as f:
        json.dump(content, f, indent=2)
    print(alpha_gamma_table(classes, result['pixel_counts']))
    print(f'Wrote {args.out}')


if __name__ == '__main__':
    main()
