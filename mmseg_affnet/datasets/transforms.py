"""Transforms that validate samples on their way into the model."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckSegLabels(BaseTransform):
    """Reject a label map with values other than class ids and ignore_index.

    Put it right after ``LoadAnnotations``. A Cityscapes ``*_labelIds.png``
    (ids up to 33) loaded in place of ``*_labelTrainIds.png`` would
    otherwise train and evaluate on wrong classes without any error.

    Optional keys: ``gt_seg_map`` (a sample without labels, as in
    ``mmseg.apis.inference_model``, passes through); ``seg_map_path`` names
    the file in the error.

    Args:
        num_classes (int): Valid labels are 0..num_classes-1. Default: 19.
        ignore_index (int): The one other valid label. Default: 255.
    """

    def __init__(self, num_classes: int = 19, ignore_index: int = 255):
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
            ValueError: If the label map holds an invalid value.
        """
        seg_map = results.get('gt_seg_map')
        if seg_map is None:
            return results
        invalid = ((seg_map < 0) | (seg_map >= self.num_classes)) & (
            seg_map != self.ignore_index)
        if invalid.any():
            values = np.unique(seg_map[invalid]).tolist()
            raise ValueError(
                f'Label map {results.get("seg_map_path")} holds values '
                f'{values[:10]} outside 0..{self.num_classes - 1} and '
                f'{self.ignore_index} (ignore). Cityscapes label maps must '
                'hold train ids: use the *_gtFine_labelTrainIds.png files '
                "that mmseg's tools/dataset_converters/cityscapes.py writes, "
                'not *_gtFine_labelIds.png.')
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')
