"""Drift figures: where leads sit in a model, the training leads' figures stored in the artifact, and how a
changed population moves them past the thresholds while the fit population does not."""

import json

import numpy as np
import pytest

from models.exceptions import SnapshotError
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.drift import DriftThresholds, drift_figures, drift_reasons, drift_score, place
from segmentation.segmenter import LeadSegmenter
from segmentation.synthetic import generate_leads
from tests.populations import noise, with_a_sixth_group


@pytest.fixture(scope="module")
def fitted() -> tuple[LeadSegmenter, ModelSnapshot]:
    return fit_model(generate_leads(3000, random_state=0).X, config=StrategyConfig(), k=5, version=1)


def judged(snapshot: ModelSnapshot, X: np.ndarray) -> tuple[float, tuple[str, ...]]:
    fit = snapshot.drift_baseline()
    assert fit is not None
    now = drift_figures(place(snapshot.to_segmenter(), X), len(snapshot.segments))
    thresholds = DriftThresholds()
    return drift_score(fit, now, thresholds), drift_reasons(fit, now, thresholds, snapshot.segment_ids)


def test_placement_agrees_with_the_served_assignment(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    model = fitted[1].to_segmenter()
    X = with_a_sixth_group(2000, seed=4)
    placed, assigned = place(model, X), model.assign(X)
    assert np.array_equal(placed.segment, assigned.segment)
    assert np.allclose(placed.distance, assigned.distance)
    assert np.array_equal(placed.outlier, assigned.is_outlier)
    assert not (placed.beyond_every & ~placed.outlier).any()  # beyond every radius is beyond its own too


def test_the_artifact_keeps_the_training_leads_figures(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    model, snapshot = fitted
    fit = snapshot.drift_baseline()
    assert fit is not None
    X = generate_leads(3000, random_state=0).X
    expected = drift_figures(place(model, X), 5)
    assert np.allclose(fit.mean_distances, expected.mean_distances)
    assert np.allclose(fit.outlier_shares, expected.outlier_shares)
    assert fit.beyond_share == expected.beyond_share
    assert np.allclose(fit.shares, [s.share for s in snapshot.segments])
    assert all(0.005 <= s.outlier_share <= 0.02 for s in snapshot.segments if s.outlier_share is not None)  # p99
    assert ModelSnapshot.from_json(snapshot.model_dump_json()) == snapshot


def test_an_artifact_without_figures_loads_and_has_no_baseline(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    older = json.loads(fitted[1].model_dump_json())
    del older["beyond_radius_share"]
    for segment in older["segments"]:
        del segment["mean_distance"], segment["outlier_share"]
    loaded = ModelSnapshot.from_json(json.dumps(older))
    assert loaded.drift_baseline() is None
    older["beyond_radius_share"] = 0.01  # figures for the model but none for its segments: refused
    with pytest.raises(SnapshotError, match="drift baseline"):
        ModelSnapshot.from_json(json.dumps(older))


def test_the_fit_population_is_steady(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    for seed in (7, 8):
        score, reasons = judged(fitted[1], generate_leads(3000, random_state=seed).X)
        assert score < 0.5 and reasons == ()


def test_a_new_kind_of_lead_is_drift_with_its_reasons(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    score, reasons = judged(fitted[1], with_a_sixth_group(5000, seed=3))
    assert score >= 1
    assert any("of leads beyond every radius (fit" in reason for reason in reasons), reasons
    assert any(reason.startswith("segment ") and "outliers (fit" in reason for reason in reasons), reasons


def test_noise_is_drift_on_every_figure(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    score, reasons = judged(fitted[1], noise(5000, seed=3))
    assert score >= 5
    assert any("mean distance" in r for r in reasons) and any("other segments than at fit time" in r for r in reasons)


def test_a_segment_with_few_leads_in_the_window_is_not_judged_on_distance(
    fitted: tuple[LeadSegmenter, ModelSnapshot],
) -> None:
    snapshot = fitted[1]
    X = with_a_sixth_group(5000, seed=3)
    placed = place(snapshot.to_segmenter(), X)
    sparse = DriftThresholds(min_segment_leads=len(X) + 1)
    fit = snapshot.drift_baseline()
    assert fit is not None
    reasons = drift_reasons(fit, drift_figures(placed, 5), sparse, snapshot.segment_ids)
    assert reasons and not any(reason.startswith("segment ") for reason in reasons)


def test_a_refit_keeps_its_own_training_leads_figures(fitted: tuple[LeadSegmenter, ModelSnapshot]) -> None:
    candidate, _ = refit_model(with_a_sixth_group(3000, seed=6), fitted[1], version=2, k=6)
    fit = candidate.drift_baseline()
    assert fit is not None and len(fit.mean_distances) == 6
    score, reasons = judged(candidate, with_a_sixth_group(3000, seed=7))
    assert score < 1 and reasons == ()  # the population it was refitted on is steady under it
