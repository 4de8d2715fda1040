"""Cut the extended training set of AFFNet: overlapping patches of every image.

The paper (Sec. IV.A) enlarges Cityscapes' 2,975 training images to 23,800
by cutting 8 partially overlapping 880x880 patches from each 1024x2048 image
and its label. The patches form a rows x cols grid (2 x 4 for Cityscapes)
whose origins are evenly spread from 0 to ``size - patch``, so every pixel is
covered.

Output mirrors the Cityscapes layout with a ``_pNN`` suffix before the
Cityscapes suffix, so mmseg's ``CityscapesDataset`` reads it unchanged::

    OUT_ROOT/leftImg8bit/train/<city>/<stem>_p00_leftImg8bit.png
    OUT_ROOT/gtFine/train/<city>/<stem>_p00_gtFine_labelTrainIds.png

The tool resumes: patches already written are skipped (each file is written
to a temporary name and renamed, so a file that exists is complete). It never
writes into the source root.

Example:
    python tools/make_patches.py data/cityscapes data/cityscapes_patches
"""
import argparse
import glob
import math
import os
import os.path as osp
from functools import partial
from multiprocessing import Pool
from typing import List, Sequence, Tuple

import cv2
import numpy as np
from tqdm import tqdm

IMG_SUFFIX = '_leftImg8bit.png'
SEG_MAP_SUFFIX = '_gtFine_labelTrainIds.png'


def patch_origins(length: int, patch: int, count: int) -> List[int]:
    """Evenly spread start offsets of ``count`` patches along one axis.

    The first patch starts at 0 and the last ends at ``length``; together
    they cover the whole axis when ``count * patch >= length``.

    Args:
        length (int): Size of the axis (pixels).
        patch (int): Patch size along the axis (pixels).
        count (int): Number of patches along the axis.

    Returns:
        list[int]: ``count`` non-decreasing offsets in [0, length - patch].

    Raises:
        ValueError: If the patch is larger than the axis, ``count`` is not
            positive, or the patches cannot cover the axis.
    """
    if patch > length:
        raise ValueError(
            f'Patch size {patch} exceeds the image size {length}.')
    if count < 1 or count * patch < length:
        raise ValueError(
            f'{count} patches of {patch} px cannot cover {length} px; at '
            f'least {math.ceil(length / patch)} are needed.')
    if count == 1:
        return [0]
    return [round(i * (length - patch) / (count - 1)) for i in range(count)]


