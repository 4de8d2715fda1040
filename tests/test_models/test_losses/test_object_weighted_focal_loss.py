"""Tests of the object-weighted focal loss (OWFL) of AFFNet.

Every number is checked against a reference computed here with the ``math``
module from the paper's definitions (eqs. 4-6):
``omega_i = 1 / ln(f_i + c)``, ``alpha_i = omega_i / max_j omega_j``,
``gamma_i = floor(log10(f_i / min_j f_j))`` and the per-pixel loss
``-alpha_t (1 - p_t)^gamma_t ln p_t``, averaged over non-ignored pixels.
"""
import copy
import json
import math
from pathlib import Path
from typing import List

import pytest
import torch
import torch.nn as nn
from mmengine import Config
from mmengine.structures import PixelData
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers the loss and the heads)
from mmseg_affnet.models.losses import ObjectWeightedFocalLoss
from mmseg_affnet.models.losses import CITYSCAPES_FREQUENCY_FILE
from tests.utils.losses import (FREQS_3, FREQS_4, IGNORE, PIXELS_3, PIXELS_4,
                                loss_and_grad, pixels_to_tensors,
                                random_problem, reference_alpha_gamma,
                                reference_loss)
from tests.utils.tools import CONFIGS_DIR

register_all_modules()


# ------------------------------------------------------ loss values by hand --
@pytest.mark.parametrize('freqs,pixels,shape', [
    (FREQS_3, PIXELS_3, (2, 3)),
    (FREQS_4, PIXELS_4, (2, 2)),
])
def test_loss_matches_hand_computation(freqs, pixels, shape):
    loss_fn = ObjectWeightedFocalLoss(freqs)
    logits, labels = pixels_to_tensors(pixels, *shape)
    loss = loss_fn(logits, labels, ignore_index=IGNORE)
    assert loss.shape == ()
    assert loss.item() == pytest.approx(reference_loss(pixels, freqs),
                                        rel=1e-5)


def test_per_pixel_weight_matches_hand_computation():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, labels = pixels_to_tensors(PIXELS_3, 2, 3)
    weights = [2.0, 0.0, 0.5, 1.0, 3.0, 4.0]
    loss = loss_fn(
        logits, labels, weight=torch.tensor(weights).reshape(1, 2, 3))
    assert loss.item() == pytest.approx(
        reference_loss(PIXELS_3, FREQS_3, weights), rel=1e-5)


def test_unit_weight_equals_no_weight():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, labels = random_problem()
    torch.testing.assert_close(
        loss_fn(logits, labels, weight=torch.ones(labels.shape)),
        loss_fn(logits, labels))


def test_loss_weight_scales_loss_and_gradient():
    logits, labels = random_problem()
    loss, grad = loss_and_grad(
        ObjectWeightedFocalLoss(FREQS_3), logits, labels)
    scaled_loss, scaled_grad = loss_and_grad(
        ObjectWeightedFocalLoss(FREQS_3, loss_weight=0.4),
        logits, labels)
    torch.testing.assert_close(scaled_loss, 0.4 * loss)
    torch.testing.assert_close(scaled_grad, 0.4 * grad)


# ------------------------------------------------------------ ignore_index --
@pytest.mark.parametrize('ignore_index', [IGNORE, -1])
def test_ignored_pixels_change_neither_loss_nor_gradient(ignore_index):
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, labels = random_problem()
    labels[labels == IGNORE] = ignore_index
    ignored = labels == ignore_index
    assert ignored.any() and not ignored.all()
    changed = logits.clone()
    changed.permute(0, 2, 3, 1)[ignored] = torch.tensor([50.0, -30.0, 7.0])

    loss, grad = loss_and_grad(
        loss_fn, logits, labels, ignore_index=ignore_index)
    changed_loss, changed_grad = loss_and_grad(
        loss_fn, changed, labels, ignore_index=ignore_index)
    torch.testing.assert_close(changed_loss, loss)
    torch.testing.assert_close(changed_grad, grad)
    assert (grad.permute(0, 2, 3, 1)[ignored] == 0).all()


def test_ignored_pixels_do_not_count_in_the_mean():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, labels = pixels_to_tensors(PIXELS_3, 2, 3)
    valid_logits, valid_labels = pixels_to_tensors(PIXELS_3[:5], 1, 5)
    torch.testing.assert_close(
        loss_fn(logits, labels), loss_fn(valid_logits, valid_labels))


