"""GammaGroupIoUMetric against IoUs computed by hand from confusions."""
import numpy as np
import pytest
import torch

from mmseg_affnet.evaluation import GammaGroupIoUMetric
from mmseg_affnet.models.losses import load_class_frequencies, \
    owfl_alpha_gamma
from mmseg_affnet.models.losses import CITYSCAPES_FREQUENCY_FILE

CLASSES = ('a', 'b', 'c', 'd')
# Frequencies relative to the rarest class: 200, 30, 5, 1, so
# gamma = floor(log10(ratio)) = 2, 1, 0, 0.
FREQUENCIES = [200, 30, 5, 1]
GROUPS = {2: [0], 1: [1], 0: [2, 3]}
# Rows: true class, columns: predicted class; pixel counts.
CONFUSION = np.array([[50, 5, 0, 0],
                      [4, 20, 2, 0],
                      [0, 3, 9, 1],
                      [1, 0, 2, 6]])


def _samples_from_confusion(confusion, ignored=7):
    """One image whose (label, prediction) pairs realise ``confusion``."""
    labels, preds = [], []
    for true_class, row in enumerate(confusion):
        for pred_class, count in enumerate(row):
            labels += [true_class] * count
            preds += [pred_class] * count
    # Ignored pixels with arbitrary predictions must not count.
    labels += [255] * ignored
    preds += [0] * ignored
    return [dict(pred_sem_seg=dict(data=_as_image(preds)),
                 gt_sem_seg=dict(data=_as_image(labels)))]


def _as_image(values):
    return torch.tensor(values).view(1, 1, -1)


def _hand_iou(confusion):
    true_positive = np.diag(confusion).astype(float)
    union = confusion.sum(0) + confusion.sum(1) - true_positive
    return true_positive / union


def _evaluate(metric, confusion):
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, _samples_from_confusion(confusion))
    return metric.compute_metrics(metric.results)


def test_group_miou_matches_hand_computed_ious():
    metrics = _evaluate(
        GammaGroupIoUMetric(class_frequencies=FREQUENCIES), CONFUSION)

    iou = _hand_iou(CONFUSION)
    assert metrics['mIoU'] == pytest.approx(100 * iou.mean(), abs=0.01)
    assert metrics['aAcc'] == pytest.approx(
        100 * np.trace(CONFUSION) / CONFUSION.sum(), abs=0.01)
    assert sorted(k for k in metrics if k.startswith('mIoU_gamma')) == \
        ['mIoU_gamma0', 'mIoU_gamma1', 'mIoU_gamma2']
    for gamma, classes in GROUPS.items():
        assert metrics[f'mIoU_gamma{gamma}'] == pytest.approx(
            100 * iou[classes].mean(), abs=0.01)


def test_classes_absent_everywhere_do_not_count():
    confusion = CONFUSION.copy()
    confusion[3] = 0  # class 'd' neither labelled ...
    confusion[:, 3] = 0  # ... nor predicted: IoU undefined
    metrics = _evaluate(
        GammaGroupIoUMetric(class_frequencies=FREQUENCIES), confusion)

    iou = _hand_iou(confusion[:3, :3])
    assert metrics['mIoU_gamma0'] == pytest.approx(100 * iou[2], abs=0.01)
    assert metrics['mIoU'] == pytest.approx(100 * iou.mean(), abs=0.01)


def test_default_groups_are_the_losses_cityscapes_gammas():
    gammas = owfl_alpha_gamma(
        load_class_frequencies(CITYSCAPES_FREQUENCY_FILE, 19))[1]
    classes = tuple(f'class{i}' for i in range(19))
    confusion = np.diag(np.arange(1, 20))
    confusion[0, 1] = 5  # some errors, so the groups differ
    confusion[4, 18] = 7
    metric = GammaGroupIoUMetric()
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, _samples_from_confusion(confusion))
    metrics = metric.compute_metrics(metric.results)

    iou = _hand_iou(confusion)
    for gamma in torch.unique(gammas).tolist():
        in_group = (gammas == gamma).numpy()
        assert metrics[f'mIoU_gamma{int(gamma)}'] == pytest.approx(
            100 * iou[in_group].mean(), abs=0.01)


def test_frequencies_must_match_the_classes():
    metric = GammaGroupIoUMetric(class_frequencies=FREQUENCIES[:3])
    with pytest.raises(ValueError, match='num_classes=4'):
        _evaluate(metric, CONFUSION)


def test_class_iou_from_metric_results():
    """The IoU of every class, which the comparison reports, from the
    per-image areas ``IoUMetric.process`` collects."""
    metric = GammaGroupIoUMetric(class_frequencies=[1, 1])
    metric.dataset_meta = dict(classes=('a', 'b'))
    # two images, two classes: intersect, union, pred, label areas
    results = [
        (torch.tensor([2., 0.]), torch.tensor([4., 2.]),
         torch.tensor([3., 1.]), torch.tensor([3., 1.])),
        (torch.tensor([1., 1.]), torch.tensor([2., 2.]),
         torch.tensor([1., 1.]), torch.tensor([2., 1.])),
    ]
    metric.compute_metrics(results)
    assert metric.class_iou == {'a': 50.0, 'b': 25.0}
