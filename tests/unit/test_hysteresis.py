"""Hysteresis in `LeadSegmenter.assign`: a lead stays in its previous segment unless the nearest is more than the
margin closer, and everything returned then describes the segment it stays in."""

import numpy as np
import pytest

from segmentation.exceptions import InvalidParameterError
from segmentation.segmenter import LeadSegmenter
from segmentation.synthetic import generate_leads


@pytest.fixture(scope="module")
def line() -> tuple[LeadSegmenter, list[int]]:
    """Three segments on one feature, centred on 10, 50 and 90; their indices in that order."""
    model = LeadSegmenter(n_clusters=3, features=("engagement_score",), log_features=()).fit(
        np.array([[10.0], [10.0], [50.0], [50.0], [90.0]])
    )
    centers = model.scaler_.mean_[0] + model.scaler_.scale_[0] * model.centroids_[:, 0]
    return model, np.argsort(centers).tolist()


def test_a_lead_stays_in_its_previous_segment_within_the_margin_and_moves_beyond_it(
    line: tuple[LeadSegmenter, list[int]],
) -> None:
    model, (low, mid, _) = line
    X = np.array([[31.0]])  # 19 from 50, 21 from 10: 10 is 10.5 % farther than the nearest
    previous = np.array([low])
    held = model.assign(X, previous=previous, margin=0.2)
    assert held.segment.tolist() == [low]
    assert held.distance[0] == pytest.approx(21 / model.scaler_.scale_[0])
    assert held.confidence.tolist() == [0.0]  # past midway: no confidence in the segment it is held in
    assert held.is_outlier.tolist() == [held.distance[0] > model.distance_quantiles_[low, -1]]
    moved = model.assign(X, previous=previous, margin=0.05)
    assert moved.segment.tolist() == [mid]
    assert moved.distance[0] == pytest.approx(19 / model.scaler_.scale_[0])


def test_margin_zero_or_no_previous_segment_is_the_nearest_segment(fitted_800: LeadSegmenter) -> None:
    X = generate_leads(300, random_state=8).X
    plain = fitted_800.assign(X)
    others = (plain.segment + 1) % 5
    for result in (
        fitted_800.assign(X, previous=others, margin=0.0),
        fitted_800.assign(X, previous=np.full(300, -1), margin=0.5),
    ):
        for name in ("segment", "distance", "confidence", "top_features", "is_outlier"):
            assert np.array_equal(getattr(result, name), getattr(plain, name)), name


def test_every_lead_moves_exactly_when_its_previous_segment_is_farther_than_the_margin(
    fitted_800: LeadSegmenter,
) -> None:
    X = generate_leads(2000, random_state=9).X
    d = np.sqrt(((fitted_800.transform(X)[:, None, :] - fitted_800.centroids_[None, :, :]) ** 2).sum(axis=2))
    previous = np.random.default_rng(0).integers(-1, 5, 2000)
    result = fitted_800.assign(X, previous=previous, margin=0.1)
    nearest = d.argmin(axis=1)
    rows = np.arange(2000)
    held = (previous >= 0) & (d[rows, np.maximum(previous, 0)] <= 1.1 * d[rows, nearest])
    assert 0 < (held & (previous != nearest)).sum() < (previous != nearest).sum()  # some held, most not
    assert np.array_equal(result.segment, np.where(held, previous, nearest))
    assert np.allclose(result.distance, d[rows, result.segment])
    assert np.all((result.confidence >= 0) & (result.confidence <= 1))


def test_previous_segments_must_be_indices_of_this_model(fitted_800: LeadSegmenter) -> None:
    X = generate_leads(3, random_state=1).X
    for previous in (np.array([0, 5, 1]), np.array([0, -2, 1]), np.array([0, 1])):
        with pytest.raises(InvalidParameterError, match="one segment index"):
            fitted_800.assign(X, previous=previous, margin=0.1)
