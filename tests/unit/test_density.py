"""DBSCAN and Ward clustering compared with the K-Means segments."""

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.neighbors import NearestNeighbors

from segmentation.density import compare_dbscan, compare_hierarchical, knee_eps
from segmentation.exceptions import InvalidParameterError, SegmenterError


def two_blobs_and_noise(seed: int = 0, noise: int = 10) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    Z = np.vstack([rng.normal(0, 0.1, (100, 2)), rng.normal(5, 0.1, (100, 2)), rng.uniform(-5, 10, (noise, 2))])
    return Z, np.repeat([0, 1, 2], [100, 100, noise])


def test_knee_eps_is_a_k_distance_at_the_knee() -> None:
    Z, _ = two_blobs_and_noise()
    eps = knee_eps(Z, 4)
    k_distances = NearestNeighbors(n_neighbors=4).fit(Z).kneighbors(Z)[0][:, -1]
    assert eps in k_distances
    # Below the scattered points' distances, above most within-blob distances.
    assert np.quantile(k_distances, 0.5) < eps < np.quantile(k_distances, 0.95)


def test_knee_eps_of_evenly_spaced_points_is_their_spacing() -> None:
    Z = np.arange(20, dtype=float)[:, None]
    assert knee_eps(Z, 2) == 1.0


def test_dbscan_finds_the_two_blobs_and_the_scattered_leads_as_noise() -> None:
    Z, labels = two_blobs_and_noise()
    c = compare_dbscan(Z, labels)
    assert c.n_clusters == 2
    assert c.min_samples == 4  # 2 × dimensions
    assert c.eps == pytest.approx(knee_eps(Z, 4))
    assert 10 <= c.noise <= 12
    assert c.noise_share == c.noise / 210
    assert c.ari_vs_kmeans > 0.9
    assert c.sample_size == 210
    assert c.rows.tolist() == list(range(210))
    assert len(c.labels) == 210
    assert c.noise == int((c.labels == -1).sum())


def test_an_explicit_eps_and_min_samples_are_used_as_given() -> None:
    Z, labels = two_blobs_and_noise()
    c = compare_dbscan(Z, labels, eps=0.5, min_samples=5)
    expected = DBSCAN(eps=0.5, min_samples=5).fit_predict(Z)
    assert (c.eps, c.min_samples) == (0.5, 5)
    assert np.array_equal(c.labels, expected)
    assert c.n_clusters == len(set(expected.tolist()) - {-1})


@pytest.mark.parametrize("eps", [0.0, -1.0])
def test_eps_must_be_positive(eps: float) -> None:
    Z, labels = two_blobs_and_noise()
    with pytest.raises(SegmenterError, match=f"^DBSCAN eps must be positive, got {eps}$"):
        compare_dbscan(Z, labels, eps=eps)


def test_large_inputs_are_sampled_reproducibly() -> None:
    Z, labels = two_blobs_and_noise()
    a = compare_dbscan(Z, labels, sample_size=50, random_state=3)
    b = compare_dbscan(Z, labels, sample_size=50, random_state=3)
    c = compare_dbscan(Z, labels, sample_size=50, random_state=4)
    assert a.sample_size == 50
    assert len(a.rows) == len(set(a.rows.tolist())) == 50
    assert a.rows.tolist() == sorted(a.rows.tolist())
    assert np.array_equal(a.rows, b.rows) and np.array_equal(a.labels, b.labels)
    assert a == b  # the comparable fields
    assert not np.array_equal(a.rows, c.rows)


def test_ward_agrees_with_kmeans_on_separated_groups() -> None:
    h = compare_hierarchical(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([0, 0, 1, 1]), 2)
    assert (h.n_clusters, h.linkage, h.ari_vs_kmeans, h.sample_size) == (2, "ward", 1.0, 4)


def test_ward_disagreement_shows_in_the_ari() -> None:
    Z, _ = two_blobs_and_noise(noise=0)
    arbitrary = np.tile([0, 1], 100)
    assert compare_hierarchical(Z, arbitrary, 2).ari_vs_kmeans == pytest.approx(0.0, abs=0.02)


def test_ward_samples_large_inputs() -> None:
    Z, labels = two_blobs_and_noise()
    h = compare_hierarchical(Z, labels, 3, sample_size=60, random_state=1)
    assert h.sample_size == 60
    assert h == compare_hierarchical(Z, labels, 3, sample_size=60, random_state=1)


@pytest.mark.parametrize("n", [2, 5, 23, 47])
def test_dbscan_refuses_fewer_leads_than_twice_min_samples(n: int) -> None:
    Z = np.random.default_rng(0).normal(size=(n, 12))
    with pytest.raises(
        InvalidParameterError, match=f"DBSCAN needs at least 48 leads \\(twice min_samples 24\\), got {n}"
    ):
        compare_dbscan(Z, np.zeros(n, dtype=int))


def test_dbscan_on_48_leads_runs_and_identical_leads_give_no_radius() -> None:
    Z = np.random.default_rng(0).normal(size=(48, 12))
    assert compare_dbscan(Z, np.zeros(48, dtype=int)).sample_size == 48
    with pytest.raises(InvalidParameterError, match="the k-distance knee is 0"):
        compare_dbscan(np.zeros((60, 2)), np.zeros(60, dtype=int))


def test_ward_refuses_fewer_leads_than_groups() -> None:
    with pytest.raises(InvalidParameterError, match="Ward clustering into 3 groups needs at least 3 leads, got 2"):
        compare_hierarchical(np.array([[0.0], [1.0]]), np.array([0, 1]), 3)
    assert compare_hierarchical(np.array([[0.0], [1.0]]), np.array([0, 1]), 2).ari_vs_kmeans == 1.0
