"""The verdict rule of the experiment suites, on hand-made numbers."""
import math

import pytest

from mmseg_affnet.analysis.claims import (HOLDS, REVERSED, TOO_FEW_SEEDS,
                                          WEAKER, WITHIN_NOISE,
                                          claim_verdict, compare, spread)


def test_spread_is_the_sample_mean_and_std():
    stats = spread([1.0, 2.0, 3.0])
    assert stats.mean == 2.0 and stats.count == 3
    assert stats.std == pytest.approx(1.0)  # ddof=1: sqrt(2 / 2)
    assert spread([5.0]).std == 0.0
    with pytest.raises(ValueError, match='No values'):
        spread([])


def test_the_difference_and_its_standard_error_are_welchs():
    # reference mean 60 (std 1), other mean 57 (std 2), 3 seeds each:
    # se = sqrt(1/3 + 4/3) = 1.291; d = 3 > 2 se = 2.582
    comparison = compare([59.0, 60.0, 61.0], [55.0, 57.0, 59.0])
    assert comparison.difference == pytest.approx(3.0)
    assert comparison.standard_error == pytest.approx(math.sqrt(5 / 3))
    assert comparison.verdict == HOLDS


@pytest.mark.parametrize('other, verdict', [
    ([57.5, 58.0, 58.5], HOLDS),  # d = 2, se = 0.41
    ([59.0, 61.0, 60.5], WITHIN_NOISE),  # d = -0.17
    ([59.5, 60.5, 62.0], WITHIN_NOISE),  # d = -0.67, se = 0.78
    ([62.0, 62.5, 63.0], REVERSED),  # d = -2.5, se = 0.41
])
def test_verdicts_against_two_standard_errors(other, verdict):
    assert compare([59.5, 60.0, 60.5], other).verdict == verdict


def test_a_difference_just_inside_two_standard_errors_is_noise():
    # se = sqrt(2 * 1/2) = 1 with 2 seeds each of std 1 (values m -+ 0.7071)
    half = math.sqrt(0.5)
    reference = [10.0 - half, 10.0 + half]
    assert compare(reference, [8.01 - half, 8.01 + half]).verdict == \
        WITHIN_NOISE  # d = 1.99 < 2 se
    assert compare(reference, [7.99 - half, 7.99 + half]).verdict == HOLDS


def test_a_claimed_size_out_of_reach_is_weaker_than_claimed():
    reference = [40.0, 41.0, 42.0]
    # d = 5 clearly > 0, but d + 2 se = 5 + 2 * 0.816 < 10
    assert compare(reference, [35.0, 36.0, 37.0], 10.0).verdict == WEAKER
    # d = 9, se 0.816: 10 is within reach -> holds
    assert compare(reference, [31.0, 32.0, 33.0], 10.0).verdict == HOLDS
    assert compare(reference, [35.0, 36.0, 37.0]).verdict == HOLDS


def test_one_seed_gives_no_verdict():
    comparison = compare([60.0], [50.0, 51.0])
    assert comparison.verdict == TOO_FEW_SEEDS
    assert comparison.difference == pytest.approx(9.5)
    assert math.isnan(comparison.standard_error)


def test_a_claim_holds_only_if_every_comparison_holds():
    assert claim_verdict([HOLDS, HOLDS]) == HOLDS
    assert claim_verdict([HOLDS, WITHIN_NOISE]) == WITHIN_NOISE
    assert claim_verdict([HOLDS, REVERSED, WITHIN_NOISE]) == REVERSED
    assert claim_verdict([HOLDS, WEAKER]) == WEAKER
    assert claim_verdict([HOLDS, TOO_FEW_SEEDS]) == TOO_FEW_SEEDS
