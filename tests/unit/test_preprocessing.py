"""`LeadScaler`: log1p on heavy-tailed features, then standard scaling."""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.exceptions import NotFittedError, SegmenterError
from segmentation.features import FEATURES, HEAVY_TAILED
from segmentation.preprocessing import LeadScaler
from segmentation.synthetic import generate_leads


def test_scaled_features_have_zero_mean_and_unit_variance() -> None:
    X = generate_leads(2000, random_state=0).X
    Z = LeadScaler().fit_transform(X)
    assert Z.shape == X.shape
    assert np.allclose(Z.mean(axis=0), 0, atol=1e-9)
    assert np.allclose(Z.std(axis=0), 1, atol=1e-9)


def test_heavy_tailed_features_are_logged_and_the_others_are_not() -> None:
    X = generate_leads(500, random_state=1).X
    scaler = LeadScaler().fit(X)
    logged = [FEATURES[j] for j in np.flatnonzero(scaler.log_mask_)]
    assert logged == [f for f in FEATURES if f in HEAVY_TAILED]
    j_size, j_rate = FEATURES.index("company_size"), FEATURES.index("email_open_rate")
    size = np.log1p(X[:, j_size])
    rate = X[:, j_rate]
    assert scaler.mean_[j_size] == pytest.approx(size.mean())
    assert scaler.scale_[j_size] == pytest.approx(size.std())
    assert scaler.mean_[j_rate] == pytest.approx(rate.mean())
    Z = scaler.transform(X)
    assert np.allclose(Z[:, j_size], (size - size.mean()) / size.std())
    assert np.allclose(Z[:, j_rate], (rate - rate.mean()) / rate.std())


def test_the_docstring_example_by_hand() -> None:
    X = np.array([[0.0, 1.0], [0.0, 3.0], [0.0, 5.0]])
    scaler = LeadScaler(features=("a", "b"), log_features=()).fit(X)
    assert scaler.transform(X)[:, 1].round(3).tolist() == [-1.225, 0.0, 1.225]


def test_a_constant_feature_gets_scale_one_and_scales_to_zero() -> None:
    X = np.array([[7.0, 1.0], [7.0, 2.0], [7.0, 4.0]])
    scaler = LeadScaler(features=("a", "b"), log_features=("a",)).fit(X)
    assert scaler.scale_[0] == 1.0
    assert scaler.transform(X)[:, 0].tolist() == [0.0, 0.0, 0.0]
    assert np.isfinite(scaler.transform(X)).all()


def test_transform_leaves_the_input_unchanged() -> None:
    X = generate_leads(50, random_state=2).X
    before = X.copy()
    LeadScaler().fit(X).transform(X)
    assert np.array_equal(X, before)


def test_fit_transform_equals_fit_then_transform() -> None:
    X = generate_leads(300, random_state=3).X
    assert np.array_equal(LeadScaler().fit_transform(X), LeadScaler().fit(X).transform(X))


def test_new_leads_are_scaled_with_the_training_statistics() -> None:
    train, new = generate_leads(400, random_state=4).X, generate_leads(10, random_state=5).X
    scaler = LeadScaler().fit(train)
    manual = np.where(scaler.log_mask_, np.log1p(new), new)
    assert np.allclose(scaler.transform(new), (manual - scaler.mean_) / scaler.scale_)


def test_log_features_must_be_among_the_features() -> None:
    with pytest.raises(SegmenterError, match=r"log_features not among the features: \['c', 'd'\]"):
        LeadScaler(features=("a", "b"), log_features=("d", "a", "c")).fit(np.ones((3, 2)))


def test_transform_before_fit_says_to_fit_first() -> None:
    with pytest.raises(NotFittedError, match="LeadScaler is not fitted yet: call fit first"):
        LeadScaler().transform(np.ones((2, 12)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(2, 200))
def test_scaling_is_deterministic_and_finite_on_valid_leads(seed: int, n: int) -> None:
    X = generate_leads(n, random_state=seed).X
    a, b = LeadScaler().fit_transform(X), LeadScaler().fit_transform(X.copy())
    assert np.array_equal(a, b)
    assert np.isfinite(a).all()


def test_a_scaler_rebuilt_from_its_state_transforms_the_same() -> None:
    train, new = generate_leads(300, random_state=6).X, generate_leads(20, random_state=7).X
    scaler = LeadScaler(log_features=HEAVY_TAILED[:2]).fit(train)
    state = scaler.to_state()
    assert (state.features, state.log_features) == (FEATURES, HEAVY_TAILED[:2])
    assert state.mean == tuple(scaler.mean_.tolist()) and state.scale == tuple(scaler.scale_.tolist())
    rebuilt = LeadScaler.from_state(state)
    assert np.array_equal(rebuilt.transform(new), scaler.transform(new))
    assert np.array_equal(rebuilt.log_mask_, scaler.log_mask_)
    assert rebuilt.to_state() == state


def test_a_state_with_unknown_log_features_is_refused() -> None:
    state = LeadScaler(features=("a", "b"), log_features=("a",)).fit(np.ones((3, 2))).to_state()
    with pytest.raises(SegmenterError, match=r"log_features not among the features: \['c'\]"):
        LeadScaler.from_state(replace(state, log_features=("c",)))


def test_exporting_the_state_needs_a_fitted_scaler() -> None:
    with pytest.raises(NotFittedError, match="^LeadScaler is not fitted yet: call fit first$"):
        LeadScaler().to_state()
