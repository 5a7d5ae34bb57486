"""The measured-impact statistics hold their stated coverage against a planted truth, over many seeds."""

import numpy as np
import pytest

from segmentation.exceptions import InvalidParameterError
from segmentation.outcome_stats import (
    MIN_MATURED,
    Moments,
    calibrated,
    close_rate_interval,
    mean_interval,
    measured_lift,
    verdict,
)

SEEDS = 1000
# With 1,000 draws a 95 % interval's observed coverage has a standard error of 0.7 points: this band is about
# three of them either side, so a correct interval fails it about once in a few hundred runs of the suite.
COVERED = (0.925, 0.975)


def deals(rng: np.random.Generator, n: int, mean: float) -> np.ndarray:
    """Deal sizes, heavy-tailed as money is: log-normal with sigma 0.5 and the given mean."""
    sigma = 0.5
    return rng.lognormal(np.log(mean) - sigma**2 / 2, sigma, n)


@pytest.mark.parametrize("rate", [0.08, 0.3, 0.62])
def test_the_close_rate_interval_covers_the_planted_rate_at_its_stated_rate(rate: float) -> None:
    rng = np.random.default_rng(1)
    covered = [close_rate_interval(int(won), 200).covers(rate) for won in rng.binomial(200, rate, SEEDS)]
    assert COVERED[0] <= np.mean(covered) <= COVERED[1]


def test_the_deal_size_interval_covers_the_planted_mean_at_its_stated_rate() -> None:
    rng = np.random.default_rng(2)
    covered = [mean_interval(Moments.of(deals(rng, 80, 20_000))).covers(20_000) for _ in range(SEEDS)]
    assert COVERED[0] <= np.mean(covered) <= COVERED[1]


def revenue(rng: np.random.Generator, n: int, rate: float, deal: float) -> np.ndarray:
    """Revenue per matured lead: the deal's amount if won, else 0."""
    return np.where(rng.random(n) < rate, deals(rng, n, deal), 0.0)


def moments(rng: np.random.Generator, n: int, rate: float, deal: float) -> Moments:
    return Moments.of(revenue(rng, n, rate, deal))


def test_the_revenue_per_lead_interval_covers_the_planted_mean_at_its_stated_rate() -> None:
    rng = np.random.default_rng(3)
    covered = [mean_interval(Moments.of(revenue(rng, 500, 0.25, 16_000))).covers(0.25 * 16_000) for _ in range(SEEDS)]
    assert COVERED[0] <= np.mean(covered) <= COVERED[1]


def test_the_measured_lift_interval_covers_the_planted_lift_at_its_stated_rate() -> None:
    """Segmented leads close at 30 % for $20K on average, the holdout at 23 % for $12K: a lift of 117.4 %."""
    planted = (0.30 * 20_000) / (0.23 * 12_000) * 100 - 100
    rng = np.random.default_rng(4)
    lifts = [measured_lift(moments(rng, 4_000, 0.30, 20_000), moments(rng, 1_000, 0.23, 12_000)) for _ in range(SEEDS)]
    assert all(lift.pct is not None and lift.interval is not None for lift in lifts)
    assert COVERED[0] <= np.mean([lift.interval.covers(planted) for lift in lifts if lift.interval]) <= COVERED[1]
    assert abs(np.median([lift.pct for lift in lifts if lift.pct is not None]) - planted) < 5


def test_a_wrong_assumption_is_named_and_a_right_one_mostly_consistent() -> None:
    rng = np.random.default_rng(5)
    won = rng.binomial(400, 0.30, SEEDS)  # the true close rate is 30 %
    said = {assumed: [verdict(assumed, int(w), 400) for w in won] for assumed in (0.45, 0.30, 0.15)}
    assert np.mean([v == "overstated" for v in said[0.45]]) > 0.99
    assert np.mean([v == "understated" for v in said[0.15]]) > 0.99
    assert COVERED[0] <= np.mean([v == "consistent" for v in said[0.30]]) <= COVERED[1]


def test_too_few_matured_leads_give_no_verdict_and_no_lift() -> None:
    assert verdict(0.3, 5, MIN_MATURED - 1) == "too_few"
    many, few = Moments.of(np.full(500, 2_000.0)), Moments.of(np.full(MIN_MATURED - 1, 1_000.0))
    assert measured_lift(many, few).pct is None
    assert measured_lift(many, Moments.of(np.zeros(500))).pct is None  # nothing won in the holdout: no ratio


def test_a_calibrated_rate_moves_from_the_assumed_toward_the_measured_with_the_leads() -> None:
    assert calibrated(0.45, 0, 0, prior_leads=100) == 0.45
    steps = [calibrated(0.45, 0.3 * n, n, prior_leads=100) for n in (100, 1_000, 100_000)]
    assert steps == sorted(steps, reverse=True) and 0.3 < steps[-1] < 0.301


def test_moments_give_the_mean_and_variance_numpy_gives_and_add_up() -> None:
    values = np.random.default_rng(6).lognormal(9, 1, 1_000)
    whole, halves = Moments.of(values), Moments.of(values[:400]) + Moments.of(values[400:])
    assert whole.mean == pytest.approx(np.mean(values)) and whole.variance == pytest.approx(np.var(values, ddof=1))
    assert halves.n == whole.n and halves.variance == pytest.approx(whole.variance)
    assert Moments.of(np.full(50, 1e9)).variance == 0.0  # equal deals: no rounding below zero


@pytest.mark.parametrize("won, matured", [(5, 0), (-1, 10), (11, 10)])
def test_impossible_counts_are_refused(won: int, matured: int) -> None:
    with pytest.raises(InvalidParameterError):
        close_rate_interval(won, matured)
