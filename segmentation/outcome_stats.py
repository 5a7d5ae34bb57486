"""Measured results of a campaign arm: close rate, deal size and revenue per lead with 95 % intervals, a verdict
on an assumed close rate, the lift of one arm over another, and an assumed rate calibrated by what was measured.

A lead is *matured* once it has a result (won or lost, or its attribution window closed without one: lost); the
figures rest on matured leads only. Intervals: Wilson for the close rate; Student's t for the mean deal size and
the mean revenue per lead; the delta method on the log of the ratio of two means for the lift. Means and their
intervals rest on `Moments` (count, sum, sum of squares): all the streaming side keeps."""

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from segmentation.exceptions import InvalidParameterError

__all__ = [
    "MIN_MATURED",
    "Interval",
    "Lift",
    "Moments",
    "Verdict",
    "calibrated",
    "close_rate_interval",
    "measured_lift",
    "mean_interval",
    "verdict",
]

# Below this many matured leads an arm's figures are shown, but no verdict and no lift: `too_few`.
MIN_MATURED = 30
CONFIDENCE = 0.95

Verdict = Literal["consistent", "overstated", "understated", "too_few"]


@dataclass(frozen=True)
class Interval:
    low: float
    high: float

    def covers(self, value: float) -> bool:
        return self.low <= value <= self.high


@dataclass(frozen=True)
class Lift:
    """Revenue per lead of one arm over another's, in percent, with its interval; None when either arm has fewer
    than `MIN_MATURED` matured leads or no revenue to compare with."""

    pct: float | None
    interval: Interval | None


@dataclass(frozen=True)
class Moments:
    """The sufficient statistics of a mean: how many values, their sum and the sum of their squares.

    Examples:
        >>> m = Moments.of(np.array([10.0, 12.0, 14.0]))
        >>> m, m.mean, m.variance
        (Moments(n=3, total=36.0, total_sq=440.0), 12.0, 4.0)
    """

    n: int
    total: float
    total_sq: float

    @classmethod
    def of(cls, values: np.ndarray) -> "Moments":
        return cls(len(values), float(np.sum(values)), float(np.sum(np.square(values))))

    def __add__(self, other: "Moments") -> "Moments":
        return Moments(self.n + other.n, self.total + other.total, self.total_sq + other.total_sq)

    @property
    def mean(self) -> float:
        return self.total / self.n

    @property
    def variance(self) -> float:
        """The sample variance (n - 1), never below 0 (the sums' rounding can take it a hair under)."""
        return max(0.0, (self.total_sq - self.total * self.total / self.n) / (self.n - 1))


def _z(confidence: float) -> float:
    from scipy.stats import norm

    if not 0 < confidence < 1:
        raise InvalidParameterError(f"confidence must be between 0 and 1, not {confidence}")
    return float(norm.ppf(0.5 + confidence / 2))


def close_rate_interval(won: int, matured: int, confidence: float = CONFIDENCE) -> Interval:
    """Wilson's interval for a close rate of `won` in `matured` leads.

    Examples:
        >>> i = close_rate_interval(30, 100)
        >>> round(i.low, 3), round(i.high, 3)
        (0.219, 0.396)
    """
    if matured <= 0 or not 0 <= won <= matured:
        raise InvalidParameterError(f"a close rate needs 0 <= won <= matured and matured > 0, not {won} of {matured}")
    z = _z(confidence)
    p = won / matured
    centre = (p + z * z / (2 * matured)) / (1 + z * z / matured)
    half = z / (1 + z * z / matured) * math.sqrt(p * (1 - p) / matured + z * z / (4 * matured * matured))
    return Interval(max(0.0, centre - half), min(1.0, centre + half))


def mean_interval(values: Moments, confidence: float = CONFIDENCE) -> Interval:
    """Student's t interval for the mean of `values` (at least two).

    Examples:
        >>> i = mean_interval(Moments.of(np.array([10.0, 12.0, 14.0])))
        >>> round(i.low, 2), round(i.high, 2)
        (7.03, 16.97)
    """
    from scipy.stats import t

    if values.n < 2:
        raise InvalidParameterError("an interval for a mean needs at least two values")
    half = float(t.ppf(0.5 + confidence / 2, values.n - 1)) * math.sqrt(values.variance / values.n)
    return Interval(values.mean - half, values.mean + half)


def verdict(assumed: float, won: int, matured: int, confidence: float = CONFIDENCE) -> Verdict:
    """Whether an assumed close rate agrees with `won` of `matured` leads: inside the interval, above it, below it.

    Examples:
        >>> verdict(0.45, 30, 100), verdict(0.30, 30, 100), verdict(0.10, 30, 100), verdict(0.3, 3, 10)
        ('overstated', 'consistent', 'understated', 'too_few')
    """
    if matured < MIN_MATURED:
        return "too_few"
    interval = close_rate_interval(won, matured, confidence)
    if assumed > interval.high:
        return "overstated"
    return "understated" if assumed < interval.low else "consistent"


def measured_lift(treated: Moments, control: Moments, confidence: float = CONFIDENCE) -> Lift:
    """Lift of mean revenue per lead of `treated` over `control` (the moments of one value per matured lead: the
    amount won, 0 if lost), in percent; the interval by the delta method on log(treated mean / control mean).

    Examples:
        >>> rng = np.random.default_rng(0)
        >>> treated = Moments.of(np.where(rng.random(4000) < 0.3, 20_000.0, 0.0))
        >>> control = Moments.of(np.where(rng.random(4000) < 0.2, 20_000.0, 0.0))
        >>> lift = measured_lift(treated, control)
        >>> round(lift.pct), lift.interval.covers(50.0)
        (46, True)
    """
    if min(treated.n, control.n) < MIN_MATURED or min(treated.total, control.total) <= 0:
        return Lift(None, None)
    variance = sum(x.variance / x.n / x.mean**2 for x in (treated, control))
    log_ratio, half = math.log(treated.mean / control.mean), _z(confidence) * math.sqrt(variance)
    return Lift(_pct(log_ratio), Interval(_pct(log_ratio - half), _pct(log_ratio + half)))


def _pct(log_ratio: float) -> float:
    return (math.exp(log_ratio) - 1) * 100


def calibrated(assumed: float, observed_total: float, matured: int, prior_leads: float) -> float:
    """An assumed rate or mean moved toward what `matured` leads showed: the posterior mean of a prior worth
    `prior_leads` leads centred on `assumed` (a Beta prior for a rate). `observed_total` is the sum the leads
    showed (leads won, for a rate; the amounts won, for a deal size with `matured` the deals won).

    Examples:
        >>> calibrated(0.45, observed_total=30, matured=100, prior_leads=100)
        0.375
    """
    if prior_leads < 0 or matured < 0:
        raise InvalidParameterError("prior_leads and matured must not be negative")
    if matured + prior_leads == 0:
        return assumed
    return (assumed * prior_leads + observed_total) / (prior_leads + matured)
