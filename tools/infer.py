"""Segment images with a trained model; write colour masks and overlays.

For every input image ``NAME.ext`` the tool writes, under ``--out``:

* ``NAME_mask.png``: the predicted classes in the palette of the dataset
  (Cityscapes for this project's configs), the size of the input image;
* ``NAME_overlay.png``: the image blended with that mask,
  ``(1 - opacity) * image + opacity * mask``.

Folders are searched recursively for images; their sub-folders are kept
under ``--out``. Existing files are never overwritten: if an output file
already exists (or two inputs would write the same one), the tool stops
before it loads the model and names the files. An image that cannot be read
is skipped with a message naming it; the others are still processed and the
exit status is 1.

The checkpoint is loaded weights-only (``torch.load(weights_only=True)``).
The message hub of a checkpoint saved by mmengine's Runner holds objects
(history buffers, numpy arrays) that a weights-only load refuses; they are
replaced by inert placeholders, never unpickled. Only ``state_dict`` and
``meta['dataset_meta']`` are used, and the weights must fit the config
exactly.

Example:
    python tools/infer.py configs/affnet_cityscapes.py work_dirs/best.pth \\
        demo/ street.jpg --out results --device cpu --opacity 0.5
"""
import argparse
import os
import os.path as osp
import sys
from typing import Dict, List, NamedTuple, Optional, Sequence

import cv2
import mmcv
import numpy as np
import torch
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.runner import load_state_dict
from mmengine.utils import scandir
from mmseg.apis import inference_model, init_model
from mmseg.registry import DATASETS
from tqdm import tqdm

from mmseg_affnet.engine import load_checkpoint_file

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')
MASK_SUFFIX = '_mask.png'
OVERLAY_SUFFIX = '_overlay.png'


class Discarded:
    """Inert stand-in for a non-weight object in a checkpoint; keeps nothing.

    Allowlisted for the weights-only unpickler under the names of the
    objects it replaces, so those objects are never constructed or called.
    """

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass


# What mmengine's Runner pickles besides weights: MessageHub history
# buffers (with bound methods, pickled through ``getattr``) and numpy data.
DISCARDED_GLOBALS = [(Discarded, name) for name in (
    'mmengine.logging.history_buffer.HistoryBuffer',
    'builtins.getattr',
    'numpy.ndarray',
    'numpy.dtype',
    'numpy._core.multiarray._reconstruct',
    'numpy._core.multiarray.scalar',
    'numpy.core.multiarray._reconstruct',
    'numpy.core.multiarray.scalar',
)]


