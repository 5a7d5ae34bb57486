"""PCA: a fixed number of axes or a share of the variance."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.decomposition import PCA

from segmentation.exceptions import InvalidParameterError, SegmenterError
from segmentation.projection import Projection, fit_projection


def spread(seed: int = 0, n: int = 200) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 4)) * [5, 2, 1, 0.1]


def test_a_whole_number_keeps_that_many_axes() -> None:
    p = fit_projection(spread(), 2)
    assert p.components.shape == (2, 4)
    assert p.mean.shape == (4,)
    assert p.explained_variance_ratio.shape == (2,)
    assert p.variance_retained == pytest.approx(float(p.explained_variance_ratio.sum()))
    assert round(p.variance_retained, 2) == 0.96


def test_a_share_keeps_the_fewest_axes_that_explain_it() -> None:
    Z = spread()
    full = PCA().fit(Z).explained_variance_ratio_.cumsum()
    for share in (0.5, 0.9, 0.99, 0.9999):
        p = fit_projection(Z, share)
        c = len(p.components)
        assert full[c - 1] >= share
        assert c == 1 or full[c - 2] < share
        assert p.variance_retained >= share


def test_float_whole_numbers_count_as_axes() -> None:
    assert fit_projection(spread(), 3.0).components.shape == (3, 4)
    assert fit_projection(spread(), 1).components.shape == (1, 4)


def test_transform_centres_and_projects_like_sklearn() -> None:
    Z = spread(1)
    p = fit_projection(Z, 2)
    reference = PCA(n_components=2, svd_solver="full").fit(Z)
    assert np.allclose(p.transform(Z), reference.transform(Z))
    assert np.allclose(p.transform(Z).mean(axis=0), 0, atol=1e-9)
    manual = Projection(p.components, p.mean, p.explained_variance_ratio)
    assert np.array_equal(manual.transform(Z[:5]), (Z[:5] - p.mean) @ p.components.T)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_components=st.sampled_from([1, 2, 3, 0.5, 0.8, 0.95]))
def test_the_same_data_gives_the_same_axes(seed: int, n_components: float) -> None:
    Z = spread(seed, n=60)
    a, b = fit_projection(Z, n_components), fit_projection(Z.copy(), n_components)
    assert np.array_equal(a.components, b.components)
    assert np.array_equal(a.transform(Z), b.transform(Z))
    assert np.allclose(a.components @ a.components.T, np.eye(len(a.components)), atol=1e-9)


@pytest.mark.parametrize(
    ("n_components", "message"),
    [
        (2.5, "PCA components must be a whole number up to 4, got 2.5"),
        (5, "PCA components must be a whole number up to 4, got 5"),
        (0, "PCA takes a component count >= 1 or a variance share in (0, 1), got 0"),
        (-0.5, "PCA takes a component count >= 1 or a variance share in (0, 1), got -0.5"),
    ],
)
def test_bad_component_counts_are_refused(n_components: float, message: str) -> None:
    with pytest.raises(SegmenterError) as caught:
        fit_projection(spread(), n_components)
    assert str(caught.value) == message


def test_pca_refuses_more_components_than_leads_and_a_single_lead() -> None:
    Z = np.random.default_rng(0).normal(size=(3, 12))
    with pytest.raises(InvalidParameterError, match="PCA with 5 components needs at least as many leads, got 3"):
        fit_projection(Z, 5)
    with pytest.raises(InvalidParameterError, match="PCA needs at least 2 leads, got 1"):
        fit_projection(Z[:1], 2)
    assert fit_projection(Z[:2], 2).components.shape == (2, 12)
