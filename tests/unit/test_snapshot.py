"""The model artifact: versioned JSON that assigns exactly like the model it was made from."""

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.exceptions import SnapshotError
from models.snapshot import SCHEMA_VERSION, ModelSnapshot
from models.strategies import DEFAULT_STRATEGIES, FALLBACK_STRATEGY, StrategyConfig
from segmentation.drift import drift_figures, place
from segmentation.exceptions import SegmenterError
from segmentation.features import FEATURES, HEAVY_TAILED
from segmentation.identity import fingerprint
from segmentation.naming import name_segments
from segmentation.profiling import profile_segments
from segmentation.segmenter import Assignment, LeadSegmenter
from segmentation.synthetic import SyntheticLeads, generate_leads

MakeSnapshot = Callable[..., ModelSnapshot]
TUTORIAL_NAMES = {"High-Value Enterprise", "SMB Quick Closers", "Tire Kickers", "Mid-Market Nurture", "Churn Risk"}


@pytest.fixture(scope="module")
def leads_2000() -> SyntheticLeads:
    return generate_leads(2000, random_state=21)


@pytest.fixture(scope="module")
def pca_model(leads_2000: SyntheticLeads) -> LeadSegmenter:
    return LeadSegmenter(pca=0.9, max_k=7, random_state=0).fit(leads_2000.X)


@pytest.fixture(scope="module")
def minibatch_model(leads_2000: SyntheticLeads) -> LeadSegmenter:
    return LeadSegmenter(n_clusters=5, algorithm="minibatch", random_state=0).fit(leads_2000.X)


@pytest.fixture(scope="module")
def snapshot_5000(fitted_5000: LeadSegmenter, leads_5000: SyntheticLeads, make_snapshot: MakeSnapshot) -> ModelSnapshot:
    return make_snapshot(fitted_5000, leads_5000.X)


