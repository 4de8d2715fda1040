"""Segment image files with a trained model; write colour masks and overlays.

For every input image ``NAME.ext``, :func:`segment_images` writes under
``out_dir``:

* ``NAME_mask.png``: the predicted classes in the dataset's palette, at the
  input image's size;
* ``NAME_overlay.png``: the image blended with that mask,
  ``(1 - opacity) * image + opacity * mask``.

Folders are searched recursively (hidden files, whose name starts with
``.``, are left out as mmseg's datasets leave them out); their sub-folders
are kept under ``out_dir``. Nothing is overwritten: existing outputs (or two
inputs that would write the same file) are refused before the model is
loaded, and every file is written atomically. Every entry that is not
segmented is skipped and reported with its reason, and the others are still
segmented: an image that cannot be read (an empty, truncated, non-image or
unreadable file), one that cannot be segmented (e.g. an image so thin that
the test pipeline's resize scales its height to no pixel), and an entry
named as an image that is not a file (a symbolic link that loops or leads
nowhere, a named pipe). An error that stops the run (e.g. a full disk) or
Ctrl+C says how many images were segmented before it, and names those
skipped.

The model is built by :func:`mmseg_affnet.engine.init_segmentor` (weights-only,
strict loading); mmseg's :class:`~mmseg.apis.MMSegInferencer` runs the
config's test pipeline and the model, and mmseg's
:class:`~mmseg.visualization.SegLocalVisualizer` draws the mask and overlay.
The palette is the checkpoint's ``meta['dataset_meta']``, else the config's
test dataset ``METAINFO``.

Example:
    >>> from mmseg_affnet.apis.infer import segment_images
    >>> summary = segment_images('configs/affnet_cityscapes.py', 'best.pth',
    ...                          ['street.jpg', 'demo/'], 'results')
"""
import os
import os.path as osp
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import torch.nn as nn
from mmengine.config import Config
from mmengine.structures import PixelData
from mmengine.utils import ProgressBar
from mmseg.apis import MMSegInferencer
from mmseg.structures import SegDataSample
from mmseg.visualization import SegLocalVisualizer

from ..utils.image import UnreadableImageError, read_image, write_png
from ..utils.io import check_output_folder, not_a_file, refuse_existing
from ..engine.segmentor import init_segmentor
from ..utils.cli import Interrupted, interrupt_name
from ..utils.config import load_config
from ..utils.device import resolve_device

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
MASK_SUFFIX = '_mask.png'
OVERLAY_SUFFIX = '_overlay.png'


class Job(NamedTuple):
    """One image to segment and the two files to write for it."""
    image: str
    mask: str
    overlay: str


class InferenceSummary(NamedTuple):
    """What :func:`segment_images` did.

    Attributes:
        segmented (list[Job]): The images segmented, with their outputs.
        skipped (list[tuple[str, str]]): Each entry not segmented (an image
            that could not be read or segmented, an entry named as an image
            that is not a file), and why.
    """
    segmented: List[Job]
    skipped: List[Tuple[str, str]]


