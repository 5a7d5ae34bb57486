"""Recency-weighted sampling (segmentation/recency.py): the weights it promises, its bound, and a prefilter
that never drops a row the exact sample would keep."""

import math

import numpy as np
import pytest

from segmentation.recency import RecencySample, admitted, recency_keys

HOUR = 3600.0


def hours_kept(sample: RecencySample, hours: int, per_hour: int) -> np.ndarray:
    """Offer `per_hour` leads an hour for `hours` hours (column 0: the hour); the share of each hour kept."""
    for hour in range(hours):
        for _ in range(per_hour // 1_000):
            sample.offer(np.full((1_000, 2), float(hour)), t=hour * HOUR)
            if sample.full:
                sample.hold(sample.take())
    kept = sample.take()["features"][:, 0].astype(int)
    return np.bincount(kept, minlength=hours) / len(kept)


@pytest.mark.parametrize("half_lives_per_hour", [1.0, 0.5])
def test_each_half_life_halves_a_leads_chance_to_be_kept(half_lives_per_hour: float) -> None:
    sample = RecencySample(capacity=5_000, half_life=HOUR / half_lives_per_hour, n_features=2, random_state=0)
    share = hours_kept(sample, hours=6, per_hour=50_000)
    weights = 2.0 ** (np.arange(6) * half_lives_per_hour)
    expected = weights / weights.sum()  # capacity << leads per hour: sampling without replacement ≈ with
    np.testing.assert_allclose(share, expected, atol=0.02)


def test_without_decay_the_sample_is_uniform() -> None:
    sample = RecencySample(capacity=5_000, half_life=1e12, n_features=2, random_state=1)
    np.testing.assert_allclose(hours_kept(sample, hours=5, per_hour=20_000), 0.2, atol=0.02)


def test_the_sample_is_bounded_and_keeps_exactly_the_largest_keys_of_everything_offered() -> None:
    capacity, half_life, seed = 1_000, 2 * HOUR, 3
    sample = RecencySample(capacity=capacity, half_life=half_life, n_features=1, random_state=seed)
    rng = np.random.default_rng(seed)  # the same draws the sample makes, one per row offered
    every_key, every_row = [], []
    for minute in range(600):
        X = np.arange(minute * 500, (minute + 1) * 500, dtype=float)[:, None]
        sample.offer(X, t=minute * 60.0)
        if sample.full:  # as the owner does, off the hot path
            sample.hold(sample.take())
        assert len(sample) < 2 * capacity
        every_key.append(recency_keys(rng.random(len(X)), minute * 60.0, half_life))
        every_row.append(X[:, 0])
    keys, rows = np.concatenate(every_key), np.concatenate(every_row)
    exact = set(rows[np.argsort(keys)[-capacity:]].tolist())
    kept = sample.take()
    assert len(kept) == capacity and set(kept["features"][:, 0].tolist()) == exact
    assert sample.threshold == kept["key"].min()  # the cut raised it: nothing below can enter any more


def test_offering_never_sorts_the_rows_held_the_owner_cuts_them() -> None:
    sample = RecencySample(capacity=100, half_life=HOUR, n_features=1, random_state=5)
    for _ in range(5):
        sample.offer(np.zeros((100, 1)), t=0.0)
    assert len(sample) == 500 and sample.full  # all held: the threshold only rises when the owner cuts
    assert len(sample.take()) == 100 and len(sample) == 0


@pytest.mark.parametrize("threshold", [-math.inf, -3.0, 0.0, 2.5, 40.0, math.inf])
def test_the_prefilter_agrees_with_the_keys(threshold: float) -> None:
    u = np.random.default_rng(4).random(200_000)
    t = 1.8e9  # a Unix time: keys of the order of t·ln2/half-life
    assert (
        admitted(u, t, 86_400.0, threshold + t * math.log(2) / 86_400)
        == (recency_keys(u, t, 86_400.0) > threshold + t * math.log(2) / 86_400)
    ).all()


def test_nonsense_parameters_are_refused() -> None:
    with pytest.raises(ValueError, match="positive"):
        RecencySample(capacity=0, half_life=1.0, n_features=2)
