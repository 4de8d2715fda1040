"""Transforms that validate samples on their way into the model."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


def invalid_labels(labels: np.ndarray, num_classes: int,
                   ignore_index: int = 255) -> np.ndarray:
    """Where labels are neither a class id ``0..num_classes-1`` nor
    ``ignore_index``: the one label-value check of the transform, the file
    checks and the class-frequency counter.

    Args:
        labels (np.ndarray): Label values of any shape (a label map, or the
            values 0..255 a lookup table maps).
        num_classes (int): Number of classes.
        ignore_index (int): The one other valid label. Default: 255.

    Returns:
        np.ndarray: Boolean mask of the invalid entries.
    """
    return ((labels < 0) | (labels >= num_classes)) & (labels != ignore_index)


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Reject a label map of the wrong size or with values other than class
    ids and ignore_index.

    Put it right after ``LoadAnnotations``, in the training and the test
    pipeline. A Cityscapes ``*_labelIds.png`` (ids up to 33) loaded in place
    of ``*_labelTrainIds.png`` would otherwise train and evaluate on wrong
    classes without any error, and a label of another size than its image
    fails deep inside a crop or the metric with no file named.

    The size is compared with ``ori_shape``, the image's size when it was
    loaded (so a ``Resize`` before ``LoadAnnotations``, as in mmseg's test
    pipelines, is fine). :func:`mmseg_affnet.datasets.check_label_files`
    runs the same checks on every file before a run starts; this transform
    guards files that change afterwards and pipelines run without it.

    Optional keys: ``gt_seg_map`` (a sample without labels, as in
    ``mmseg.apis.inference_model``, passes through); ``ori_shape``;
    ``seg_map_path`` and ``img_path`` name the files in the error.

    Args:
        num_classes (int): Valid labels are 0..num_classes-1; set it to the
            decode head's ``num_classes``.
        ignore_index (int): The one other valid label. Default: 255.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255):
        super().__init__()
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        """Check ``results['gt_seg_map']``.

        Args:
            results (dict): Result dict from ``LoadAnnotations``.

        Returns:
            dict: ``results``, unchanged.

        Raises:
            ValueError: If the label map's size differs from its image's or
                it holds an invalid value.
        """
        seg_map = results.get('gt_seg_map')
        if seg_map is None:
            return results
        image_shape = results.get('ori_shape')
        if image_shape is not None and tuple(seg_map.shape[:2]) != tuple(
                image_shape[:2]):
            raise ValueError(
                f'Label map {results.get("seg_map_path")} is '
                f'{seg_map.shape[0]}x{seg_map.shape[1]} (HxW) but its image '
                f'{results.get("img_path")} is {image_shape[0]}x'
                f'{image_shape[1]}: a label map must have the size of its '
                'image. Check that they belong together.')
        invalid = invalid_labels(seg_map, self.num_classes, self.ignore_index)
        if invalid.any():
            values = np.unique(seg_map[invalid]).tolist()
            label_map = results.get('label_map')
            mapped = (f" after the dataset's label_map {label_map}"
                      if label_map else '')
            raise ValueError(
                f'Label map {results.get("seg_map_path")} holds values '
                f'{values[:10]} outside 0..{self.num_classes - 1} and '
                f'{self.ignore_index} (ignore){mapped}. Cityscapes label '
                'maps must hold train ids: use the *_gtFine_labelTrainIds.png '
                "files that mmseg's tools/dataset_converters/cityscapes.py "
                'writes, not *_gtFine_labelIds.png; for another dataset set '
                'num_classes here and in the decode head to its number of '
                'classes.')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
