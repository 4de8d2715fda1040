"""Check that a dataset folder has the layout mmseg's datasets read."""
import inspect
import os.path as osp
from typing import Iterator, Optional, Tuple

from mmengine.utils import scandir
from mmseg.datasets import CityscapesDataset
from mmseg.registry import DATASETS

from ..utils.config import iter_dicts


def _default_suffixes(dataset_cls: type) -> Tuple[str, str]:
    params = inspect.signature(dataset_cls).parameters
    return params['img_suffix'].default, params['seg_map_suffix'].default


#: The file endings of Cityscapes images and train-id label maps, as mmseg's
#: ``CityscapesDataset`` reads them.
CITYSCAPES_IMG_SUFFIX, CITYSCAPES_SEG_MAP_SUFFIX = _default_suffixes(
    CityscapesDataset)


def check_dataset_layout(dataset_cfg: dict, name: str = 'dataset') -> None:
    """Fail early, naming the path and the fix, if a dataset folder is bad.

    Checks every segmentation dataset of ``dataset_cfg`` (wrappers such as
    ``RepeatDataset`` or ``ConcatDataset`` are unpacked): the image folder
    exists and holds ``*<img_suffix>`` files, and, when the pipeline loads
    annotations, every image has its label map. Datasets without
    ``img_suffix``/``seg_map_suffix`` arguments are not checked. A dataset
    class with a ``check_layout(name)`` method (e.g.
    :class:`mmseg_affnet.datasets.CamVidDataset`) checks its own published
    layout instead, with its own help.

    Args:
        dataset_cfg (dict): A dataset config, as in ``train_dataloader``.
        name (str): What to call the dataset in the error, e.g.
            'train_dataloader'. Default: 'dataset'.

    Raises:
        FileNotFoundError: If the image or label folder does not exist.
        ValueError: If there are no images, or images without label maps.
    """
    for leaf_cfg in leaf_datasets(dataset_cfg):
        suffixes = dataset_suffixes(leaf_cfg)
        if suffixes is not None:
            _check_leaf(leaf_cfg, name, *suffixes)


def leaf_datasets(dataset_cfg: dict) -> Iterator[dict]:
    """Yield the datasets inside wrappers (``dataset=``, ``datasets=``).

    Args:
        dataset_cfg (dict): A dataset config, possibly a wrapper.

    Yields:
        dict: The config of each dataset that is not a wrapper.
    """
    if 'datasets' in dataset_cfg:
        for sub_cfg in dataset_cfg['datasets']:
            yield from leaf_datasets(sub_cfg)
    elif 'dataset' in dataset_cfg:
        yield from leaf_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def dataset_suffixes(dataset_cfg: dict) -> Optional[Tuple[str, str]]:
    """``img_suffix`` and ``seg_map_suffix`` of a segmentation dataset.

    Args:
        dataset_cfg (dict): A dataset config that is not a wrapper.

    Returns:
        tuple[str, str] | None: The suffixes (the config's or the dataset
        class's defaults), or None if the dataset type is unknown or takes
        no such arguments.
    """
    dataset_type = dataset_cfg.get('type')
    dataset_cls = DATASETS.get(dataset_type) if isinstance(
        dataset_type, str) else dataset_type
    if dataset_cls is None:
        return None
    params = inspect.signature(dataset_cls).parameters
    if 'img_suffix' not in params or 'seg_map_suffix' not in params:
        return None
    img_suffix, seg_map_suffix = _default_suffixes(dataset_cls)
    return (dataset_cfg.get('img_suffix', img_suffix),
            dataset_cfg.get('seg_map_suffix', seg_map_suffix))


def _check_leaf(dataset_cfg: dict, name: str, img_suffix: str,
                seg_map_suffix: str) -> None:
    dataset_type = dataset_cfg.get('type')
    dataset_cls = DATASETS.get(dataset_type) if isinstance(
        dataset_type, str) else dataset_type
    if hasattr(dataset_cls, 'check_layout'):
        # A dataset that knows its published layout checks it itself.
        DATASETS.build(dict(dataset_cfg, pipeline=[],
                            lazy_init=True)).check_layout(name)
        return
    data_root = dataset_cfg.get('data_root') or ''
    prefix = dataset_cfg.get('data_prefix', {})
    with_labels = not dataset_cfg.get('ann_file') and loads_annotations(
        dataset_cfg.get('pipeline', []))
    check_image_label_folders(
        osp.join(data_root, prefix.get('img_path', '')),
        osp.join(data_root, prefix.get('seg_map_path', ''))
        if with_labels else None, img_suffix, seg_map_suffix, name,
        _layout_help(data_root, prefix, img_suffix, seg_map_suffix))