def test_all_ignored_gives_zero_and_finite_gradient():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, _ = random_problem()
    labels = torch.full((2, 4, 5), IGNORE)
    loss, grad = loss_and_grad(loss_fn, logits, labels)
    assert loss.item() == 0.0
    assert torch.isfinite(grad).all()


# ------------------------------------------------------ numerical stability --
def confident_logits(labels: torch.Tensor, num_classes: int,
                     correct: bool) -> torch.Tensor:
    """Logits of -1e4 everywhere and +1e4 at the label (or the next class)."""
    winner = labels if correct else (labels + 1) % num_classes
    logits = torch.full((*labels.shape, num_classes), -1e4)
    logits.scatter_(-1, winner.unsqueeze(-1), 1e4)
    return logits.permute(0, 3, 1, 2).contiguous()


@pytest.mark.parametrize('correct', [True, False])
def test_gradient_finite_for_confident_predictions(correct):
    """Covers every gamma group (0, 1, 2) of the Cityscapes defaults."""
    loss_fn = ObjectWeightedFocalLoss()
    labels = torch.arange(19).reshape(1, 1, 19)
    logits = confident_logits(labels, 19, correct)
    loss, grad = loss_and_grad(loss_fn, logits, labels)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    if correct:
        assert loss.item() == 0.0
    else:
        assert loss.item() > 1e3


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_loss_under_cpu_autocast(dtype):
    torch.manual_seed(0)
    conv = nn.Conv2d(4, 3, 1)
    features = torch.randn(2, 4, 4, 5)
    _, labels = random_problem()
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    with torch.autocast('cpu', dtype=dtype):
        try:
            logits = conv(features)
        except RuntimeError as error:
            pytest.skip(f'CPU autocast to {dtype} unsupported: {error}')
        loss = loss_fn(logits, labels)
    assert logits.dtype == dtype
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, loss_fn(logits.float(), labels))
    loss.backward()
    assert torch.isfinite(conv.weight.grad).all()
    assert conv.weight.grad.abs().sum() > 0




def test_logits_channel_mismatch_is_rejected():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, labels = random_problem(num_classes=4)
    labels[labels == 3] = 0
    with pytest.raises(ValueError, match='4 channels'):
        loss_fn(logits, labels)


@pytest.mark.parametrize('name', ['owfl', 'owfl_loss', 'Loss_owfl'])
def test_loss_name_without_prefix_is_rejected(name):
    with pytest.raises(ValueError, match='loss_'):
        ObjectWeightedFocalLoss(FREQS_3, loss_name=name)


def test_loss_name_is_reported():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3, loss_name='loss_focal')
    assert loss_fn.loss_name == 'loss_focal'


# -------------------------------------------------- Cityscapes defaults -----
def test_default_cityscapes_frequencies():
    with open(CITYSCAPES_FREQUENCY_FILE) as f:
        content = json.load(f)
    counts = content['pixel_counts']
    assert len(content['classes']) == len(counts) == 19

    loss_fn = ObjectWeightedFocalLoss()
    expected_alpha, expected_gamma = reference_alpha_gamma(counts)
    assert loss_fn.alpha.shape == loss_fn.gamma.shape == (19, )
    torch.testing.assert_close(loss_fn.alpha, torch.tensor(expected_alpha))
    assert loss_fn.gamma.tolist() == [float(g) for g in expected_gamma]
    assert set(loss_fn.gamma.tolist()) == {0.0, 1.0, 2.0}
    assert loss_fn.alpha.max().item() == 1.0


def test_loss_buffers_follow_the_module_but_stay_out_of_checkpoints():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    assert loss_fn.state_dict() == {}
    assert loss_fn.double().alpha.dtype == torch.float64


# ------------------------------------------------- through a decode head ----
def head_samples(batch_size: int, size: int) -> List[SegDataSample]:
    generator = torch.Generator().manual_seed(1)
    samples = []
    for _ in range(batch_size):
        labels = torch.randint(0, 3, (1, size, size), generator=generator)
        labels[:, :2] = IGNORE
        sample = SegDataSample(metainfo=dict(img_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=labels)
        samples.append(sample)
    return samples


def test_loss_through_decode_head_loss_by_feat():
    head = MODELS.build(
        dict(
            type='AFFMHead',
            in_channels=[4, 6],
            in_index=[0, 1],
            channels=8,
            num_classes=3,
            reduction_ratio=2,
            dropout_ratio=0.0,
            norm_cfg=dict(type='BN'),
            loss_decode=[
                dict(
                    type='ObjectWeightedFocalLoss',
                    class_frequencies=FREQS_3),
                dict(type='CrossEntropyLoss', loss_weight=0.5)
            ]))
    torch.manual_seed(0)
    inputs = [torch.randn(2, 4, 8, 8), torch.randn(2, 6, 4, 4)]
    samples = head_samples(2, 16)

    logits = head(inputs)
    losses = head.loss_by_feat(logits, samples)
    assert {'loss_owfl', 'loss_ce'} <= set(losses)

    labels = torch.cat([s.gt_sem_seg.data for s in samples])
    upsampled = resize(
        logits, size=(16, 16), mode='bilinear', align_corners=False)
    torch.testing.assert_close(losses['loss_owfl'],
                               head.loss_decode[0](upsampled, labels))
    (losses['loss_owfl'] + losses['loss_ce']).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all()
               for p in head.parameters())