class Job(NamedTuple):
    """One image to segment and the two files to write for it."""
    image: str
    mask: str
    overlay: str


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        argparse.Namespace: config, checkpoint, images, out, device, opacity.
    """
    parser = argparse.ArgumentParser(
        description='Segment images; write colour masks and overlays.')
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument(
        'images', nargs='+', help='image files and/or folders of images')
    parser.add_argument(
        '--out', required=True, help='output folder (created if missing)')
    parser.add_argument(
        '--device',
        default='cuda:0' if torch.cuda.is_available() else 'cpu',
        help='device, e.g. cpu or cuda:0 (default: cuda:0 if available)')
    parser.add_argument(
        '--opacity',
        type=float,
        default=0.5,
        help='opacity of the mask in the overlay, in [0, 1] (default: 0.5)')
    args = parser.parse_args(argv)
    if not 0 <= args.opacity <= 1:
        parser.error(f'--opacity must be in [0, 1], got {args.opacity}')
    return args


def find_images(path: str) -> List[str]:
    """Image files under a folder (recursively, sorted), or the file itself.

    Args:
        path (str): An image file or a folder.

    Returns:
        list[str]: Image paths relative to ``path`` for a folder, or
        ``[path]``'s base name for a file.

    Raises:
        FileNotFoundError: ``path`` does not exist or a folder has no image.
    """
    if osp.isfile(path):
        return [osp.basename(path)]
    if not osp.isdir(path):
        raise FileNotFoundError(f'No such image file or folder: {path}')
    images = sorted(
        scandir(path, IMAGE_SUFFIXES, recursive=True, case_sensitive=False))
    if not images:
        raise FileNotFoundError(
            f'No images ({", ".join(IMAGE_SUFFIXES)}) found in folder {path}')
    return images


def plan_jobs(inputs: Sequence[str], out_dir: str) -> List[Job]:
    """Pair every input image with its output files, refusing to overwrite.

    Args:
        inputs (Sequence[str]): Image files and folders.
        out_dir (str): Output folder.

    Returns:
        list[Job]: One job per image, in input order.

    Raises:
        FileNotFoundError: An input does not exist or holds no image.
        FileExistsError: An output file exists already, or two inputs would
            write the same output file.
    """
    jobs, writers = [], {}
    for path in inputs:
        root = path if osp.isdir(path) else osp.dirname(path)
        for name in find_images(path):
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
    existing = [
        f for job in jobs for f in (job.mask, job.overlay) if osp.exists(f)
    ]
    if existing:
        raise FileExistsError(
            f'{len(existing)} output file(s) exist already, e.g. '
            f'{", ".join(existing[:3])}; they are never overwritten: choose '
            'another --out folder or move them away.')
    return jobs


def load_checkpoint(path: str) -> Dict:
    """Load a checkpoint weights-only, tolerating Runner message hubs.

    Uses :func:`mmseg_affnet.engine.load_checkpoint_file` (weights-only);
    the non-weight objects of plain mmengine Runner checkpoints become
    :class:`Discarded`, any other object is refused.

    Args:
        path (str): Checkpoint file (or URL): a Runner checkpoint, a dict
            with a ``state_dict``, or a plain state dict.

    Returns:
        dict: The checkpoint.

    Raises:
        FileNotFoundError: ``path`` is not a file.
        RuntimeError: The file holds objects a weights-only load refuses.
    """
    with torch.serialization.safe_globals(DISCARDED_GLOBALS):
        return load_checkpoint_file(path)


def dataset_palette(checkpoint: Dict, cfg: Config,
                    num_classes: int) -> np.ndarray:
    """RGB palette of the checkpoint's dataset, else of the config's.

    Args:
        checkpoint (dict): The loaded checkpoint.
        cfg (Config): The model config; its test dataset class's
            ``METAINFO`` is used when the checkpoint has no ``dataset_meta``.
        num_classes (int): Classes the model predicts.

    Returns:
        np.ndarray: (num_classes, 3) uint8 RGB colours.

    Raises:
        ValueError: The palette does not give a colour to every class.
    """
    meta = checkpoint.get('meta', {})
    dataset_meta = meta.get('dataset_meta') if isinstance(meta, dict) else None
    if dataset_meta is None:
        dataset_meta = DATASETS.get(cfg.test_dataloader.dataset.type).METAINFO
    palette = np.asarray(dataset_meta.get('palette'))
    colours_all = (palette.dtype != object and palette.ndim == 2
                   and palette.shape[1] == 3 and len(palette) >= num_classes)
    if not colours_all:
        raise ValueError(
            f'The dataset palette {palette.tolist()} does not colour all '
            f'{num_classes} classes the model predicts; check that the '
            'config and checkpoint belong together.')
    return palette[:num_classes].astype(np.uint8)


def build_model(config: str, checkpoint_path: str, device: str):
    """Build the model of ``config`` with the checkpoint's weights.

    Args:
        config (str): Config file.
        checkpoint_path (str): Checkpoint file.
        device (str): Device to run on.

    Returns:
        tuple[nn.Module, np.ndarray]: The segmentor in eval mode on
        ``device``, and its (num_classes, 3) RGB palette.
    """
    checkpoint = load_checkpoint(checkpoint_path)
    model = revert_sync_batchnorm(init_model(config, device='cpu'))
    try:
        load_state_dict(
            model, checkpoint.get('state_dict', checkpoint), strict=True)
    except RuntimeError as err:
        raise ValueError(
            f'The weights in {checkpoint_path} do not fit the model of '
            f'{config}; pass the config the checkpoint was trained with.\n'
            f'{err}') from err
    palette = dataset_palette(checkpoint, model.cfg,
                              model.decode_head.num_classes)
    return model.to(device), palette


def write_new_png(path: str, image: np.ndarray) -> None:
    """Write ``image`` (BGR) as a PNG; fail if ``path`` exists already."""
    os.makedirs(osp.dirname(path) or '.', exist_ok=True)
    encoded, buffer = cv2.imencode('.png', image)
    if not encoded:
        raise ValueError(f'Could not encode {path} as PNG.')
    with open(path, 'xb') as file:
        file.write(buffer.tobytes())


def segment(model, palette: np.ndarray, job: Job, opacity: float) -> None:
    """Segment one image and write its colour mask and overlay.

    Args:
        model (nn.Module): The segmentor.
        palette (np.ndarray): (num_classes, 3) uint8 RGB colours.
        job (Job): The image and its output files.
        opacity (float): Opacity of the mask in the overlay.

    Raises:
        ValueError: The image cannot be read.
    """
    image = mmcv.imread(job.image)
    if image is None:
        raise ValueError('not a readable image')
    labels = inference_model(model, image).pred_sem_seg.data[0].cpu().numpy()
    mask = palette[labels][..., ::-1]  # RGB palette -> BGR like the image
    write_new_png(job.mask, mask)
    write_new_png(job.overlay,
                  cv2.addWeighted(image, 1 - opacity, mask, opacity, 0))


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the tool.

    Args:
        argv (Sequence[str], optional): Arguments; ``sys.argv[1:]`` if None.

    Returns:
        int: 0 if every image was segmented, 1 if some were skipped.
    """
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config not found: {args.config}')
    jobs = plan_jobs(args.images, args.out)
    model, palette = build_model(args.config, args.checkpoint, args.device)
    skipped = []
    for job in tqdm(jobs, desc='infer', unit='image'):
        try:
            segment(model, palette, job, args.opacity)
        except (OSError, ValueError) as err:
            skipped.append(job.image)
            tqdm.write(f'Skipped {job.image}: {err}')
    print(f'Segmented {len(jobs) - len(skipped)} of {len(jobs)} images into '
          f'{args.out}' + (f'; skipped {len(skipped)}: {", ".join(skipped)}'
                           if skipped else '.'))
    return 1 if skipped else 0


if __name__ == '__main__':
    try:
        sys.exit(main())
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        sys.exit(f'infer.py: error: {error}')