def find_images(path: str) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Image files under a folder (recursively, sorted), or the file itself,
    and the entries named as images that are not files.

    A folder is searched through its sub-folders (links to folders
    followed, each folder once). An entry with an image suffix that is
    neither a file nor a folder (a symbolic link that loops or leads
    nowhere, a named pipe) and a sub-folder that cannot be listed are
    returned as skipped, with the reason.

    Args:
        path (str): An image file or a folder.

    Returns:
        tuple[list[str], list[tuple[str, str]]]: Image paths relative to
        ``path`` for a folder, or ``path``'s base name for a file; and the
        skipped entries (full path, reason), sorted.

    Raises:
        FileNotFoundError: ``path`` does not exist, or a folder holds
            neither an image nor an entry named as one.
    """
    if osp.isfile(path):
        return [osp.basename(path)], []
    if not osp.lexists(path):
        raise FileNotFoundError(f'No such image file or folder: {path}')
    if not osp.isdir(path):
        return [], [(path, not_a_file(path))]
    images, skipped, searched = [], [], set()
    _search_folder(path, path, images, skipped, searched)
    if not images and not skipped:
        raise FileNotFoundError(
            f'No images ({", ".join(IMAGE_SUFFIXES)}) found in folder {path}')
    return sorted(images), sorted(skipped)


def _search_folder(root: str, folder: str, images: List[str],
                   skipped: List[Tuple[str, str]], searched: set) -> None:
    """Add the images under ``folder`` (relative to ``root``) and the
    skipped entries to the lists; ``searched`` holds the (device, inode)
    of the folders searched, so that a link back up is not followed
    forever."""
    info = os.stat(folder)
    if (info.st_dev, info.st_ino) in searched:
        return
    searched.add((info.st_dev, info.st_ino))
    try:
        names = os.listdir(folder)
    except OSError as error:
        skipped.append((folder, f'the folder cannot be listed '
                        f'({error.strerror})'))
        return
    for name in names:
        entry = osp.join(folder, name)
        if osp.isdir(entry):
            _search_folder(root, entry, images, skipped, searched)
        elif name.lower().endswith(IMAGE_SUFFIXES) and \
                not name.startswith('.'):
            if osp.isfile(entry):
                images.append(osp.relpath(entry, root))
            else:
                skipped.append((entry, not_a_file(entry)))


def plan_jobs(inputs: Sequence[str],
              out_dir: str) -> Tuple[List[Job], List[Tuple[str, str]]]:
    """Pair every input image with its output files, refusing to overwrite.

    Args:
        inputs (Sequence[str]): Image files and folders.
        out_dir (str): Output folder.

    Returns:
        tuple[list[Job], list[tuple[str, str]]]: One job per image, in
        input order; and the entries skipped because they are not files
        (:func:`find_images`), each with the reason.

    Raises:
        FileNotFoundError: An input does not exist or holds no image.
        FileExistsError: An output file exists already, or two inputs would
            write the same output file.
    """
    jobs, writers, skipped = [], {}, []
    for path in inputs:
        root = path if osp.isdir(path) else osp.dirname(path)
        names, not_files = find_images(path)
        skipped.extend(not_files)
        for name in names:
            stem = osp.join(out_dir, osp.splitext(name)[0])
            job = Job(osp.join(root, name), stem + MASK_SUFFIX,
                      stem + OVERLAY_SUFFIX)
            if job.mask in writers:
                raise FileExistsError(
                    f'{writers[job.mask]} and {job.image} would both be '
                    f'written to {job.mask}; rename one or run them with '
                    'different --out folders.')
            writers[job.mask] = job.image
            jobs.append(job)
    refuse_existing([f for job in jobs for f in (job.mask, job.overlay)],
                    'Outputs are never overwritten: choose another --out '
                    'folder or move them away.')
    return jobs, skipped


class SegmentorInferencer(MMSegInferencer):
    """mmseg's inferencer around a model built by :func:`init_segmentor`.

    Only model building (the project's one weights-only, strict loader) and
    the visualizer (one without storage backends, so that nothing is written
    besides the requested files) differ from ``MMSegInferencer``; the test
    pipeline (without ``LoadAnnotations``), collation and prediction are
    mmseg's.

    Args:
        config (str | Config): Model config; ``mmseg::`` paths allowed.
        checkpoint (str): Checkpoint file.
        device (str, optional): Device; None picks CUDA if available.
            Default: None.
    """

    def __init__(self,
                 config,
                 checkpoint: str,
                 device: Optional[str] = None) -> None:
        super().__init__(load_config(config), checkpoint, device=device)
        self.show_progress = False

    def _init_model(self, cfg: Config, weights: Optional[str],
                    device: str = 'cpu') -> nn.Module:
        return init_segmentor(cfg, weights, device)

    def _init_visualizer(self, cfg: Config) -> SegLocalVisualizer:
        name = f'{type(self).__name__}_{id(self)}'
        return SegLocalVisualizer.get_instance(name)


def dataset_palette(model: nn.Module) -> Tuple[List[str], np.ndarray]:
    """Class names and RGB palette of the model's ``dataset_meta``.

    Args:
        model (nn.Module): A segmentor from :func:`init_segmentor`.

    Returns:
        tuple[list[str], np.ndarray]: The classes the model predicts and
        their (num_classes, 3) uint8 RGB colours.

    Raises:
        ValueError: The palette does not give a colour to every class.
    """
    num_classes = model.decode_head.num_classes
    meta = getattr(model, 'dataset_meta', None) or {}
    palette = np.asarray(meta.get('palette'))
    classes = list(meta.get('classes') or [])
    colours_all = (palette.dtype != object and palette.ndim == 2
                   and palette.shape[1] == 3 and len(palette) >= num_classes
                   and len(classes) >= num_classes)
    if not colours_all:
        raise ValueError(
            f'The dataset palette {palette.tolist()} and classes {classes} '
            f'do not cover the {num_classes} classes the model predicts; '
            'check that the config and checkpoint belong together.')
    return classes[:num_classes], palette[:num_classes].astype(np.uint8)


def draw_mask_and_overlay(visualizer: SegLocalVisualizer, image: np.ndarray,
                          prediction: SegDataSample,
                          opacity: float) -> Tuple[np.ndarray, np.ndarray]:
    """Colour mask and overlay of a prediction, by mmseg's visualizer.

    Args:
        visualizer (SegLocalVisualizer): With ``dataset_meta`` set.
        image (np.ndarray): (H, W, 3) uint8 BGR image.
        prediction (SegDataSample): Its prediction, ``pred_sem_seg`` of
            shape (1, H, W).
        opacity (float): Opacity of the mask in the overlay, in [0, 1].

    Returns:
        tuple[np.ndarray, np.ndarray]: The mask and the overlay, (H, W, 3)
        uint8 BGR.
    """
    rgb = image[..., ::-1]
    # The visualizer indexes its mask with ``labels == class``; a torch
    # tensor of one element (a 1 x 1 image) is taken by numpy as the
    # integer index 0 or 1, not as a boolean mask. A numpy array is not.
    prediction = SegDataSample(pred_sem_seg=PixelData(
        data=prediction.pred_sem_seg.data.cpu().numpy()))
    drawn = []
    for alpha in (1.0, opacity):  # alpha 1: the mask alone
        visualizer.alpha = alpha
        visualizer.add_datasample('prediction', rgb, prediction,
                                  draw_gt=False, with_labels=False)
        drawn.append(visualizer.get_image()[..., ::-1])
    return drawn[0], drawn[1]


def segment_images(config,
                   checkpoint: str,
                   inputs: Sequence[str],
                   out_dir: str,
                   device: Optional[str] = None,
                   opacity: float = 0.5,
                   progress: bool = True,
                   cfg_options: Optional[dict] = None) -> InferenceSummary:
    """Segment image files and folders; write masks and overlays.

    Args:
        config (str | Config): Model config; ``mmseg::`` paths allowed.
        checkpoint (str): Checkpoint file, loaded weights-only and strictly.
        inputs (Sequence[str]): Image files and folders (searched
            recursively).
        out_dir (str): Output folder, created if missing.
        device (str, optional): Device (checked by
            :func:`mmseg_affnet.utils.resolve_device`); None picks CUDA if
            available. Default: None.
        opacity (float): Opacity of the mask in the overlay, in [0, 1].
            Default: 0.5.
        progress (bool): Show a progress bar. Default: True.
        cfg_options (dict, optional): Overrides merged into the config
            (mmseg's ``--cfg-options``). Default: None.

    Returns:
        InferenceSummary: The images segmented and the entries skipped, each
        with the reason.

    Raises:
        ValueError: ``opacity`` is outside [0, 1], the device is unknown or
            absent, the checkpoint does not fit the config, or the palette
            does not cover the classes.
        FileNotFoundError: The config, checkpoint or an input is missing.
        FileExistsError: An output exists already (checked before the model
            is loaded).
        NotADirectoryError: ``out_dir`` or a parent of it is a file.
        OSError: A mask or overlay cannot be written; the message (a note)
            says how many images were segmented before, and names those
            skipped.
        Interrupted: Ctrl+C while segmenting, with the same account.
    """
    if not 0 <= opacity <= 1:
        raise ValueError(f'opacity must be in [0, 1], got {opacity}.')
    device = resolve_device(device)
    cfg = load_config(config, cfg_options)
    check_output_folder(out_dir, '--out')
    jobs, skipped = plan_jobs(inputs, out_dir)
    inferencer = SegmentorInferencer(cfg, checkpoint, device)
    classes, palette = dataset_palette(inferencer.model)
    visualizer = inferencer.visualizer
    visualizer.dataset_meta = dict(classes=classes, palette=palette.tolist())
    bar = ProgressBar(len(jobs)) if progress else None
    segmented = []
    try:
        for job in jobs:
            drawn = _segment(job.image, inferencer, visualizer, opacity)
            if isinstance(drawn, str):
                skipped.append((job.image, drawn))
            else:
                write_png(job.mask, drawn[0])
                write_png(job.overlay, drawn[1])
                segmented.append(job)
            if bar is not None:
                bar.update()
    except KeyboardInterrupt as stop:
        raise Interrupted(
            f'Stopped by {interrupt_name(stop)}. '
            f'{_done(out_dir, segmented, skipped, len(jobs))}') from None
    except Exception as error:
        error.add_note(_done(out_dir, segmented, skipped, len(jobs)))
        raise
    finally:
        if bar is not None:
            bar.file.write('\n')
    return InferenceSummary(segmented, skipped)


def _segment(path: str, inferencer: SegmentorInferencer,
             visualizer: SegLocalVisualizer,
             opacity: float) -> Union[str, Tuple[np.ndarray, np.ndarray]]:
    """The mask and overlay of one image file, or why it is skipped: it
    cannot be read, or the test pipeline or the model fails on it (e.g. an
    image so thin that the resize scales its height to no pixel)."""
    try:
        image = read_image(path)
    except UnreadableImageError as error:
        return error.reason
    except OSError as error:
        return f'the file cannot be read ({error.strerror})'
    try:
        prediction = inferencer(image, return_datasamples=True)
        return draw_mask_and_overlay(visualizer, image, prediction, opacity)
    except Exception as error:  # noqa: B902 - this image is named, skipped
        kind = type(error).__qualname__
        if type(error).__module__ != 'builtins':
            kind = f'{type(error).__module__}.{kind}'
        detail = ' '.join(str(error).split()) or 'no message'
        return (f'the image cannot be segmented at its size, '
                f'{image.shape[0]}x{image.shape[1]} (height x width): '
                f'{kind}: {detail}')


def _done(out_dir: str, segmented: List[Job],
          skipped: List[Tuple[str, str]], total: int) -> str:
    """What a run stopped early did: the images segmented (their files are
    kept) and every entry skipped, with its reason."""
    text = (f'{len(segmented)} of {total} images were segmented before; '
            f'their masks and overlays are kept in {out_dir}.')
    if skipped:
        text += ' Skipped: ' + '; '.join(
            f'{path} ({reason})' for path, reason in skipped) + '.'
    return text
