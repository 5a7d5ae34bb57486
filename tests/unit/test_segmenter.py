"""`LeadSegmenter`: fit, predict and explain assignments of new leads."""

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.exceptions import InvalidLeadsError, NotFittedError
from segmentation.features import FEATURES
from segmentation.segmenter import DISTANCE_QUANTILES, LeadSegmenter
from segmentation.synthetic import SyntheticLeads, generate_leads


def brute_force_d2(Z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return ((Z[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)


def test_fixed_k_fit_learns_centroids_labels_and_no_selection(
    fitted_800: LeadSegmenter, leads_800: SyntheticLeads
) -> None:
    model = fitted_800
    assert model.n_clusters_ == 5
    assert model.selection_ is None
    assert model.projection_ is None
    assert model.algorithm_ == "kmeans"
    assert model.centroids_.shape == (5, 12)
    assert model.feature_centroids_.shape == (5, 12)
    assert model.distance_quantiles_.shape == (5, len(DISTANCE_QUANTILES))
    assert model.labels_.shape == (800,)
    assert set(model.labels_.tolist()) == {0, 1, 2, 3, 4}
    assert model.inertia_ == pytest.approx(
        brute_force_d2(model.transform(leads_800.X), model.centroids_)[np.arange(800), model.labels_].sum()
    )


def test_chosen_k_fit_records_the_selection(fitted_5000: LeadSegmenter) -> None:
    assert fitted_5000.selection_ is not None
    assert fitted_5000.n_clusters_ == fitted_5000.selection_.k == 5
    assert [s.k for s in fitted_5000.selection_.scores] == list(range(2, 11))


def test_predict_on_the_training_leads_gives_the_training_labels(
    fitted_800: LeadSegmenter, leads_800: SyntheticLeads
) -> None:
    assert np.array_equal(fitted_800.predict(leads_800.X), fitted_800.labels_)
    assert np.array_equal(fitted_800.assign(leads_800.X).segment, fitted_800.labels_)


def test_segments_follow_the_planted_ones(fitted_5000: LeadSegmenter, leads_5000: SyntheticLeads) -> None:
    # Each fitted segment is dominated (> 90 %) by one planted segment, and each planted one is found once.
    majority = []
    for segment in range(5):
        truth = np.bincount(leads_5000.true_segment[fitted_5000.labels_ == segment], minlength=5)
        assert truth.max() / truth.sum() > 0.9
        majority.append(int(truth.argmax()))
    assert sorted(majority) == [0, 1, 2, 3, 4]


def test_scale_and_transform_put_leads_where_the_centroids_live(
    fitted_800: LeadSegmenter, leads_800: SyntheticLeads
) -> None:
    scaled = fitted_800.scale(leads_800.X)
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-9)
    assert np.array_equal(fitted_800.transform(leads_800.X), scaled)
    for i in range(5):
        assert np.allclose(fitted_800.feature_centroids_[i], scaled[fitted_800.labels_ == i].mean(axis=0))


def test_assign_explains_each_lead(fitted_800: LeadSegmenter) -> None:
    X = generate_leads(200, random_state=99).X
    result = fitted_800.assign(X)
    Z = fitted_800.transform(X)
    d2 = brute_force_d2(Z, fitted_800.centroids_)
    ordered = np.sort(d2, axis=1)
    assert np.array_equal(result.segment, d2.argmin(axis=1))
    assert np.allclose(result.distance, np.sqrt(ordered[:, 0]))
    assert np.allclose(result.confidence, 1 - np.sqrt(ordered[:, 0]) / np.sqrt(ordered[:, 1]))
    assert result.top_features.shape == (200, 3)
    assert all(len(set(row)) == 3 for row in result.top_features.tolist())
    assert np.array_equal(result.is_outlier, result.distance > fitted_800.distance_quantiles_[result.segment, -1])


def test_top_features_are_those_pulling_hardest_towards_the_segment(fitted_800: LeadSegmenter) -> None:
    X = generate_leads(20, random_state=5).X
    result = fitted_800.assign(X, top=12)
    scaled = fitted_800.scale(X)
    runners_up = np.argsort(brute_force_d2(scaled, fitted_800.centroids_), axis=1)[:, 1]
    for i in range(20):
        own = fitted_800.feature_centroids_[result.segment[i]]
        runner = fitted_800.feature_centroids_[runners_up[i]]
        pull = (scaled[i] - runner) ** 2 - (scaled[i] - own) ** 2
        assert sorted(result.top_features[i].tolist()) == list(range(12))
        assert np.all(np.diff(pull[result.top_features[i]]) <= 0)


def test_about_one_percent_of_training_leads_are_outliers(
    fitted_5000: LeadSegmenter, leads_5000: SyntheticLeads
) -> None:
    outliers = fitted_5000.assign(leads_5000.X).is_outlier
    assert 0.005 <= outliers.mean() <= 0.015
    quantiles = fitted_5000.distance_quantiles_
    assert (np.diff(quantiles, axis=1) >= 0).all()


def test_a_far_away_lead_is_an_outlier_with_low_confidence_reported_honestly(fitted_800: LeadSegmenter) -> None:
    lead = np.array([[100, 9e6, 9e10, 1, 9e8, 9e6, 9e6, 9e7, 9e12, 1, 1, 5]], dtype=float)
    result = fitted_800.assign(lead)
    assert result.is_outlier.tolist() == [True]
    assert 0 <= result.confidence[0] < 0.5


def test_a_lead_midway_between_two_segments_gets_the_same_segment_as_predict() -> None:
    # Regression: `assign` broke exact ties differently from `predict` (argpartition vs argmin).
    features = ("engagement_score",)
    model = LeadSegmenter(n_clusters=3, features=features, log_features=()).fit(
        np.array([[10.0], [10.0], [50.0], [50.0], [90.0]])
    )
    centers = sorted(model.scaler_.mean_[0] + model.scaler_.scale_[0] * model.centroids_[:, 0])
    assert centers == pytest.approx([10.0, 50.0, 90.0])
    midway = np.array([[30.0], [70.0]])
    result = model.assign(midway)
    assert np.array_equal(result.segment, model.predict(midway))
    assert result.confidence.tolist() == pytest.approx([0.0, 0.0], abs=1e-9)


def test_one_segment_gives_zero_confidence_and_features_in_order() -> None:
    X = generate_leads(30, random_state=1).X
    model = LeadSegmenter(n_clusters=1).fit(X)
    result = model.assign(X, top=3)
    assert result.segment.tolist() == [0] * 30
    assert result.confidence.tolist() == [0.0] * 30
    assert result.top_features.tolist() == [[0, 1, 2]] * 30


def test_pca_reduces_the_space_of_the_centroids() -> None:
    leads = generate_leads(800, random_state=2)
    model = LeadSegmenter(n_clusters=5, pca=0.9).fit(leads.X)
    assert model.projection_ is not None
    c = len(model.projection_.components)
    assert 2 <= c < 12
    assert model.projection_.variance_retained >= 0.9
    assert model.centroids_.shape == (5, c)
    assert model.feature_centroids_.shape == (5, 12)
    assert model.transform(leads.X).shape == (800, c)
    assert np.array_equal(model.predict(leads.X), model.labels_)


def test_on_k_reports_each_k_as_it_is_scanned() -> None:
    seen: list[int] = []
    LeadSegmenter(max_k=4).fit(generate_leads(300, random_state=3).X, on_k=seen.append)
    assert seen == [2, 3, 4]


def test_max_k_is_capped_by_the_number_of_leads() -> None:
    model = LeadSegmenter(max_k=10).fit(generate_leads(5, random_state=3).X)
    assert model.selection_ is not None
    assert [s.k for s in model.selection_.scores] == [2, 3, 4]


def test_choosing_k_needs_three_leads() -> None:
    with pytest.raises(InvalidLeadsError, match="^choosing K needs at least 3 leads, got 2$"):
        LeadSegmenter().fit(generate_leads(2, random_state=0).X)


def test_fit_refuses_invalid_leads_naming_row_and_feature() -> None:
    X = generate_leads(10, random_state=0).X
    X[4, FEATURES.index("email_open_rate")] = 2.0
    with pytest.raises(InvalidLeadsError, match=r"^row 4: email_open_rate must be a rate 0-1 in \[0, 1\], got 2$"):
        LeadSegmenter(n_clusters=2).fit(X)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(10, 120), k=st.integers(1, 6), pca=st.sampled_from([None, 0.8, 3]))
def test_assignment_is_the_nearest_centroid_and_confidence_a_share(
    seed: int, n: int, k: int, pca: float | None
) -> None:
    X = generate_leads(n, random_state=seed).X
    model = LeadSegmenter(n_clusters=k, pca=pca, random_state=seed).fit(X)
    new = generate_leads(30, random_state=seed + 1).X
    result = model.assign(new)
    d2 = brute_force_d2(model.transform(new), model.centroids_)
    rows = np.arange(30)
    assert ((0 <= result.segment) & (result.segment < k)).all()
    assert (d2[rows, result.segment] <= d2.min(axis=1) + 1e-9).all()
    assert np.array_equal(result.segment, model.predict(new))
    assert ((0 <= result.confidence) & (result.confidence <= 1)).all()
    assert ((0 <= model.labels_) & (model.labels_ < k)).all()


@pytest.mark.slow
@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), pca=st.sampled_from([None, 0.9]))
def test_same_leads_and_seed_give_the_same_model(seed: int, pca: float | None) -> None:
    X = generate_leads(200, random_state=seed).X
    a = LeadSegmenter(max_k=4, pca=pca, random_state=seed).fit(X)
    b = LeadSegmenter(max_k=4, pca=pca, random_state=seed).fit(X.copy())
    assert a.n_clusters_ == b.n_clusters_
    assert np.array_equal(a.centroids_, b.centroids_)
    assert np.array_equal(a.labels_, b.labels_)
    assert a.selection_ == b.selection_