# ---------------------------------------------------- reduction, avg_factor --
def test_reduction_none_gives_per_pixel_loss_zero_where_ignored():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3, reduction='none')
    logits, labels = pixels_to_tensors(PIXELS_3, 2, 3)
    per_pixel = loss_fn(logits, labels)
    assert per_pixel.shape == (1, 2, 3)
    assert per_pixel.flatten()[-1].item() == 0.0
    assert per_pixel.sum().item() / 5 == pytest.approx(
        reference_loss(PIXELS_3, FREQS_3), rel=1e-5)


def test_sum_and_avg_factor_follow_weight_reduce_loss():
    loss_fn = ObjectWeightedFocalLoss(FREQS_3)
    logits, labels = pixels_to_tensors(PIXELS_3, 2, 3)
    mean = reference_loss(PIXELS_3, FREQS_3)
    assert loss_fn(logits, labels, reduction_override='sum').item() == \
        pytest.approx(5 * mean, rel=1e-5)
    assert loss_fn(logits, labels, avg_factor=2.0).item() == \
        pytest.approx(5 * mean / 2, rel=1e-5)
    with pytest.raises(ValueError, match='avg_factor can not be used'):
        loss_fn(logits, labels, avg_factor=2.0, reduction_override='sum')


@pytest.mark.parametrize('reduction', ['average', 'Mean', ''])
def test_unknown_reduction_is_rejected(reduction):
    with pytest.raises(ValueError, match='reduction must be one of'):
        ObjectWeightedFocalLoss(FREQS_3, reduction=reduction)
    logits, labels = random_problem()
    with pytest.raises(ValueError, match='reduction must be one of'):
        ObjectWeightedFocalLoss(FREQS_3)(
            logits, labels, reduction_override=reduction)


def test_unknown_argument_is_not_swallowed():
    logits, labels = random_problem()
    with pytest.raises(TypeError, match='class_weight'):
        ObjectWeightedFocalLoss(FREQS_3)(logits, labels, class_weight=[1.0])
    with pytest.raises(TypeError, match='num_classes'):
        ObjectWeightedFocalLoss(FREQS_3, num_classes=3)


# ------------------------------------------------- eq. 3: OWFL + 0.5 * CE ---
AFFNET_CONFIG = Path(CONFIGS_DIR) / \
    'affnet_cityscapes.py'


def test_eq3_terms_are_normalised_the_same_way_with_ignored_pixels():
    """With equal frequencies OWFL is plain CE (alpha 1, gamma 0), so the
    configured terms must be in the ratio 1 : 0.5 however many pixels are
    ignored; mmseg's CE default (avg_non_ignore=False) would give less."""
    loss_cfgs = copy.deepcopy(
        Config.fromfile(str(AFFNET_CONFIG),
                        import_custom_modules=False).model.decode_head
        .loss_decode)
    assert [cfg['type'] for cfg in loss_cfgs] == [
        'ObjectWeightedFocalLoss', 'CrossEntropyLoss'
    ]
    loss_cfgs[0]['class_frequencies'] = [1.0] * 3
    owfl, ce = (MODELS.build(cfg) for cfg in loss_cfgs)
    logits, labels = pixels_to_tensors(PIXELS_3, 2, 3)  # 1 of 6 ignored
    valid = [(scores, label) for scores, label in PIXELS_3
             if label != IGNORE]
    expected_ce = sum(
        math.log(sum(math.exp(v) for v in scores)) - scores[label]
        for scores, label in valid) / len(valid)
    owfl_term = owfl(logits, labels, ignore_index=IGNORE)
    ce_term = ce(logits, labels, ignore_index=IGNORE)
    assert owfl_term.item() == pytest.approx(expected_ce, rel=1e-5)
    assert ce_term.item() == pytest.approx(0.5 * expected_ce, rel=1e-5)
