"""Welch's t-test of the experiment suites' claims, on hand-made numbers."""
import math

import pytest
from scipy import stats

from mmseg_affnet.research.seed_statistics import (
    HOLDS, REVERSED, SIZE_REFUTED, SIZE_UNDECIDED, TOO_FEW_SEEDS,
    WITHIN_NOISE, Spread, claim_verdict, compare_seeds, spread, welch)


def test_spread_is_the_sample_mean_and_std():
    values = spread([1.0, 2.0, 3.0])
    assert values.mean == 2.0 and values.count == 3
    assert values.std == pytest.approx(1.0)  # ddof=1: sqrt(2 / 2)
    assert spread([5.0]).std == 0.0
    with pytest.raises(ValueError, match='No values'):
        spread([])


def test_the_test_is_scipys_welch_t_test():
    reference, other = [59.0, 60.0, 61.5], [55.0, 57.5, 59.0, 58.0]
    comparison = compare_seeds(reference, other)
    expected = stats.ttest_ind(reference, other, equal_var=False)
    assert comparison.p_value == pytest.approx(expected.pvalue)
    # se = sqrt(s_ref² / 3 + s_other² / 4), Welch-Satterthwaite df
    share_ref = spread(reference).std**2 / 3
    share_other = spread(other).std**2 / 4
    assert comparison.standard_error == pytest.approx(
        math.sqrt(share_ref + share_other))
    assert comparison.dof == pytest.approx(
        (share_ref + share_other)**2 /
        (share_ref**2 / 2 + share_other**2 / 3))
    low, high = comparison.interval
    assert (low + high) / 2 == pytest.approx(comparison.difference)
    assert (high - low) / 2 == pytest.approx(
        stats.t.ppf(0.975, comparison.dof) * comparison.standard_error)


@pytest.mark.parametrize('other, verdict', [
    ([57.5, 58.0, 58.5], HOLDS),  # d = 2, se = 0.41, df 4: [0.87, 3.13]
    ([59.0, 61.0, 60.5], WITHIN_NOISE),  # d = -0.17
    ([62.0, 62.5, 63.0], REVERSED),  # d = -2.5, se = 0.41
])
def test_direction_verdicts(other, verdict):
    assert compare_seeds([59.5, 60.0, 60.5], other).verdict == verdict


def test_two_standard_errors_are_not_enough_at_three_seeds():
    # d = 2.5 se with 3 seeds a side (df 4 needs t > 2.776): the old
    # two-standard-error rule said "holds"; Welch's test says noise
    comparison = welch(Spread(50.0, 1.0, 3), Spread(50.0 - 2.5 * math.sqrt(
        2 / 3), 1.0, 3))
    assert comparison.dof == pytest.approx(4.0)
    assert comparison.verdict == WITHIN_NOISE
    assert 0.05 < comparison.p_value < 0.1
    assert welch(Spread(50.0, 1.0, 3),
                 Spread(50.0 - 2.9 * math.sqrt(2 / 3), 1.0, 3)).verdict == \
        HOLDS


def seeds_with(mean: float, std: float):
    """Three seeds of exactly this mean and sample std."""
    return [mean - std, mean, mean + std]


def test_a_size_claim_needs_the_whole_interval_above_the_size():
    # d = 8, se = 2.58 (std 3.16 a side, 3 seeds, df 4): [0.84, 15.16]
    std = 2.58 / math.sqrt(2 / 3)
    comparison = compare_seeds(seeds_with(58.0, std), seeds_with(50.0, std),
                               10.0)
    assert comparison.standard_error == pytest.approx(2.58)
    assert comparison.direction == HOLDS
    assert comparison.verdict == SIZE_UNDECIDED  # not "holds"
    # d = 3, se = 1.83: [-2.08, 8.08] lies below 10, whatever the direction
    std = 1.83 / math.sqrt(2 / 3)
    comparison = compare_seeds(seeds_with(53.0, std), seeds_with(50.0, std),
                               10.0)
    assert comparison.direction == WITHIN_NOISE
    assert comparison.verdict == SIZE_REFUTED
    # d = 20, se = 1: [17.2, 22.8] lies above 10
    std = 1 / math.sqrt(2 / 3)
    assert compare_seeds(seeds_with(70.0, std), seeds_with(50.0, std),
                   10.0).verdict == HOLDS


def test_one_seed_gives_no_verdict():
    comparison = compare_seeds([60.0], [50.0, 51.0], 10.0)
    assert comparison.verdict == TOO_FEW_SEEDS
    assert comparison.difference == pytest.approx(9.5)
    assert math.isnan(comparison.standard_error)
    assert math.isnan(comparison.p_value)


def test_no_spread_on_either_side_gives_an_exact_difference():
    comparison = compare_seeds([60.0, 60.0], [58.0, 58.0])
    assert comparison.interval == (2.0, 2.0)
    assert comparison.verdict == HOLDS and comparison.p_value == 0.0
    assert compare_seeds([60.0, 60.0], [60.0, 60.0]).verdict == WITHIN_NOISE


def test_a_claim_with_disagreeing_comparisons_is_mixed_and_names_them():
    assert claim_verdict([('A', HOLDS), ('B', HOLDS)]) == HOLDS
    assert claim_verdict([('Cat-Cat@76', HOLDS),
                          ('Add-Add@340', REVERSED)]) == (
                              'mixed: holds against Cat-Cat@76, reversed '
                              'against Add-Add@340')
    assert claim_verdict([('A', HOLDS), ('B', WITHIN_NOISE),
                          ('C', HOLDS)]) == (
                              'mixed: holds against A and C, within noise '
                              'against B')
    assert claim_verdict([]) == TOO_FEW_SEEDS