def assert_same_assignments(a: Assignment, b: Assignment) -> None:
    for field in ("segment", "distance", "confidence", "top_features", "is_outlier"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field


def fitted(which: str, request: pytest.FixtureRequest) -> tuple[LeadSegmenter, SyntheticLeads]:
    """A fitted model of each kind ("chosen-k", "pca", "minibatch") and the leads it was fitted on."""
    model, leads = {
        "chosen-k": ("fitted_5000", "leads_5000"),
        "pca": ("pca_model", "leads_2000"),
        "minibatch": ("minibatch_model", "leads_2000"),
    }[which]
    return request.getfixturevalue(model), request.getfixturevalue(leads)


def round_trip(snapshot: ModelSnapshot) -> ModelSnapshot:
    return ModelSnapshot.from_json(snapshot.model_dump_json())


# --- contents ----------------------------------------------------------------------------------


def test_snapshot_holds_segments_strategies_and_how_k_was_chosen(
    snapshot_5000: ModelSnapshot, fitted_5000: LeadSegmenter, leads_5000: SyntheticLeads
) -> None:
    s = snapshot_5000
    assert s.schema_version == SCHEMA_VERSION == 1
    assert (s.version, s.created_at) == (1, datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert s.features == list(FEATURES)
    assert s.log_features == list(HEAVY_TAILED)
    assert s.training_fingerprint == fingerprint(leads_5000.X)
    assert s.pca is None
    assert s.segment_ids == [0, 1, 2, 3, 4]
    assert {seg.name for seg in s.segments} == TUTORIAL_NAMES
    for seg in s.segments:
        assert seg.strategy == DEFAULT_STRATEGIES[seg.name]
        assert seg.size == int((fitted_5000.labels_ == seg.id).sum())
        assert seg.share == seg.size / 5000
        assert set(seg.distance_quantiles) == {"p50", "p90", "p99"}
        assert list(seg.profile) == list(FEATURES)
        assert seg.centroid == fitted_5000.centroids_[seg.id].tolist()
    assert sum(seg.size for seg in s.segments) == 5000
    assert (s.baseline.conversion_rate, s.baseline.avg_deal_size) == (0.23, 12_000.0)
    assert (s.metrics.n_leads, s.metrics.k, s.metrics.algorithm) == (5000, 5, "kmeans")
    assert s.metrics.selection is not None
    assert s.metrics.selection.recommended_k == 5
    assert [score.k for score in s.metrics.selection.scores] == list(range(2, 11))
    assert "distortion jump" in s.metrics.selection.reason


def test_profiles_in_the_snapshot_are_the_segment_profiles(
    snapshot_5000: ModelSnapshot, fitted_5000: LeadSegmenter, leads_5000: SyntheticLeads
) -> None:
    X = leads_5000.X
    profiles = profile_segments(X, fitted_5000.scale(X), fitted_5000.labels_, 5)
    for seg, profile in zip(snapshot_5000.segments, profiles, strict=True):
        assert [stats.mean for stats in seg.profile.values()] == list(profile.mean)
        assert [stats.median for stats in seg.profile.values()] == list(profile.median)
        assert [stats.z for stats in seg.profile.values()] == list(profile.z)


def test_a_fixed_k_model_has_no_selection(
    fitted_800: LeadSegmenter, leads_800: SyntheticLeads, make_snapshot: MakeSnapshot
) -> None:
    snapshot = make_snapshot(fitted_800, leads_800.X)
    assert snapshot.metrics.selection is None
    assert round_trip(snapshot).metrics.selection is None


def test_name_overrides_and_unknown_names_get_the_fallback_strategy(
    fitted_800: LeadSegmenter, leads_800: SyntheticLeads, make_snapshot: MakeSnapshot
) -> None:
    config = StrategyConfig.from_toml('[names]\n2 = "Key Accounts"\n')
    snapshot = make_snapshot(fitted_800, leads_800.X, config=config)
    assert snapshot.segments[2].name == "Key Accounts"
    assert snapshot.segments[2].strategy == FALLBACK_STRATEGY
    assert {seg.name for i, seg in enumerate(snapshot.segments) if i != 2} < TUTORIAL_NAMES


def test_an_empty_segment_is_stored_with_null_statistics(fitted_800: LeadSegmenter, leads_800: SyntheticLeads) -> None:
    X = leads_800.X
    labels = np.where(fitted_800.labels_ == 4, 0, fitted_800.labels_)
    profiles = profile_segments(X, fitted_800.scale(X), labels, 5)
    names = list(name_segments(profiles))
    snapshot = ModelSnapshot.from_segmenter(
        fitted_800,
        names=names,
        strategies=[StrategyConfig().strategy_for(n) for n in names],
        profiles=profiles,
        baseline=StrategyConfig().baseline,
        version=3,
        created_at=datetime(2025, 1, 1, tzinfo=UTC),
        fingerprint=fingerprint(X),
        fit=drift_figures(place(fitted_800, X), 5),
    )
    empty = snapshot.segments[4]
    assert (empty.name, empty.size, empty.share) == ("Empty segment", 0, 0.0)
    assert all(stats.mean is None and stats.median is None and stats.z is None for stats in empty.profile.values())
    assert json.loads(snapshot.model_dump_json())["segments"][4]["profile"]["company_size"] == {
        "mean": None,
        "median": None,
        "z": None,
    }
    assert round_trip(snapshot) == snapshot


# --- round trip --------------------------------------------------------------------------------


def test_json_round_trip_gives_an_equal_snapshot_and_the_same_json(snapshot_5000: ModelSnapshot) -> None:
    text = snapshot_5000.model_dump_json()
    again = ModelSnapshot.from_json(text)
    assert again == snapshot_5000
    assert again.model_dump_json() == text
    assert ModelSnapshot.from_json(text.encode()) == snapshot_5000


@pytest.mark.parametrize("which", ["chosen-k", "pca", "minibatch"])
def test_restored_model_assigns_exactly_like_the_original(
    which: str,
    request: pytest.FixtureRequest,
    make_snapshot: MakeSnapshot,
) -> None:
    model, leads = fitted(which, request)
    restored = round_trip(make_snapshot(model, leads.X)).to_segmenter()
    assert restored.n_clusters_ == model.n_clusters_
    assert np.array_equal(restored.predict(leads.X), model.labels_)
    new = generate_leads(500, random_state=77).X
    assert np.array_equal(restored.predict(new), model.predict(new))
    assert_same_assignments(restored.assign(new), model.assign(new))
    assert_same_assignments(restored.assign(leads.X, top=5), model.assign(leads.X, top=5))


def test_pca_and_minibatch_are_recorded(
    pca_model: LeadSegmenter, minibatch_model: LeadSegmenter, leads_2000: SyntheticLeads, make_snapshot: MakeSnapshot
) -> None:
    pca = round_trip(make_snapshot(pca_model, leads_2000.X))
    assert pca.pca is not None
    assert pca_model.projection_ is not None
    c = len(pca_model.projection_.components)
    assert len(pca.pca.components) == c < 12
    assert all(len(seg.centroid) == c and len(seg.feature_centroid) == 12 for seg in pca.segments)
    assert sum(pca.pca.explained_variance_ratio) >= 0.9
    assert pca.metrics.algorithm == "kmeans"
    assert round_trip(make_snapshot(minibatch_model, leads_2000.X)).metrics.algorithm == "minibatch"


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(2, 6), pca=st.sampled_from([None, 0.9]))
def test_same_leads_and_seed_give_the_same_json(
    seed: int, k: int, pca: float | None, make_snapshot: MakeSnapshot
) -> None:
    X = generate_leads(200, random_state=seed).X
    a = LeadSegmenter(n_clusters=k, pca=pca, random_state=seed).fit(X)
    b = LeadSegmenter(n_clusters=k, pca=pca, random_state=seed).fit(X.copy())
    first = make_snapshot(a, X, version=1, created_at=datetime(2025, 1, 1, tzinfo=UTC))
    second = make_snapshot(b, X, version=99, created_at=datetime(2026, 6, 1, tzinfo=UTC))
    assert first.model_dump_json(exclude={"created_at", "version"}) == second.model_dump_json(
        exclude={"created_at", "version"}
    )
    assert first.model_dump_json() != second.model_dump_json()


def test_same_leads_and_seed_give_the_same_json_when_k_is_chosen(make_snapshot: MakeSnapshot) -> None:
    X = generate_leads(400, random_state=8).X
    a, b = LeadSegmenter(max_k=5).fit(X), LeadSegmenter(max_k=5).fit(X.copy())
    assert make_snapshot(a, X).model_dump_json() == make_snapshot(b, X).model_dump_json()


# --- corrupted artifacts -----------------------------------------------------------------------


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(doc: dict[str, Any]) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _shorten_centroid(doc: dict[str, Any]) -> None:
    doc["segments"][1]["centroid"].pop()


def _duplicate_id(doc: dict[str, Any]) -> None:
    doc["segments"][1]["id"] = doc["segments"][0]["id"]


CORRUPTIONS = {
    "short-centroid": (_shorten_centroid, "model: Value error, segment 1: centroid needs 12 values"),
    "unknown-field": (_set(("trained_by",), "me"), "trained_by: Extra inputs are not permitted"),
    "unknown-nested-field": (
        _set(("segments", 0, "strategy", "budget"), 5),
        "segments.0.strategy.budget: Extra inputs are not permitted",
    ),
    "schema-version-2": (_set(("schema_version",), 2), "schema_version: Input should be 1"),
    "missing-field": (_delete(("scaler_mean",)), "scaler_mean: Field required"),
    "short-scaler": (_set(("scaler_mean",), [0.0] * 11), "scaler needs 12 values per feature list"),
    "zero-scale": (_set(("scaler_scale", 3), 0.0), "scaler_scale values must be positive"),
    "unknown-log-feature": (_set(("log_features",), ["shoe_size"]), "log_features must be among features"),
    "duplicate-ids": (_duplicate_id, "segment ids must be distinct"),
    "no-segments": (_set(("segments",), []), "segments: List should have at least 1 item"),
    "missing-quantile": (
        _delete(("segments", 2, "distance_quantiles", "p99")),
        "segment 2: distance_quantiles needs exactly ['p50', 'p90', 'p99']",
    ),
    "version-zero": (_set(("version",), 0), "version: Input should be greater than or equal to 1"),
    "share-above-one": (
        _set(("segments", 0, "share"), 1.5),
        "segments.0.share: Input should be less than or equal to 1",
    ),
    "empty-name": (_set(("segments", 0, "name"), ""), "segments.0.name: String should have at least 1 character"),
    "unknown-algorithm": (_set(("metrics", "algorithm"), "dbscan"), "metrics.algorithm: "),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_a_corrupted_artifact_is_refused_naming_the_field(case: str, snapshot_5000: ModelSnapshot) -> None:
    change, message = CORRUPTIONS[case]
    doc = json.loads(snapshot_5000.model_dump_json())
    change(doc)
    with pytest.raises(SnapshotError) as caught:
        ModelSnapshot.from_json(json.dumps(doc))
    assert str(caught.value).startswith("not a valid model file: ")
    assert message in str(caught.value)
    assert isinstance(caught.value, SegmenterError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers_are_refused_naming_the_field(literal: str, snapshot_5000: ModelSnapshot) -> None:
    doc = json.loads(snapshot_5000.model_dump_json())
    doc["segments"][0]["centroid"][2] = "__HOLE__"
    text = json.dumps(doc).replace('"__HOLE__"', literal)
    with pytest.raises(
        SnapshotError, match=r"^not a valid model file: segments\.0\.centroid\.2: Input should be a finite number$"
    ):
        ModelSnapshot.from_json(text)


def test_nan_in_a_profile_statistic_is_refused(snapshot_5000: ModelSnapshot) -> None:
    text = snapshot_5000.model_dump_json()
    doc = json.loads(text)
    doc["scaler_mean"][0] = "__HOLE__"
    with pytest.raises(SnapshotError, match=r"scaler_mean\.0: Input should be a finite number"):
        ModelSnapshot.from_json(json.dumps(doc).replace('"__HOLE__"', "NaN"))


def test_pca_parts_must_fit_the_features(
    pca_model: LeadSegmenter, leads_2000: SyntheticLeads, make_snapshot: MakeSnapshot
) -> None:
    doc = json.loads(make_snapshot(pca_model, leads_2000.X).model_dump_json())
    doc["pca"]["mean"] = doc["pca"]["mean"][:-1]
    with pytest.raises(SnapshotError, match="PCA components and mean need 12 values each"):
        ModelSnapshot.from_json(json.dumps(doc))
    doc = json.loads(make_snapshot(pca_model, leads_2000.X).model_dump_json())
    doc["segments"][0]["centroid"].append(0.0)
    with pytest.raises(SnapshotError, match=r"segment 0: centroid needs \d+ values, feature_centroid 12"):
        ModelSnapshot.from_json(json.dumps(doc))


@pytest.mark.parametrize("text", [b"", b"{not json", b"[]", b"null"])
def test_something_that_is_not_a_model_file_is_refused(text: bytes) -> None:
    with pytest.raises(SnapshotError, match="^not a valid model file: "):
        ModelSnapshot.from_json(text)


def test_the_snapshot_is_immutable(snapshot_5000: ModelSnapshot) -> None:
    with pytest.raises(ValueError, match="frozen"):
        snapshot_5000.version = 2  # type: ignore[misc]


# --- the estimator behind the artifact ---------------------------------------------------------


@pytest.mark.parametrize("which", ["chosen-k", "pca", "minibatch"])
def test_the_artifact_stores_the_models_state_exactly(
    which: str, request: pytest.FixtureRequest, make_snapshot: MakeSnapshot
) -> None:
    model, leads = fitted(which, request)
    snapshot = round_trip(make_snapshot(model, leads.X))
    assert snapshot.to_state() == model.to_state()
    loaded = snapshot.to_segmenter()
    assert (loaded.inertia_, loaded.algorithm_, loaded.selection_) == (
        model.inertia_,
        model.algorithm_,
        model.selection_,
    )
    assert loaded.n_leads_ == snapshot.metrics.n_leads == len(leads.X)
    assert not hasattr(loaded, "labels_")
    # A loaded model is a whole estimator: its artifact is the one it was loaded from.
    again = ModelSnapshot.from_segmenter(
        loaded,
        names=[s.name for s in snapshot.segments],
        strategies=[s.strategy for s in snapshot.segments],
        profiles=profile_segments(leads.X, model.scale(leads.X), model.labels_, model.n_clusters_),
        baseline=snapshot.baseline,
        version=snapshot.version,
        created_at=snapshot.created_at,
        fingerprint=snapshot.training_fingerprint,
        fit=drift_figures(place(loaded, leads.X), loaded.n_clusters_),
    )
    assert again == snapshot


def test_the_snapshots_impact_prices_sizes_with_its_strategies_and_baseline(snapshot_5000: ModelSnapshot) -> None:
    sizes = [100, 0, 50, 25, 10]
    impact = snapshot_5000.impact(sizes)
    segments = snapshot_5000.segments
    expected = [
        n * s.strategy.expected_close_rate * s.strategy.avg_deal_size for n, s in zip(sizes, segments, strict=True)
    ]
    assert impact.per_segment == pytest.approx(expected)
    assert impact.baseline_revenue == pytest.approx(185 * 0.23 * 12_000)
    config = StrategyConfig.from_toml("[baseline]\nconversion_rate = 0.5\navg_deal_size = 100\n")
    assert snapshot_5000.model_copy(update={"baseline": config.baseline}).impact(sizes).baseline_revenue == 9_250
