"""The per-class numbers of the losses (``models/losses/utils.py``): OWFL's
alpha and gamma against eqs. 4-6 computed with ``math``, and every form and
error of a class-frequency source."""
import json
import math

import pytest
import torch
from mmseg.utils import register_all_modules

import mmseg_affnet  # noqa: F401  (registers the loss and the heads)
from mmseg_affnet.models.losses import (ObjectWeightedFocalLoss,
                                        load_class_frequencies,
                                        owfl_alpha_gamma)
from tests.utils.losses import COUNTS, FREQS_3, FREQS_4, reference_alpha_gamma

register_all_modules()


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




# ------------------------------------------------------- frequency sources --


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
    with pytest.raises(ValueError, match=r'given as a list: entry 1 is'):
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
