"""The ignore-safe class-weighted cross-entropy (WCEL) against hand-computed
numbers, and the rewrite of mmseg's class-weighted CE in zoo configs."""
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import PixelData
from mmseg.models.losses import CrossEntropyLoss
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers the loss and the heads)
from mmseg_affnet.apis import load_config
from mmseg_affnet.models.losses import (ClassWeightedCrossEntropyLoss,
                                        ObjectWeightedFocalLoss,
                                        enet_class_weights,
                                        load_class_frequencies,
                                        use_ignore_safe_class_weighted_ce)
from mmseg_affnet.models.losses import CITYSCAPES_FREQUENCY_FILE
from mmseg_affnet.models.losses.utils import MMSEG_CROSS_ENTROPY
from tests.utils.losses import (COUNTS, IGNORE, loss_and_grad,
                                pixels_to_tensors, random_problem)

register_all_modules()


# ------------------------------------------- class-weighted cross-entropy ---
CLASS_WEIGHT_3 = [1.0, 2.0, 0.5]
# Confident right, confident wrong, ignored, uncertain, confident right.
PIXELS_WCE = [
    ([30.0, -30.0, -30.0], 0),
    ([30.0, -30.0, -30.0], 1),
    ([-30.0, 30.0, -30.0], IGNORE),
    ([0.0, 0.0, 0.0], 2),
    ([-30.0, -30.0, 30.0], 2),
    ([0.2, -0.4, 0.1], IGNORE),
]


def reference_weighted_ce(pixels, class_weight) -> float:
    """PyTorch's weighted mean: sum w_y CE / sum w_y over labelled pixels."""
    total, weights = 0.0, 0.0
    for scores, label in pixels:
        if label == IGNORE:
            continue
        top = max(scores)
        log_sum = top + math.log(sum(math.exp(v - top) for v in scores))
        total += class_weight[label] * (log_sum - scores[label])
        weights += class_weight[label]
    return total / weights


def test_mmseg_class_weighted_ce_fails_on_ignored_pixels():
    """The defect this package works around (mmseg 1.2.2): the average
    looks up class_weight[255] before masking ignored pixels. If this test
    fails, mmseg has fixed it and the workaround (ours in place of mmseg's
    ``cross_entropy``) can go."""
    logits, labels = pixels_to_tensors(PIXELS_WCE, 2, 3)
    with pytest.raises(IndexError, match='255'):
        MMSEG_CROSS_ENTROPY(logits, labels,
                            class_weight=torch.tensor(CLASS_WEIGHT_3),
                            ignore_index=IGNORE, avg_non_ignore=True)


@pytest.mark.parametrize('avg_non_ignore', [True, False])
def test_mmseg_class_weighted_ce_works_on_ignored_pixels(avg_non_ignore):
    """Issue 31, case 10: mmseg's own CrossEntropyLoss with class weights
    (also read from a file) trains on batches with ignored pixels, with
    PyTorch's weighted mean (before: IndexError: index 255 is out of
    bounds at the first iteration)."""
    logits, labels = pixels_to_tensors(PIXELS_WCE, 2, 3)
    loss, grad = loss_and_grad(
        CrossEntropyLoss(class_weight=CLASS_WEIGHT_3,
                         avg_non_ignore=avg_non_ignore), logits, labels,
        ignore_index=IGNORE)
    assert loss.item() == pytest.approx(
        reference_weighted_ce(PIXELS_WCE, CLASS_WEIGHT_3), rel=1e-6)
    assert torch.isfinite(grad).all()


def test_mmseg_ce_with_class_weights_of_another_count_is_named(tmp_path):
    weights = tmp_path / 'w.json'
    weights.write_text(json.dumps([1.0] * 10))
    logits, labels = random_problem(num_classes=4)
    with pytest.raises(ValueError, match='10 class weights but the scores '
                       'have 4 classes'):
        CrossEntropyLoss(class_weight=str(weights))(logits, labels)


