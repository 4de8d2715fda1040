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
from typing import List, Sequence, Tuple

import pytest
import torch
import torch.nn as nn
from mmengine import Config
from mmengine.model import revert_sync_batchnorm
from mmengine.structures import PixelData
from mmseg.models.losses import CrossEntropyLoss
from mmseg.models.utils import resize
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers the loss and the heads)
from mmseg_affnet.apis import load_config
from mmseg_affnet.models.losses import (ClassWeightedCrossEntropyLoss,
                                        ObjectWeightedFocalLoss,
                                        enet_class_weights,
                                        load_class_frequencies,
                                        owfl_alpha_gamma,
                                        use_ignore_safe_class_weighted_ce)
from mmseg_affnet.models.losses import CITYSCAPES_FREQUENCY_FILE

IGNORE = 255
FREQS_3 = [0.7, 0.25, 0.05]
# (class scores, label) per pixel of a 2x3 image; the last pixel is ignored.
PIXELS_3 = [
    ([2.0, 0.5, -1.0], 0),
    ([0.1, 1.5, 0.3], 1),
    ([-0.5, 0.2, 3.0], 2),
    ([1.0, 1.0, 1.0], 0),
    ([0.3, -2.0, 0.8], 0),
    ([0.0, 0.4, -0.7], IGNORE),
]
FREQS_4 = [0.9, 0.09, 0.009, 0.001]
PIXELS_4 = [
    ([3.0, 0.0, -1.0, 0.5], 0),
    ([0.2, 0.1, 0.0, -0.3], 1),
    ([-1.0, 2.0, 0.5, 0.0], 2),
    ([0.0, 0.0, 0.0, 1.5], 3),
]

register_all_modules()


# --------------------------------------------------------------- helpers ---
def reference_alpha_gamma(freqs: Sequence[float],
                          c: float = 1.02) -> Tuple[List[float], List[int]]:
    """Eqs. 4-6 with the math module; ``freqs`` may be unnormalised."""
    total = sum(freqs)
    omega = [1.0 / math.log(f / total + c) for f in freqs]
    alpha = [w / max(omega) for w in omega]
    gamma = [math.floor(math.log10(f / min(freqs))) for f in freqs]
    return alpha, gamma


def reference_loss(pixels, freqs, weights=None, ignore_index=IGNORE) -> float:
    """Mean of ``-w alpha (1 - p)^gamma ln p`` over the non-ignored pixels."""
    alpha, gamma = reference_alpha_gamma(freqs)
    weights = weights or [1.0] * len(pixels)
    terms = []
    for (scores, label), weight in zip(pixels, weights):
        if label == ignore_index:
            continue
        p = math.exp(scores[label]) / sum(math.exp(s) for s in scores)
        terms.append(-weight * alpha[label] * (1 - p)**gamma[label] *
                     math.log(p))
    return sum(terms) / len(terms)


