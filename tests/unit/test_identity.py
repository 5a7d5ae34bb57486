"""Stable segment ids: canonical order, matching to the previous model, and data fingerprints."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from segmentation.identity import canonical_order, fingerprint


@st.composite
def centroids_and_labels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    k = draw(st.integers(1, 8))
    centroids = draw(arrays(np.float64, (k, 2), elements=st.floats(-10, 10).map(lambda v: round(v, 1))))
    labels = draw(arrays(np.int64, draw(st.integers(0, 60)), elements=st.integers(0, k - 1)))
    return centroids, labels


def test_largest_cluster_gets_id_zero() -> None:
    assert canonical_order(np.array([[0.0], [5.0]]), np.array([0, 1, 1])).tolist() == [1, 0]
    assert canonical_order(np.array([[0.0], [5.0], [9.0]]), np.array([2, 2, 2, 0, 1, 1])).tolist() == [2, 1, 0]


def test_equal_sizes_are_ordered_by_centroid_coordinates() -> None:
    centroids = np.array([[3.0, 1.0], [1.0, 9.0], [3.0, 0.0]])
    assert canonical_order(centroids, np.array([0, 1, 2])).tolist() == [1, 2, 0]


def test_empty_clusters_come_last() -> None:
    assert canonical_order(np.array([[0.0], [1.0], [2.0]]), np.array([2, 2])).tolist() == [2, 0, 1]


@settings(max_examples=25, deadline=None)
@given(data=centroids_and_labels())
def test_canonical_order_is_a_permutation_sorting_sizes_down(data: tuple[np.ndarray, np.ndarray]) -> None:
    centroids, labels = data
    order = canonical_order(centroids, labels)
    assert sorted(order.tolist()) == list(range(len(centroids)))
    sizes = np.bincount(labels, minlength=len(centroids))[order]
    assert (np.diff(sizes) <= 0).all()


@settings(max_examples=25, deadline=None)
@given(data=centroids_and_labels(), seed=st.integers(0, 2**32 - 1))
def test_canonical_order_does_not_depend_on_the_initial_ids(data: tuple[np.ndarray, np.ndarray], seed: int) -> None:
    centroids, labels = data
    shuffle = np.random.default_rng(seed).permutation(len(centroids))  # new id -> old id
    relabel = np.argsort(shuffle)  # old id -> new id
    a = centroids[canonical_order(centroids, labels)]
    b = centroids[shuffle][canonical_order(centroids[shuffle], relabel[labels])]
    # Identical rows (same size and coordinates) may swap; the ordered centroids may not.
    assert np.array_equal(a, b)


def test_fingerprint_names_shape_and_values() -> None:
    zeros = np.zeros((2, 3))
    assert fingerprint(zeros) == fingerprint(np.zeros((2, 3), dtype=np.int32))
    assert fingerprint(zeros).startswith("sha256:0fe2c")
    assert len(fingerprint(zeros)) == len("sha256:") + 64
    assert fingerprint(zeros) != fingerprint(np.zeros((3, 2)))
    changed = zeros.copy()
    changed[1, 2] = 1e-12
    assert fingerprint(zeros) != fingerprint(changed)
    assert fingerprint(np.asfortranarray(np.arange(6.0).reshape(2, 3))) == fingerprint(np.arange(6.0).reshape(2, 3))