@pytest.mark.parametrize('loss_type', [
    'CrossEntropyLoss', 'ClassWeightedCrossEntropyLoss', 'LovaszLoss'])
@pytest.mark.parametrize('values, message', [
    ([1.0, -0.5, 2.0], r'must not be negative; classes \[1\] have \[-0.5\]'),
    ([0.0, 0.0, 0.0], 'are all zero'),
    ([1.0, float('inf'), 2.0], 'must be finite'),
])
@pytest.mark.parametrize('as_file', [False, True])
def test_negative_zero_sum_or_non_finite_class_weights_are_refused(
        tmp_path, loss_type, values, message, as_file):
    source = values
    if as_file:
        source = str(tmp_path / 'weights.npy')
        np.save(source, np.array(values))
    extra = dict(reduction='none', loss_type='multi_class') \
        if loss_type == 'LovaszLoss' else {}
    with pytest.raises(ValueError, match=message) as error:
        MODELS.build(dict(type=loss_type, class_weight=source, **extra))
    if as_file:
        assert source in str(error.value)


def test_class_weighted_ce_with_ignored_pixels_matches_hand_computation():
    loss_fn = ClassWeightedCrossEntropyLoss(class_weight=CLASS_WEIGHT_3)
    logits, labels = pixels_to_tensors(PIXELS_WCE, 2, 3)
    loss, grad = loss_and_grad(loss_fn, logits, labels, ignore_index=IGNORE)
    expected = reference_weighted_ce(PIXELS_WCE, CLASS_WEIGHT_3)
    # (2 * 60 + 0.5 * ln 3) / (1 + 2 + 0.5 + 0.5)
    assert expected == pytest.approx((120 + 0.5 * math.log(3)) / 4, rel=1e-6)
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert torch.isfinite(grad).all()
    ignored = (labels == IGNORE).unsqueeze(1).expand_as(grad)
    assert (grad[ignored] == 0).all()
    torch.testing.assert_close(
        loss,
        torch.nn.functional.cross_entropy(
            logits,
            labels,
            weight=torch.tensor(CLASS_WEIGHT_3),
            ignore_index=IGNORE))


def test_class_weighted_ce_equals_mmseg_without_ignored_pixels():
    logits, labels = random_problem()
    labels[labels == IGNORE] = 1
    ours = ClassWeightedCrossEntropyLoss(class_weight=CLASS_WEIGHT_3)
    mmseg = CrossEntropyLoss(class_weight=CLASS_WEIGHT_3)
    torch.testing.assert_close(ours(logits, labels), mmseg(logits, labels))


def test_class_weighted_ce_all_ignored_is_zero():
    logits, _ = random_problem()
    labels = torch.full((2, 4, 5), IGNORE)
    loss, grad = loss_and_grad(
        ClassWeightedCrossEntropyLoss(class_weight=CLASS_WEIGHT_3), logits,
        labels)
    assert loss.item() == 0.0
    assert torch.isfinite(grad).all()


def test_enet_weights_from_owfl_frequencies():
    """WCEL's default weights: 1 / ln(1.02 + f_i), f_i OWFL's frequencies."""
    counts = json.loads(Path(CITYSCAPES_FREQUENCY_FILE).read_text())[
        'pixel_counts']
    expected = [1 / math.log(1.02 + c / sum(counts)) for c in counts]
    loss_fn = ClassWeightedCrossEntropyLoss()
    assert loss_fn.class_weight == pytest.approx(expected, rel=1e-9)
    torch.testing.assert_close(
        enet_class_weights(load_class_frequencies(COUNTS)),
        torch.tensor([1 / math.log(1.02 + c / 1000) for c in COUNTS],
                     dtype=torch.float64))
    owfl = ObjectWeightedFocalLoss()
    torch.testing.assert_close(
        torch.tensor(expected) / max(expected), owfl.alpha)