# --- state: export and rebuild -----------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [{"n_clusters": 4}, {"max_k": 5}, {"n_clusters": 3, "pca": 0.9}, {"n_clusters": 4, "algorithm": "minibatch"}],
)
def test_a_model_rebuilt_from_its_state_is_the_fitted_model_without_labels(params: dict[str, Any]) -> None:
    X = generate_leads(600, random_state=12).X
    model = LeadSegmenter(random_state=4, **params).fit(X)
    state = model.to_state()
    rebuilt = LeadSegmenter.from_state(state)
    for attr in ("centroids_", "feature_centroids_", "distance_quantiles_"):
        assert np.array_equal(getattr(rebuilt, attr), getattr(model, attr)), attr
    assert np.array_equal(rebuilt.scaler_.mean_, model.scaler_.mean_)
    assert np.array_equal(rebuilt.scaler_.scale_, model.scaler_.scale_)
    assert np.array_equal(rebuilt.scaler_.log_mask_, model.scaler_.log_mask_)
    assert (rebuilt.n_clusters_, rebuilt.inertia_, rebuilt.algorithm_) == (
        model.n_clusters_,
        model.inertia_,
        model.algorithm_,
    )
    assert (rebuilt.selection_, rebuilt.n_leads_) == (model.selection_, 600)
    assert not hasattr(rebuilt, "labels_")
    assert np.array_equal(rebuilt.predict(X), model.labels_)
    new = generate_leads(100, random_state=13).X
    a, b = rebuilt.assign(new), model.assign(new)
    for field in ("segment", "distance", "confidence", "top_features", "is_outlier"):
        assert np.array_equal(getattr(a, field), getattr(b, field)), field
    assert rebuilt.to_state() == state