def check_image_label_folders(img_dir: str,
                              seg_dir: Optional[str],
                              img_suffix: str,
                              seg_map_suffix: str,
                              name: str = 'dataset',
                              layout_help: str = '',
                              labels_need_images: bool = False) -> None:
    """Check an image folder and its label folder, naming what is wrong.

    Label maps are paired with images by name: ``<name><img_suffix>`` with
    ``<name><seg_map_suffix>``, searched recursively, as mmseg's
    ``BaseSegDataset`` pairs them.

    Args:
        img_dir (str): The image folder.
        seg_dir (str, optional): The label folder; None: images only.
        img_suffix (str): File name ending of the images.
        seg_map_suffix (str): File name ending of the label maps.
        name (str): What to call the dataset in the error.
            Default: 'dataset'.
        layout_help (str): Appended to every error: the expected layout and
            where to get the data. Default: ''.
        labels_need_images (bool): Also refuse label maps without an image
            (in a dataset whose label folder holds only label maps).
            Default: False.

    Raises:
        FileNotFoundError: If a folder does not exist.
        ValueError: If there are no images, or images without label maps
            (or, with ``labels_need_images``, label maps without images).
    """
    if not osp.isdir(img_dir):
        raise FileNotFoundError(
            f'{name}: image folder {img_dir!r} does not exist.{layout_help}')
    images = sorted(_files_with_suffix(img_dir, img_suffix))
    if not images:
        raise ValueError(f'{name}: no *{img_suffix} images under '
                         f'{img_dir!r}.{layout_help}')
    if seg_dir is None:
        return
    if not osp.isdir(seg_dir):
        raise FileNotFoundError(
            f'{name}: label folder {seg_dir!r} does not exist.{layout_help}')
    labels = set(_files_with_suffix(seg_dir, seg_map_suffix))
    stems = [image[:-len(img_suffix)] for image in images]
    unlabelled = [
        stem for stem in stems if stem + seg_map_suffix not in labels
    ]
    if unlabelled:
        example = osp.join(seg_dir, unlabelled[0] + seg_map_suffix)
        raise ValueError(
            f'{name}: {len(unlabelled)} of {len(images)} images under '
            f'{img_dir!r} have no label map, e.g. {example!r} is missing.'
            f'{layout_help}')
    if labels_need_images:
        orphans = sorted(labels - {stem + seg_map_suffix for stem in stems})
        if orphans:
            example = osp.join(img_dir,
                               orphans[0][:-len(seg_map_suffix)] + img_suffix)
            raise ValueError(
                f'{name}: {len(orphans)} of {len(labels)} label maps under '
                f'{seg_dir!r} have no image, e.g. '
                f'{osp.join(seg_dir, orphans[0])!r} has none ({example!r} '
                f'is missing).{layout_help}')


def _files_with_suffix(directory: str, suffix: str) -> Iterator[str]:
    """Yield paths relative to ``directory`` of the files ending in suffix."""
    yield from scandir(directory, suffix, recursive=True)


def loads_annotations(pipeline) -> bool:
    """Whether a pipeline (or any nested part of it) has LoadAnnotations."""
    return any(step.get('type') == 'LoadAnnotations'
               for step in iter_dicts(pipeline))


def _layout_help(data_root: str, prefix: dict, img_suffix: str,
                 seg_map_suffix: str) -> str:
    img_path = prefix.get('img_path') or '.'
    seg_path = prefix.get('seg_map_path') or '.'
    return (
        f'\nExpected under data_root {data_root!r}:\n'
        f'  {img_path}/<city>/*{img_suffix}\n'
        f'  {seg_path}/<city>/*{seg_map_suffix}\n'
        'For real Cityscapes, unpack leftImg8bit/ and gtFine/ there and run '
        "mmseg's tools/dataset_converters/cityscapes.py DATA_ROOT, which "
        'writes the *_gtFine_labelTrainIds.png label maps; the 880x880 '
        'patches of training stage 1 come from tools/make_patches.py. For a '
        'small synthetic set run: python tools/make_demo_dataset.py '
        'DATA_ROOT. To use data elsewhere, pass e.g. --cfg-options '
        'train_dataloader.dataset.data_root=DATA_ROOT '
        'val_dataloader.dataset.data_root=DATA_ROOT')
