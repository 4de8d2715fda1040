"""The extended training set of AFFNet: overlapping patches of every image.

The paper (Sec. IV.A) enlarges Cityscapes' 2,975 training images to 23,800
by cutting 8 partially overlapping 880x880 patches from each 1024x2048 image
and its label. The patches form a rows x cols grid (2 x 4 for Cityscapes)
whose origins are evenly spread from 0 to ``size - patch``, so every pixel is
covered.

Output mirrors the Cityscapes layout with a ``_pNN`` suffix before the
Cityscapes suffix, so mmseg's ``CityscapesDataset`` reads it unchanged::

    OUT_ROOT/leftImg8bit/train/<city>/<stem>_p00_leftImg8bit.png
    OUT_ROOT/gtFine/train/<city>/<stem>_p00_gtFine_labelTrainIds.png
    OUT_ROOT/patches_manifest.json

A run resumes an interrupted one: patches already written are kept (every
file is written atomically, so a file that exists is complete). The manifest
records the source, ``patch`` and ``per_image`` of every split whose patches
are in ``OUT_ROOT``; a rerun with other parameters is refused instead of
silently keeping the old patches. A cut that fails or is stopped before its
first patch takes its record back, and a record whose split folders hold no
file (a run killed before its first patch) is replaced by a run with other
parameters. Nothing is ever written into the source: the real location of
every output file (symbolic links resolved) is checked before it is
written.

Example:
    >>> from mmseg_affnet.datasets.makers import make_patches
    >>> make_patches('data/cityscapes', 'data/cityscapes_patches')
"""
import math
import os
import os.path as osp
from functools import partial
from typing import Dict, List, Optional, Tuple

import cv2
from mmengine.utils import scandir

from ...utils.image import read_image, write_png
from .._progress import map_with_progress
from ..layout import (CITYSCAPES_IMG_SUFFIX as IMG_SUFFIX,
                      CITYSCAPES_SEG_MAP_SUFFIX as SEG_MAP_SUFFIX)
from .manifest import read_manifest, write_manifest

MANIFEST_NAME = 'patches_manifest.json'
MANIFEST_VERSION = 1


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
    images = sorted(scandir(img_dir, IMG_SUFFIX, recursive=True)) \
        if osp.isdir(img_dir) else []
    if not images:
        raise FileNotFoundError(
            f'No *{IMG_SUFFIX} images under {img_dir}. CITYSCAPES_ROOT must '
            'hold leftImg8bit/<split>/<city>/ and gtFine/<split>/<city>/.')
    samples = []
    for image in images:
        label = osp.join(root, 'gtFine', split,
                         image[:-len(IMG_SUFFIX)] + SEG_MAP_SUFFIX)
        image = osp.join(img_dir, image)
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


def _is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or below it; both already real paths."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def refuse_source_target(path: str, src_root: str) -> None:
    """Raise if writing ``path`` would land inside ``src_root``.

    Symbolic links anywhere along ``path`` (e.g. an output ``leftImg8bit``
    that links into the source) are resolved first.

    Args:
        path (str): A file or folder about to be written.
        src_root (str): The source root, never written to.

    Raises:
        ValueError: If the real location of ``path`` is inside ``src_root``.
    """
    real = osp.realpath(path)
    if _is_inside(real, osp.realpath(src_root)):
        raise ValueError(
            f'{path} resolves to {real}, inside the source root {src_root}; '
            'the source is never written to. A folder of OUT_ROOT is (or is '
            'under) a symbolic link into the source: replace it by a real '
            'folder, or choose another OUT_ROOT.')