@pytest.mark.parametrize("params", [{"n_clusters": 4}, {"max_k": 5}, {"n_clusters": 3, "pca": 0.9}])
def test_a_rebuilt_models_parameters_refit_the_same_model_from_the_same_leads(params: dict[str, Any]) -> None:
    X = generate_leads(400, random_state=14).X
    model = LeadSegmenter(random_state=2, **params).fit(X)
    rebuilt = LeadSegmenter.from_state(model.to_state())
    assert rebuilt.n_clusters == (None if "max_k" in params else model.n_clusters_)
    refit = LeadSegmenter(
        n_clusters=rebuilt.n_clusters,
        max_k=rebuilt.max_k,
        features=rebuilt.features,
        log_features=rebuilt.log_features,
        pca=rebuilt.pca,
        algorithm=rebuilt.algorithm,
        random_state=rebuilt.random_state,
    ).fit(X)
    assert np.array_equal(refit.labels_, model.labels_)
    assert refit.to_state() == model.to_state()


def test_the_state_is_plain_numbers_and_names(fitted_800: LeadSegmenter) -> None:
    state = fitted_800.to_state()
    assert state.scaler.features == FEATURES
    assert len(state.centroids) == 5 and all(len(row) == 12 for row in state.centroids)
    assert all(type(v) is float for row in state.centroids + state.distance_quantiles for v in row)
    assert all(type(v) is float for v in state.scaler.mean + state.scaler.scale)
    assert (state.pca, state.selection, state.n_leads, state.algorithm) == (None, None, 800, "kmeans")
    assert type(state.inertia) is float and state.inertia == fitted_800.inertia_


def test_exporting_the_state_needs_a_fitted_model() -> None:
    with pytest.raises(NotFittedError, match="^LeadSegmenter is not fitted yet: call fit first$"):
        LeadSegmenter().to_state()
