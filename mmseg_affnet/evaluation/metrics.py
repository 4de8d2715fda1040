"""IoU metric with the mIoU of each OWFL focusing group (paper Table VII)."""
from collections import OrderedDict
from typing import Dict, List

import numpy as np
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from ..models.losses.utils import (CITYSCAPES_FREQUENCY_FILE,
                                   FrequencySource, load_class_frequencies,
                                   owfl_alpha_gamma)


@METRICS.register_module()
class GammaGroupIoUMetric(IoUMetric):
    """:class:`IoUMetric` plus the mIoU of the classes of each OWFL ``gamma``.

    OWFL gives class ``i`` the focusing exponent
    ``gamma_i = floor(log10(f_i / min_j f_j))`` (see
    :func:`owfl_alpha_gamma`), which splits Cityscapes into frequent (2),
    medium (1) and rare (0) classes. Besides everything ``IoUMetric``
    reports (per-class table, aAcc, mIoU, ...), this metric returns
    ``mIoU_gamma{g}``: the mean IoU, in percent, of the classes with
    ``gamma == g``, and logs which classes form each group. Give it the
    frequencies the loss uses (e.g. the CamVid file for CamVid).

    Args:
        class_frequencies (str | Sequence[float]): Per-class frequencies or
            pixel counts, or a JSON file of them; the same argument as the
            loss's. Default: the Cityscapes train split.
        **kwargs: Arguments of :class:`IoUMetric`.

    Attributes:
        class_iou (dict[str, float]): After an evaluation, the IoU (percent,
            NaN for a class absent from labels and predictions) of each
            class.
        gamma_groups (dict[int, list[str]]): The classes of each gamma.
    """

    def __init__(
            self,
            class_frequencies: FrequencySource = CITYSCAPES_FREQUENCY_FILE,
            **kwargs):
        super().__init__(**kwargs)
        self.class_frequencies = class_frequencies
        self.class_iou: Dict[str, float] = {}
        self.gamma_groups: Dict[int, List[str]] = {}

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """Compute IoUMetric's metrics and the mIoU of each gamma group.

        Args:
            results (list): Per-image ``(area_intersect, area_union,
                area_pred_label, area_label)`` tuples from ``process``.

        Returns:
            dict[str, float]: IoUMetric's metrics and ``mIoU_gamma{g}`` for
            every group ``g``.
        """
        metrics = super().compute_metrics(results)
        if self.format_only:
            return metrics
        class_iou = self._class_iou(results)
        class_names = self.dataset_meta['classes']
        gammas = owfl_alpha_gamma(
            load_class_frequencies(self.class_frequencies,
                                   len(class_names)))[1].numpy()
        self.class_iou = {
            name: float(np.round(iou * 100, 2))
            for name, iou in zip(class_names, class_iou)
        }
        self.gamma_groups = {}
        table = PrettyTable(field_names=['gamma', 'mIoU', 'classes'])
        for gamma in np.unique(gammas):
            in_group = gammas == gamma
            key = f'mIoU_gamma{int(gamma)}'
            metrics[key] = _nanmean_percent(class_iou[in_group])
            self.gamma_groups[int(gamma)] = list(
                np.asarray(class_names)[in_group])
            table.add_row([
                int(gamma), metrics[key],
                ', '.join(self.gamma_groups[int(gamma)])
            ])
        print_log('mIoU per OWFL gamma group:\n' + table.get_string(),
                  logger=MMLogger.get_current_instance())
        return metrics

    def _class_iou(self, results: List[tuple]) -> np.ndarray:
        """Per-class IoU (NaN for classes absent from labels and preds)."""
        area_intersect, area_union, area_pred, area_label = (
            sum(areas) for areas in zip(*results))
        class_metrics: OrderedDict = self.total_area_to_metrics(
            area_intersect, area_union, area_pred, area_label, ['mIoU'],
            self.nan_to_num, self.beta)
        return np.asarray(class_metrics['IoU'], dtype=np.float64)


def _nanmean_percent(values: np.ndarray) -> float:
    """Mean of the non-NaN values in percent, rounded like IoUMetric."""
    valid = values[~np.isnan(values)]
    return float(np.round(valid.mean() * 100, 2)) if valid.size else \
        float('nan')