def test_class_weighted_ce_rejects_wrong_number_of_weights():
    logits, labels = random_problem(num_classes=4)
    labels[labels == 3] = 0
    with pytest.raises(ValueError, match='3 class weights but the scores '
                       'have 4 channels'):
        ClassWeightedCrossEntropyLoss(class_weight=CLASS_WEIGHT_3)(logits,
                                                                   labels)


def test_class_weighted_ce_rejects_bad_frequencies():
    with pytest.raises(ValueError, match=r"entry 1 is 'x' \(str\)"):
        ClassWeightedCrossEntropyLoss(class_frequencies=[1.0, 'x', 2.0])


# ------------------------- the fix for mmseg zoo configs with class_weight ---
def test_rewrite_swaps_only_class_weighted_softmax_ce():
    model = dict(
        decode_head=dict(loss_decode=[
            dict(
                type='CrossEntropyLoss',
                use_sigmoid=False,
                class_weight=CLASS_WEIGHT_3,
                avg_non_ignore=False,
                loss_weight=0.4),
            dict(type='CrossEntropyLoss', loss_weight=1.0),
            dict(type='OhemCrossEntropy', class_weight=CLASS_WEIGHT_3),
        ]),
        auxiliary_head=[
            dict(
                loss_decode=dict(
                    type='mmseg.CrossEntropyLoss',
                    class_weight=CLASS_WEIGHT_3)),
            dict(
                loss_decode=dict(
                    type='CrossEntropyLoss',
                    use_sigmoid=True,
                    class_weight=CLASS_WEIGHT_3))
        ])
    original = copy.deepcopy(model)
    rewritten = use_ignore_safe_class_weighted_ce(model)
    assert model == original
    losses = rewritten['decode_head']['loss_decode']
    assert losses[0] == dict(
        type='ClassWeightedCrossEntropyLoss',
        class_weight=CLASS_WEIGHT_3,
        loss_weight=0.4)
    assert losses[1:] == original['decode_head']['loss_decode'][1:]
    assert rewritten['auxiliary_head'][0]['loss_decode']['type'] == \
        'mmseg.ClassWeightedCrossEntropyLoss'
    assert rewritten['auxiliary_head'][1] == original['auxiliary_head'][1]
    MODELS.build(losses[0])


def zoo_batch(model: nn.Module, batch_size: int, height: int, width: int,
              edges: bool):
    """Random images and labels with an ignored band, through the model's
    data preprocessor; ``edges`` adds PIDNet's boundary map."""
    generator = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(batch_size):
        labels = torch.randint(0, 19, (1, height, width), generator=generator)
        labels[:, :, :8] = IGNORE
        sample = SegDataSample(
            metainfo=dict(
                img_shape=(height, width),
                ori_shape=(height, width),
                pad_shape=(height, width)))
        sample.gt_sem_seg = PixelData(data=labels)
        if edges:
            edge = torch.zeros_like(labels)
            edge[:, :, ::7] = 1
            sample.gt_edge_map = PixelData(data=edge)
        samples.append(sample)
    images = [
        torch.randint(0, 256, (3, height, width), generator=generator).byte()
        for _ in range(batch_size)
    ]
    return model.data_preprocessor(
        dict(inputs=images, data_samples=samples), training=True)


@pytest.mark.parametrize('config,edges', [
    ('mmseg::cgnet/cgnet_fcn_4xb8-60k_cityscapes-512x1024.py', False),
    ('mmseg::pidnet/pidnet-s_2xb6-120k_1024x1024-cityscapes.py', True),
])
def test_zoo_model_with_class_weight_trains_a_step_on_ignored_pixels(
        config, edges):
    model_cfg = load_config(config).model
    model_cfg.backbone.pop('init_cfg', None)  # no pretrained download
    model_cfg.data_preprocessor.size = (64, 128)
    model = revert_sync_batchnorm(
        MODELS.build(use_ignore_safe_class_weighted_ce(model_cfg)))
    assert any(
        isinstance(m, ClassWeightedCrossEntropyLoss) for m in model.modules())
    model.train()
    data = zoo_batch(model, 2, 64, 128, edges)
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total) and total > 0
    total.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