def _read(path: str):
    try:
        return read_image(path, cv2.IMREAD_UNCHANGED)
    except ValueError as err:
        raise OSError(f'{err} Restore it from the Cityscapes archive.') \
            from None


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
        ValueError: If image and label sizes differ, the image is smaller
            than the patch, or an output would land inside the source.
        OSError: If the image or label cannot be read.
    """
    image_path, label_path = sample
    missing = [(i, kind, path) for i in range(per_image)
               for kind, path in enumerate(output_paths(
                   image_path, label_path, src_root, out_root, i))
               if not osp.isfile(path)]
    if not missing:
        return 0
    for _, _, path in missing:
        refuse_source_target(path, src_root)
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
        write_png(path, arrays[kind][y:y + patch, x:x + patch])
    return len(missing)


def check_roots(src_root: str, out_root: str) -> None:
    """Refuse a missing source and any output inside (or equal to) it.

    Raises:
        FileNotFoundError: If ``src_root`` is not a folder.
        ValueError: If ``out_root`` is ``src_root`` or inside it.
    """
    if not osp.isdir(src_root):
        raise FileNotFoundError(f'Cityscapes root {src_root} does not exist.')
    src, out = osp.realpath(src_root), osp.realpath(out_root)
    if _is_inside(out, src):
        raise ValueError(
            f'OUT_ROOT {out_root} is inside the source root {src_root}; the '
            'source is never written to. Choose a folder outside it, e.g. '
            f'{osp.join(osp.dirname(src) or ".", "cityscapes_patches")}.')


def _read_manifest(out_root: str) -> Dict:
    path = osp.join(out_root, MANIFEST_NAME)
    try:
        manifest = read_manifest(path)
        if manifest is None:
            return dict(version=MANIFEST_VERSION, splits={})
        if not isinstance(manifest.get('splits'), dict):
            raise ValueError('no "splits" entry')
    except (ValueError, AttributeError) as err:
        raise ValueError(
            f'{path} is not a manifest of make_patches ({err}); move it away '
            'or choose another OUT_ROOT.') from err
    return manifest


def split_folder_with_files(out_root: str, split: str) -> Optional[str]:
    """The first output folder of ``split`` that holds a file, if any.

    Args:
        out_root (str): Output root.
        split (str): Split folder name, e.g. 'train'.

    Returns:
        str, optional: ``OUT_ROOT/leftImg8bit/<split>`` or
        ``OUT_ROOT/gtFine/<split>`` when it (or a folder below it) holds a
        file; None when both are missing or hold only folders.
    """
    for top in ('leftImg8bit', 'gtFine'):
        folder = osp.join(out_root, top, split)
        if osp.isdir(folder) and \
                next(scandir(folder, recursive=True), None) is not None:
            return folder
    return None


def check_manifest(out_root: str, split: str, params: Dict) -> Dict:
    """The manifest of ``out_root`` with ``params`` recorded for ``split``.

    Args:
        out_root (str): Output root.
        split (str): The split about to be cut.
        params (dict): ``source``, ``patch`` and ``per_image`` of this run.

    Returns:
        dict: The manifest to write.

    Raises:
        ValueError: If ``split``'s folders hold patches cut with other
            parameters, or files that no manifest records. A record of
            other parameters whose folders hold no file is replaced.
    """
    manifest = _read_manifest(out_root)
    recorded = manifest['splits'].get(split)
    holding = split_folder_with_files(out_root, split)
    if recorded is None and holding is not None:
        raise ValueError(
            f'{holding} already holds files, but '
            f'{osp.join(out_root, MANIFEST_NAME)} does not record how '
            f'split {split!r} was cut, so they cannot be resumed or kept '
            'apart from new patches. Choose an empty OUT_ROOT, or delete '
            'these folders to cut them again.')
    if recorded not in (None, params) and holding is not None:
        changed = ', '.join(f'{key} {recorded.get(key)!r} -> {value!r}'
                            for key, value in params.items()
                            if recorded.get(key) != value)
        raise ValueError(
            f'Split {split!r} under {out_root} was cut with '
            f'patch={recorded.get("patch")}, '
            f'per_image={recorded.get("per_image")} from '
            f'{recorded.get("source")} (see {MANIFEST_NAME}); this run asks '
            f'for other parameters ({changed}). Rerun with the recorded '
            'parameters to resume, or choose another OUT_ROOT (or delete '
            f'{osp.join(out_root, "leftImg8bit", split)} and '
            f'{osp.join(out_root, "gtFine", split)}) for new patches.')
    manifest['splits'][split] = params
    return manifest


def make_patches(src_root: str,
                 out_root: str,
                 patch: int = 880,
                 per_image: int = 8,
                 split: str = 'train',
                 nproc: int = 1,
                 progress: bool = True) -> Tuple[int, int]:
    """Cut ``per_image`` overlapping patches of every image of a split.

    Args:
        src_root (str): Cityscapes root (read only).
        out_root (str): Output root, outside ``src_root``.
        patch (int): Square patch size. Default: 880.
        per_image (int): Patches per image. Default: 8.
        split (str): Split to cut. Default: 'train'.
        nproc (int): Worker processes. Default: 1.
        progress (bool): Show a progress bar. Default: True.

    Returns:
        tuple[int, int]: Number of source images, and of files (image and
        label patches) written by this call; files already there are kept.

    Raises:
        FileNotFoundError: If the source split has no images, or a label is
            missing.
        ValueError: If an output would land in the source, ``out_root`` was
            cut with other parameters, or a sample cannot be cut.
        OSError: If a source file cannot be read.
    """
    if patch < 1 or per_image < 1:
        raise ValueError(f'patch and per_image must be >= 1, got {patch} '
                         f'and {per_image}.')
    check_roots(src_root, out_root)
    samples = find_samples(src_root, split)
    manifest_path = osp.join(out_root, MANIFEST_NAME)
    for path in (manifest_path, osp.join(out_root, 'leftImg8bit', split),
                 osp.join(out_root, 'gtFine', split)):
        refuse_source_target(path, src_root)
    params = dict(source=osp.realpath(src_root), patch=patch,
                  per_image=per_image)
    had_manifest = osp.isfile(manifest_path)
    manifest = check_manifest(out_root, split, params)
    # Recorded before cutting, so that a killed run is resumed only with
    # the same parameters; taken back if the run ends without a patch.
    write_manifest(manifest_path, manifest)
    cut = partial(cut_sample, src_root=src_root, out_root=out_root,
                  patch=patch, per_image=per_image)
    try:
        written = map_with_progress(cut, samples, nproc, progress)
    except BaseException as error:
        if split_folder_with_files(out_root, split) is None:
            _forget_split(manifest_path, manifest, split, had_manifest)
        elif isinstance(error, Exception):
            error.add_note(
                f'The patches of split {split!r} written so far are kept '
                f'and recorded in {manifest_path} (patch={patch}, '
                f'per_image={per_image}): rerun with these parameters to '
                'resume, or delete '
                f'{osp.join(out_root, "leftImg8bit", split)} and '
                f'{osp.join(out_root, "gtFine", split)} to cut with others.')
        raise
    return len(samples), sum(written)


def _forget_split(manifest_path: str, manifest: Dict, split: str,
                  had_manifest: bool) -> None:
    """Take back the record of a split that has no patch: rewrite the
    manifest without it, or remove the manifest this run created if it
    then records no split."""
    del manifest['splits'][split]
    if manifest['splits'] or had_manifest:
        write_manifest(manifest_path, manifest)
    else:
        os.remove(manifest_path)