def pixels_to_tensors(pixels, height: int,
                      width: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """(1, C, H, W) logits and (1, H, W) labels from row-major pixels."""
    scores = torch.tensor([s for s, _ in pixels], dtype=torch.float32)
    logits = scores.T.reshape(1, -1, height, width)
    labels = torch.tensor([label for _, label in pixels]).reshape(
        1, height, width)
    return logits, labels


def random_problem(num_classes: int = 3, seed: int = 0):
    """Random (2, C, 4, 5) logits and labels with about a third ignored."""
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(2, num_classes, 4, 5, generator=generator)
    labels = torch.randint(0, num_classes, (2, 4, 5), generator=generator)
    ignored = torch.rand(2, 4, 5, generator=generator) < 0.35
    labels[ignored] = IGNORE
    return logits, labels


def loss_and_grad(loss_fn: nn.Module, logits: torch.Tensor,
                  labels: torch.Tensor, **kwargs):
    logits = logits.clone().requires_grad_(True)
    loss = loss_fn(logits, labels, **kwargs)
    loss.backward()
    return loss.detach(), logits.grad


# ------------------------------------------------- alpha and gamma, eqs 4-6 --
@pytest.mark.parametrize('freqs', [FREQS_3, FREQS_4, [5.0, 3.0, 2.0, 1.0]])
def test_alpha_gamma_match_equations(freqs):
    alpha, gamma = owfl_alpha_gamma(load_class_frequencies(freqs, len(freqs)))
    expected_alpha, expected_gamma = reference_alpha_gamma(freqs)
    assert alpha.dtype == gamma.dtype == torch.float32
    torch.testing.assert_close(alpha, torch.tensor(expected_alpha))
    assert gamma.tolist() == [float(g) for g in expected_gamma]


@pytest.mark.parametrize('c', [1.05, 2.0])
def test_alpha_follows_constant_c(c):
    alpha, _ = owfl_alpha_gamma(load_class_frequencies(FREQS_3, 3), c=c)
    expected = [1 / math.log(f + c) for f in FREQS_3]
    torch.testing.assert_close(
        alpha, torch.tensor([w / max(expected) for w in expected]))


@pytest.mark.parametrize('c', [1.0, 0.5])
def test_constant_c_not_above_one_is_rejected(c):
    with pytest.raises(ValueError, match='c must be > 1'):
        owfl_alpha_gamma(load_class_frequencies(FREQS_3, 3), c=c)


@pytest.mark.parametrize('exponents', [(3, 2, 1, 0), (0, 1, 2, 3, 4),
                                       (2, 0, 1)])
@pytest.mark.parametrize('scale', [1.0, 0.005, 7.0])
def test_gamma_of_exact_powers_of_ten(exponents, scale):
    """Frequencies 10^k times the rarest one have gamma exactly k."""
    counts = [scale * 10**k for k in exponents]
    _, gamma = owfl_alpha_gamma(load_class_frequencies(counts, len(counts)))
    assert gamma.tolist() == [float(k) for k in exponents]


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


# ------------------------------------------------------- frequency sources --
COUNTS = [700, 250, 50]


@pytest.mark.parametrize('content', [
    COUNTS,
    {'frequencies': [c / 1000 for c in COUNTS]},
    {'classes': ['a', 'b', 'c'], 'pixel_counts': COUNTS},
])
def test_frequency_file_forms(tmp_path, content):
    path = tmp_path / 'freqs.json'
    path.write_text(json.dumps(content))
    freqs = load_class_frequencies(str(path))
    assert freqs.dtype == torch.float64
    torch.testing.assert_close(
        freqs, torch.tensor(COUNTS, dtype=torch.float64) / sum(COUNTS))
    from_file = ObjectWeightedFocalLoss(str(path))
    from_list = ObjectWeightedFocalLoss(COUNTS)
    torch.testing.assert_close(from_file.alpha, from_list.alpha)
    torch.testing.assert_close(from_file.gamma, from_list.gamma)


@pytest.mark.parametrize('freqs', [[0.5, 0.0, 0.5], [0.5, -0.1, 0.6],
                                   [0.5, float('nan'), 0.5],
                                   [0.5, float('inf'), 0.5]])
def test_non_positive_or_non_finite_frequency_is_rejected(freqs):
    with pytest.raises(ValueError, match=r'classes \[1\]'):
        ObjectWeightedFocalLoss(freqs)


@pytest.mark.parametrize('freqs', [[0.5, 0.5], [0.2, 0.3, 0.4, 0.1]])
def test_wrong_number_of_classes_is_rejected(freqs):
    with pytest.raises(ValueError, match=rf'got {len(freqs)} values for '
                       'num_classes=3'):
        load_class_frequencies(freqs, num_classes=3)


def test_wrong_number_of_classes_in_file_is_rejected(tmp_path):
    path = tmp_path / 'freqs.json'
    path.write_text(json.dumps({'pixel_counts': COUNTS}))
    with pytest.raises(ValueError, match='freqs.json: got 3 values for '
                       'num_classes=19'):
        load_class_frequencies(str(path), num_classes=19)


def test_number_of_classes_is_the_length_of_the_list():
    assert ObjectWeightedFocalLoss(FREQS_4).alpha.shape == (4, )
    assert ObjectWeightedFocalLoss().alpha.shape == (19, )


@pytest.mark.parametrize('entry,shown', [
    (True, r'True \(bool\)'),
    ('0.3', r"'0.3' \(str\)"),
    (None, r'None \(NoneType\)'),
    ([0.3, 0.2], r'\[0.3, 0.2\] \(list\)'),
    ({'road': 3}, r"\{'road': 3\} \(dict\)"),
])
def test_entry_that_is_not_a_number_is_rejected(tmp_path, entry, shown):
    """Booleans, strings, null and nested lists name the value and file."""
    path = tmp_path / 'freqs.json'
    path.write_text(json.dumps({'pixel_counts': [700, entry, 50]}))
    with pytest.raises(
            ValueError,
            match=rf'freqs.json: entry 1 is {shown}; every entry must be a '
            'number'):
        ObjectWeightedFocalLoss(str(path))
    with pytest.raises(ValueError, match=rf'given as a list: entry 1 is'):
        ObjectWeightedFocalLoss([0.7, entry, 0.05])


def test_all_booleans_are_rejected():
    with pytest.raises(ValueError, match=r'entry 0 is True \(bool\)'):
        ObjectWeightedFocalLoss([True] * 19)


def test_empty_list_is_rejected(tmp_path):
    path = tmp_path / 'empty.json'
    path.write_text('[]')
    with pytest.raises(ValueError, match='empty.json hold no values'):
        ObjectWeightedFocalLoss(str(path))


def test_missing_file_is_rejected(tmp_path):
    path = tmp_path / 'missing.json'
    with pytest.raises(ValueError, match='missing.json'):
        ObjectWeightedFocalLoss(str(path))


@pytest.mark.parametrize('text', ['{"frequencies": [0.5,', 'not json', ''])
def test_malformed_json_is_rejected(tmp_path, text):
    path = tmp_path / 'broken.json'
    path.write_text(text)
    with pytest.raises(ValueError, match='broken.json'):
        load_class_frequencies(str(path))


@pytest.mark.parametrize('content', [{'counts': COUNTS}, 'text', 3])
def test_json_without_a_frequency_list_is_rejected(tmp_path, content):
    path = tmp_path / 'other.json'
    path.write_text(json.dumps(content))
    with pytest.raises(ValueError, match='other.json'):
        load_class_frequencies(str(path))


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
AFFNET_CONFIG = Path(__file__).resolve().parents[1] / 'configs' / \
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
    fails, mmseg has fixed it and the workaround can go."""
    logits, labels = pixels_to_tensors(PIXELS_WCE, 2, 3)
    with pytest.raises(IndexError, match='255'):
        CrossEntropyLoss(class_weight=CLASS_WEIGHT_3, avg_non_ignore=True)(
            logits, labels, ignore_index=IGNORE)


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
