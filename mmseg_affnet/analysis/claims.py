"""Seeds to verdicts: the statistics of a claim that one variant beats
another.

A claim compares a reference (AFFNet) with another variant on one metric
over several seeds. The rule, the same for every claim:

- ``d`` is the reference's mean minus the other's mean (for a claim that
  the reference is *higher*), and ``se`` the standard error of that
  difference, ``sqrt(s_ref^2 / n_ref + s_other^2 / n_other)`` with sample
  standard deviations (Welch's form; the seeds of the two variants are
  independent trainings).
- **holds** if ``d > 2 se``, **reversed** if ``d < -2 se``, **within noise**
  otherwise. This is a plain two-standard-error rule, not a significance
  test: with 3 seeds a side, Welch's t-test at 95 % would need about 2.8-4.3
  standard errors (2-4 degrees of freedom), so "holds" reads "beyond two
  standard errors of the seed noise".
- A claim of a size (e.g. "more than 10 points") that holds in direction
  but whose size lies out of reach (``d + 2 se < size``) is **weaker than
  claimed**.
- With fewer than two seeds on either side no spread can be estimated: the
  verdict is **needs 2+ seeds**.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence

HOLDS = 'holds'
REVERSED = 'reversed'
WITHIN_NOISE = 'within noise'
WEAKER = 'weaker than claimed'
TOO_FEW_SEEDS = 'needs 2+ seeds'
#: The verdict rule in one sentence, printed under every summary.
VERDICT_RULE = (
    'Verdict per comparison: d = reference mean - variant mean, se = '
    'sqrt(s_ref²/n_ref + s_var²/n_var) (sample std over seeds); holds if '
    'd > 2 se, reversed if d < -2 se, within noise otherwise (a plain '
    'two-standard-error rule, looser than a 95 % t-test at 3 seeds); a '
    'claimed '
    'size S (e.g. > 10 points) whose reach d + 2 se stays below S is '
    '"weaker than claimed". A claim holds if all its comparisons hold, is '
    'reversed if any is reversed, and is otherwise within noise (or weaker '
    'than claimed).')


@dataclass
class Spread:
    """Mean, sample standard deviation and count of a metric over seeds."""
    mean: float
    std: float
    count: int


@dataclass
class Comparison:
    """The difference ``reference - other`` and its verdict."""
    difference: float
    standard_error: float
    verdict: str


def spread(values: Sequence[float]) -> Spread:
    """Mean and sample standard deviation (0 for a single value).

    Args:
        values (Sequence[float]): One value per seed, at least one.

    Returns:
        Spread: Mean, std (``ddof=1``) and count.

    Raises:
        ValueError: If ``values`` is empty.
    """
    if not values:
        raise ValueError('No values: a variant without finished runs has no '
                         'mean.')
    count = len(values)
    mean = sum(values) / count
    if count < 2:
        return Spread(mean, 0.0, count)
    variance = sum((v - mean)**2 for v in values) / (count - 1)
    return Spread(mean, math.sqrt(variance), count)


def compare(reference: Sequence[float],
            other: Sequence[float],
            claimed_size: Optional[float] = None) -> Comparison:
    """Judge the claim that ``reference`` is higher than ``other``.

    Args:
        reference (Sequence[float]): The reference's metric, one per seed.
        other (Sequence[float]): The other variant's metric, one per seed.
        claimed_size (float, optional): The claimed least difference (same
            unit); None claims only the direction. Default: None.

    Returns:
        Comparison: ``d``, its standard error and the verdict (see the
        module docstring).
    """
    ref, oth = spread(reference), spread(other)
    difference = ref.mean - oth.mean
    if ref.count < 2 or oth.count < 2:
        return Comparison(difference, math.nan, TOO_FEW_SEEDS)
    error = math.sqrt(ref.std**2 / ref.count + oth.std**2 / oth.count)
    if difference > 2 * error:
        verdict = HOLDS
        if claimed_size is not None and difference + 2 * error < claimed_size:
            verdict = WEAKER
    elif difference < -2 * error:
        verdict = REVERSED
    else:
        verdict = WITHIN_NOISE
    return Comparison(difference, error, verdict)


def claim_verdict(verdicts: Sequence[str]) -> str:
    """One verdict of a claim from the verdicts of its comparisons.

    Args:
        verdicts (Sequence[str]): The verdict of each comparison.

    Returns:
        str: ``holds`` if all hold; ``reversed`` if any is reversed;
        ``needs 2+ seeds`` if any lacks seeds; ``weaker than claimed`` if
        any is; ``within noise`` otherwise.
    """
    if not verdicts:
        return TOO_FEW_SEEDS
    for verdict in (REVERSED, TOO_FEW_SEEDS, WEAKER, WITHIN_NOISE):
        if verdict in verdicts:
            return verdict
    return HOLDS
