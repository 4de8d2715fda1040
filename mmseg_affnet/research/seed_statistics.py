"""Statistics over seeds: Welch's t-test of a claim that one variant beats
another.

A claim compares a reference (AFFNet) with another variant on one metric
over several seeds (independent trainings). The rule, the same for every
comparison:

- ``d`` is the reference's mean minus the other's mean, ``se`` the standard
  error of that difference, ``sqrt(s_ref^2 / n_ref + s_other^2 /
  n_other)`` with sample standard deviations, and ``df`` its
  Welch-Satterthwaite degrees of freedom. The 95 % confidence interval of
  the difference is ``d ± t(0.975, df) se`` and ``p`` the two-sided p-value
  of Welch's t-test (:data:`ALPHA` = 0.05).
- The direction: **holds** if the interval lies above 0, **reversed** if it
  lies below 0, **within noise** otherwise (equivalently ``p < 0.05`` with
  the sign of ``d``).
- A claim of a size S ("more than 10 points") is judged on the interval
  against S, whatever the direction says: **holds** if its lower end
  exceeds S, **size refuted** if its upper end is below S, **size
  undecided** otherwise. (With 3 seeds a side, d = 8 and se = 2.58 give
  [0.8, 15.2]: the direction holds, the size is undecided.)
- With fewer than two seeds on either side no spread can be estimated:
  **needs 2+ seeds**. If both sides have no spread at all (every seed
  equal), the interval is the point ``d``.

Every comparison is tested at α = 0.05 on its own; no correction for the
several comparisons of a claim is applied (the p-values are reported, so
that a reader can apply one, e.g. Holm's). A claim whose comparisons
disagree says so: ``mixed: holds against Cat-Cat@76, reversed against
Add-Add@340``.
"""
import math
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from scipy import stats

ALPHA = 0.05
HOLDS = 'holds'
REVERSED = 'reversed'
WITHIN_NOISE = 'within noise'
SIZE_REFUTED = 'size refuted'
SIZE_UNDECIDED = 'size undecided'
TOO_FEW_SEEDS = 'needs 2+ seeds'
#: The verdict rule in one sentence, printed under every summary.
VERDICT_RULE = (
    "Verdict per comparison: Welch's t-test at α = 0.05 on d = reference "
    'mean - variant mean (se = sqrt(s_ref²/n_ref + s_var²/n_var), sample '
    'std over seeds, Welch-Satterthwaite degrees of freedom); holds if the '
    '95 % confidence interval of d lies above 0, reversed if below 0, '
    'within noise otherwise. A claimed size S (> 10 points) holds only if '
    "the interval's lower end exceeds S, is refuted if its upper end is "
    'below S, undecided otherwise. A claim whose comparisons disagree is '
    '"mixed" and names each; no correction for several comparisons.')


@dataclass
class Spread:
    """Mean, sample standard deviation and count of a metric over seeds."""
    mean: float
    std: float
    count: int


@dataclass
class Comparison:
    """The difference ``reference - other``, Welch's test and the verdicts.

    Attributes:
        difference (float): ``d``, reference mean minus other mean.
        standard_error (float): Standard error of ``d`` (nan below 2 seeds).
        dof (float): Welch-Satterthwaite degrees of freedom (nan below 2
            seeds or without spread).
        interval (tuple[float, float]): 95 % confidence interval of ``d``.
        p_value (float): Two-sided p-value of Welch's t-test.
        direction (str): ``holds``, ``reversed``, ``within noise`` or
            ``needs 2+ seeds``.
        size (str, optional): For a claimed size: ``holds``, ``size
            refuted`` or ``size undecided`` (or ``needs 2+ seeds``); None
            for a claim of direction only.
    """
    difference: float
    standard_error: float
    dof: float
    interval: Tuple[float, float]
    p_value: float
    direction: str
    size: Optional[str] = None

    @property
    def verdict(self) -> str:
        """The size verdict for a size claim, else the direction's."""
        return self.direction if self.size is None else self.size


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


def welch(reference: Spread,
          other: Spread,
          claimed_size: Optional[float] = None) -> Comparison:
    """Welch's t-test of "``reference`` is higher than ``other``".

    Args:
        reference (Spread): The reference's mean, std and seeds.
        other (Spread): The other variant's.
        claimed_size (float, optional): The claimed least difference (same
            unit); None claims only the direction. Default: None.

    Returns:
        Comparison: ``d``, se, df, the 95 % interval, p and the verdicts
        (see the module docstring).
    """
    difference = reference.mean - other.mean
    if reference.count < 2 or other.count < 2:
        return Comparison(difference, math.nan, math.nan,
                          (math.nan, math.nan), math.nan, TOO_FEW_SEEDS,
                          None if claimed_size is None else TOO_FEW_SEEDS)
    share_ref = reference.std**2 / reference.count
    share_other = other.std**2 / other.count
    error = math.sqrt(share_ref + share_other)
    if error == 0:  # no spread on either side: the difference is exact
        dof, interval = math.nan, (difference, difference)
        p_value = 1.0 if difference == 0 else 0.0
    else:
        dof = (share_ref + share_other)**2 / (
            share_ref**2 / (reference.count - 1) + share_other**2 /
            (other.count - 1))
        half_width = stats.t.ppf(1 - ALPHA / 2, dof) * error
        interval = (difference - half_width, difference + half_width)
        p_value = float(2 * stats.t.sf(abs(difference) / error, dof))
    if interval[0] > 0:
        direction = HOLDS
    elif interval[1] < 0:
        direction = REVERSED
    else:
        direction = WITHIN_NOISE
    size = None
    if claimed_size is not None:
        size = (HOLDS if interval[0] > claimed_size else SIZE_REFUTED
                if interval[1] < claimed_size else SIZE_UNDECIDED)
    return Comparison(difference, error, dof, interval, p_value, direction,
                      size)


def compare_seeds(reference: Sequence[float],
            other: Sequence[float],
            claimed_size: Optional[float] = None) -> Comparison:
    """Welch's t-test of "``reference`` is higher than ``other``" from the
    values of every seed.

    Args:
        reference (Sequence[float]): The reference's metric, one per seed.
        other (Sequence[float]): The other variant's metric, one per seed.
        claimed_size (float, optional): The claimed least difference (same
            unit); None claims only the direction. Default: None.

    Returns:
        Comparison: See :func:`welch`.
    """
    return welch(spread(reference), spread(other), claimed_size)


def claim_verdict(verdicts: Sequence[Tuple[str, str]]) -> str:
    """One verdict of a claim from the verdicts of its comparisons.

    Args:
        verdicts (Sequence[tuple[str, str]]): ``(variant, verdict)`` of each
            comparison, in the claim's order.

    Returns:
        str: The common verdict if every comparison has the same one (empty
        input: ``needs 2+ seeds``); otherwise ``mixed:`` and each verdict
        with the variants it was reached against, e.g. ``mixed: holds
        against Cat-Cat@76, reversed against Add-Add@340``.
    """
    if not verdicts:
        return TOO_FEW_SEEDS
    groups = {}
    for variant, verdict in verdicts:
        groups.setdefault(verdict, []).append(variant)
    if len(groups) == 1:
        return next(iter(groups))
    return 'mixed: ' + ', '.join(
        f'{verdict} against {" and ".join(variants)}'
        for verdict, variants in groups.items())
