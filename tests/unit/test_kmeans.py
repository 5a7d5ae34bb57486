"""`fit_kmeans`: seeded K-Means / refined mini-batches with canonical ids, and `squared_distances`."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import segmentation.kmeans as kmeans_module
from segmentation.exceptions import SegmenterError
from segmentation.kmeans import MINIBATCH_ABOVE, fit_kmeans, squared_distances
from segmentation.preprocessing import LeadScaler
from segmentation.synthetic import generate_leads


def brute_force_d2(Z: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.array([[float(((z - c) ** 2).sum()) for c in centroids] for z in Z])


@st.composite
def matrices_and_k(draw: st.DrawFn) -> tuple[np.ndarray, int]:
    n = draw(st.integers(2, 40))
    p = draw(st.integers(1, 4))
    Z = draw(arrays(np.float64, (n, p), elements=st.floats(-50, 50, allow_nan=False, allow_infinity=False)))
    k = draw(st.integers(1, min(5, n)))
    return Z, k


def test_two_groups_larger_first() -> None:
    fit = fit_kmeans(np.array([[0.0], [0.1], [5.0], [5.1], [5.2]]), 2)
    assert fit.labels.tolist() == [1, 1, 0, 0, 0]
    assert fit.centroids.ravel() == pytest.approx([5.1, 0.05])
    assert fit.inertia == pytest.approx(0.02 + 0.005)
    assert fit.algorithm == "kmeans"


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch"])
@settings(max_examples=25, deadline=None)
@given(data=matrices_and_k(), seed=st.integers(0, 2**31 - 1))
def test_labels_are_in_range_and_each_lead_gets_its_nearest_centroid(
    algorithm: str, data: tuple[np.ndarray, int], seed: int
) -> None:
    Z, k = data
    fit = fit_kmeans(Z, k, random_state=seed, algorithm=algorithm)
    assert fit.centroids.shape == (k, Z.shape[1])
    assert fit.labels.shape == (len(Z),)
    assert fit.labels.min() >= 0
    assert fit.labels.max() < k
    d2 = brute_force_d2(Z, fit.centroids)
    scale = 1 + float((Z**2).sum(axis=1).max())
    assert (d2[np.arange(len(Z)), fit.labels] <= d2.min(axis=1) + 1e-9 * scale).all()
    assert fit.inertia == pytest.approx(d2[np.arange(len(Z)), fit.labels].sum(), rel=1e-9, abs=1e-9 * scale)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch"])
@settings(max_examples=25, deadline=None)
@given(data=matrices_and_k(), seed=st.integers(0, 2**31 - 1))
def test_same_seed_gives_the_same_centroids_and_labels(algorithm: str, data: tuple[np.ndarray, int], seed: int) -> None:
    Z, k = data
    a = fit_kmeans(Z, k, random_state=seed, algorithm=algorithm)
    b = fit_kmeans(Z.copy(), k, random_state=seed, algorithm=algorithm)
    assert np.array_equal(a.centroids, b.centroids)
    assert np.array_equal(a.labels, b.labels)
    assert a.inertia == b.inertia


@pytest.mark.parametrize("algorithm", ["kmeans", "minibatch"])
def test_ids_are_canonical_largest_segment_first(algorithm: str) -> None:
    rng = np.random.default_rng(0)
    sizes = [30, 120, 60]
    Z = np.vstack([rng.normal(center, 0.2, (size, 2)) for center, size in zip([0, 5, 10], sizes, strict=True)])
    fit = fit_kmeans(Z, 3, algorithm=algorithm)
    assert np.bincount(fit.labels).tolist() == [120, 60, 30]
    assert fit.centroids[:, 0] == pytest.approx([5, 10, 0], abs=0.1)
    assert fit.algorithm == algorithm


def test_auto_uses_minibatches_above_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    Z = np.random.default_rng(1).normal(size=(200, 2))
    assert MINIBATCH_ABOVE == 50_000
    assert fit_kmeans(Z, 2).algorithm == "kmeans"
    monkeypatch.setattr(kmeans_module, "MINIBATCH_ABOVE", 199)
    assert fit_kmeans(Z, 2).algorithm == "minibatch"
    monkeypatch.setattr(kmeans_module, "MINIBATCH_ABOVE", 200)
    assert fit_kmeans(Z, 2).algorithm == "kmeans"


def test_minibatch_labels_are_the_nearest_stored_centroid() -> None:
    Z = np.random.default_rng(2).normal(size=(5000, 3))
    fit = fit_kmeans(Z, 4, algorithm="minibatch", random_state=5)
    assert np.array_equal(fit.labels, brute_force_d2(Z, fit.centroids).argmin(axis=1))


@pytest.mark.parametrize("seed", [0, 3, 6])
def test_minibatch_recovers_the_planted_segments_where_one_minibatch_run_does_not(seed: int) -> None:
    from sklearn.cluster import MiniBatchKMeans
    from sklearn.metrics import adjusted_rand_score

    leads = generate_leads(4000, random_state=9)
    Z = LeadScaler().fit_transform(leads.X)
    full = fit_kmeans(Z, 5, algorithm="kmeans")
    # What fit_kmeans ran before: one MiniBatchKMeans, which merges two segments and splits one here.
    single = MiniBatchKMeans(n_clusters=5, n_init=3, batch_size=4096, random_state=seed).fit(Z)
    single_inertia = float(squared_distances(Z, single.cluster_centers_).min(axis=1).sum())
    assert adjusted_rand_score(leads.true_segment, single.predict(Z)) < 0.8
    assert single_inertia > 1.1 * full.inertia

    fit = fit_kmeans(Z, 5, algorithm="minibatch", random_state=seed)
    assert fit.algorithm == "minibatch"
    assert adjusted_rand_score(leads.true_segment, fit.labels) > 0.93
    assert fit.inertia == pytest.approx(full.inertia, rel=1e-4)
    assert np.bincount(fit.labels).tolist() == pytest.approx(np.bincount(full.labels).tolist(), abs=5)


@pytest.mark.parametrize(
    ("k", "algorithm", "message"),
    [
        (0, "auto", "k must be between 1 and the number of leads (3), got 0"),
        (4, "auto", "k must be between 1 and the number of leads (3), got 4"),
        (2, "lloyd", "algorithm must be auto, kmeans or minibatch, got 'lloyd'"),
        (2, "minibatch", "n_init must be at least 1, got 0"),
    ],
)
def test_bad_parameters_are_refused(k: int, algorithm: str, message: str) -> None:
    with pytest.raises(SegmenterError) as caught:
        fit_kmeans(np.zeros((3, 1)), k, algorithm=algorithm, n_init=0 if algorithm == "minibatch" else None)
    assert str(caught.value) == message
    assert isinstance(caught.value, ValueError)


@settings(max_examples=25, deadline=None)
@given(
    Z=arrays(np.float64, st.tuples(st.integers(1, 20), st.just(3)), elements=st.floats(-1e3, 1e3)),
    C=arrays(np.float64, st.tuples(st.integers(1, 6), st.just(3)), elements=st.floats(-1e3, 1e3)),
)
def test_squared_distances_match_the_definition_and_are_never_negative(Z: np.ndarray, C: np.ndarray) -> None:
    d2 = squared_distances(Z, C)
    assert d2.shape == (len(Z), len(C))
    assert (d2 >= 0).all()
    scale = 1 + float(max((Z**2).sum(axis=1).max(), (C**2).sum(axis=1).max()))
    assert np.allclose(d2, brute_force_d2(Z, C), rtol=1e-9, atol=1e-9 * scale)