def choose_grid(height: int, width: int, patch: int,
                per_image: int) -> Tuple[int, int]:
    """Rows x cols factorisation of ``per_image`` that covers the image.

    Among the factorisations whose patches cover every pixel, the one whose
    cols/rows ratio is closest to the image's aspect ratio is chosen
    (1024x2048, 880 px, 8 patches -> 2 x 4).

    Args:
        height (int): Image height.
        width (int): Image width.
        patch (int): Square patch size.
        per_image (int): Number of patches per image.

    Returns:
        tuple[int, int]: (rows, cols) with rows * cols == per_image.

    Raises:
        ValueError: If the patch exceeds the image, or no factorisation
            covers it.
    """
    if patch > min(height, width):
        raise ValueError(
            f'Patch size {patch} exceeds the image size {height}x{width}; '
            'choose a smaller --patch.')
    covering = [(rows, per_image // rows) for rows in range(1, per_image + 1)
                if per_image % rows == 0 and rows * patch >= height
                and per_image // rows * patch >= width]
    if not covering:
        needed = math.ceil(height / patch) * math.ceil(width / patch)
        raise ValueError(
            f'No rows x cols grid of {per_image} patches of {patch} px covers '
            f'a {height}x{width} image (at least {needed} patches are '
            'needed); raise --per-image or --patch.')
    aspect = width / height
    return min(covering,
               key=lambda rc: abs(math.log(rc[1] / rc[0] / aspect)))


def patch_boxes(height: int, width: int, patch: int,
                per_image: int) -> List[Tuple[int, int]]:
    """Top-left corners (y, x) of the patches of one image, row-major.

    Args:
        height (int): Image height.
        width (int): Image width.
        patch (int): Square patch size.
        per_image (int): Number of patches per image.

    Returns:
        list[tuple[int, int]]: ``per_image`` corners (y, x).
    """
    rows, cols = choose_grid(height, width, patch, per_image)
    return [(y, x) for y in patch_origins(height, patch, rows)
            for x in patch_origins(width, patch, cols)]


def find_samples(root: str, split: str) -> List[Tuple[str, str]]:
    """Image and label paths of a Cityscapes split.

    Args:
        root (str): Cityscapes root holding ``leftImg8bit/`` and ``gtFine/``.
        split (str): Split folder name, e.g. 'train'.

    Returns:
        list[tuple[str, str]]: Sorted (image, label) path pairs.

    Raises:
        FileNotFoundError: If the split has no images or a label is missing.
    """
    img_dir = osp.join(root, 'leftImg8bit', split)
    images = sorted(glob.glob(osp.join(img_dir, '*', '*' + IMG_SUFFIX)))
    if not images:
        raise FileNotFoundError(
            f'No *{IMG_SUFFIX} images under {img_dir}. CITYSCAPES_ROOT must '
            'hold leftImg8bit/<split>/<city>/ and gtFine/<split>/<city>/.')
    samples = []
    for image in images:
        relative = osp.relpath(image, img_dir)[:-len(IMG_SUFFIX)]
        label = osp.join(root, 'gtFine', split, relative + SEG_MAP_SUFFIX)
        if not osp.isfile(label):
            raise FileNotFoundError(
                f'Label {label} of {image} is missing. Create the '
                '*_labelTrainIds.png files with mmsegmentation\'s '
                'tools/dataset_converters/cityscapes.py first.')
        samples.append((image, label))
    return samples


def output_paths(image: str, label: str, src_root: str, out_root: str,
                 index: int) -> Tuple[str, str]:
    """Image and label path of patch ``index`` of one source sample.

    Args:
        image (str): Source image path under ``src_root``.
        label (str): Source label path under ``src_root``.
        src_root (str): Source Cityscapes root.
        out_root (str): Output root.
        index (int): Patch index within the image.

    Returns:
        tuple[str, str]: Output image and label paths.
    """
    def rename(path, suffix):
        relative = osp.relpath(path, src_root)[:-len(suffix)]
        return osp.join(out_root, f'{relative}_p{index:02d}{suffix}')

    return rename(image, IMG_SUFFIX), rename(label, SEG_MAP_SUFFIX)


def _write_atomic(path: str, array: np.ndarray):
    """Write a PNG to a temporary name, then rename it into place."""
    ok, encoded = cv2.imencode('.png', array)
    if not ok:
        raise OSError(f'Could not encode {path} as PNG.')
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp_path = path + '.part'
    with open(tmp_path, 'wb') as f:
        f.write(encoded.tobytes())
    os.replace(tmp_path, path)


def _read(path: str) -> np.ndarray:
    array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if array is None:
        raise OSError(f'Could not read {path}: not an image or unreadable.')
    return array


def cut_sample(sample: Tuple[str, str], src_root: str, out_root: str,
               patch: int, per_image: int) -> int:
    """Write the missing patch files of one image and its label.

    Args:
        sample (tuple[str, str]): Source image and label path.
        src_root (str): Source Cityscapes root.
        out_root (str): Output root.
        patch (int): Square patch size.
        per_image (int): Patches per image.

    Returns:
        int: Number of files written (0 when all already existed).

    Raises:
        ValueError: If image and label sizes differ or the image is smaller
            than the patch.
    """
    image_path, label_path = sample
    missing = [(i, kind, path) for i in range(per_image)
               for kind, path in enumerate(output_paths(
                   image_path, label_path, src_root, out_root, i))
               if not osp.isfile(path)]
    if not missing:
        return 0
    arrays = _read(image_path), _read(label_path)
    if arrays[0].shape[:2] != arrays[1].shape[:2]:
        raise ValueError(f'{image_path} is {arrays[0].shape[:2]} but its '
                         f'label {label_path} is {arrays[1].shape[:2]}.')
    try:
        boxes = patch_boxes(*arrays[0].shape[:2], patch, per_image)
    except ValueError as err:
        raise ValueError(f'{image_path}: {err}') from err
    for i, kind, path in missing:
        y, x = boxes[i]
        _write_atomic(path, arrays[kind][y:y + patch, x:x + patch])
    return len(missing)


def check_roots(src_root: str, out_root: str):
    """Refuse a missing source and any output inside (or equal to) it.

    Raises:
        FileNotFoundError: If ``src_root`` is not a folder.
        ValueError: If ``out_root`` is ``src_root`` or inside it.
    """
    if not osp.isdir(src_root):
        raise FileNotFoundError(f'Cityscapes root {src_root} does not exist.')
    src, out = osp.realpath(src_root), osp.realpath(out_root)
    if out == src or out.startswith(src + os.sep):
        raise ValueError(
            f'OUT_ROOT {out_root} is inside the source root {src_root}; the '
            'source is never written to. Choose a folder outside it, e.g. '
            f'{osp.join(osp.dirname(src) or ".", "cityscapes_patches")}.')


def make_patches(src_root: str,
                 out_root: str,
                 patch: int = 880,
                 per_image: int = 8,
                 split: str = 'train',
                 workers: int = 1,
                 progress: bool = True) -> Tuple[int, int]:
    """Cut ``per_image`` overlapping patches of every image of a split.

    Args:
        src_root (str): Cityscapes root (read only).
        out_root (str): Output root, outside ``src_root``.
        patch (int): Square patch size. Default: 880.
        per_image (int): Patches per image. Default: 8.
        split (str): Split to cut. Default: 'train'.
        workers (int): Worker processes. Default: 1.
        progress (bool): Show a progress bar. Default: True.

    Returns:
        tuple[int, int]: Number of source images, and of files (image and
        label patches) written by this call; files already there are kept.
    """
    check_roots(src_root, out_root)
    samples = find_samples(src_root, split)
    cut = partial(cut_sample, src_root=src_root, out_root=out_root,
                  patch=patch, per_image=per_image)
    bar = partial(tqdm, total=len(samples), desc=f'patches of {split}',
                  disable=not progress)
    if workers > 1:
        with Pool(workers) as pool:
            written = sum(bar(pool.imap_unordered(cut, samples)))
    else:
        written = sum(bar(map(cut, samples)))
    return len(samples), written


def parse_args(argv: Sequence[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Cut overlapping square patches of every image and label '
        'of a Cityscapes split (AFFNet extended training set).')
    parser.add_argument('src_root', metavar='CITYSCAPES_ROOT')
    parser.add_argument('out_root', metavar='OUT_ROOT')
    parser.add_argument('--patch', type=int, default=880,
                        help='square patch size (default: 880)')
    parser.add_argument('--per-image', type=int, default=8,
                        help='patches per image (default: 8)')
    parser.add_argument('--split', default='train')
    parser.add_argument('--workers', type=int, default=1,
                        help='worker processes (default: 1)')
    return parser.parse_args(argv)


def main(argv: Sequence[str] = None):
    args = parse_args(argv)
    try:
        images, written = make_patches(args.src_root, args.out_root,
                                       args.patch, args.per_image,
                                       args.split, args.workers)
    except (ValueError, OSError) as err:
        raise SystemExit(f'error: {err}')
    print(f'{images} images -> {images * args.per_image} image/label patch '
          f'pairs under {args.out_root} ({written} files written now, the '
          'rest were already there).')


if __name__ == '__main__':
    main()
