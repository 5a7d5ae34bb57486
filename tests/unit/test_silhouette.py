"""`SilhouetteScorer` against scikit-learn's silhouette."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from sklearn.metrics import silhouette_score

from segmentation.exceptions import SegmenterError
from segmentation.silhouette import SilhouetteScorer


@st.composite
def data_and_labels(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(3, 60))
    p = draw(st.integers(1, 4))
    # Quarter steps are exact in float32, the scorer's storage type; duplicates are likely and wanted.
    X = draw(arrays(np.float64, (n, p), elements=st.integers(-40, 40).map(lambda v: v / 4)))
    k = draw(st.integers(2, min(6, n - 1)))
    labels = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    return X, labels


@settings(max_examples=25, deadline=None)
@given(data=data_and_labels())
def test_agrees_with_sklearn(data: tuple[np.ndarray, np.ndarray]) -> None:
    X, labels = data
    used = np.unique(labels).size
    assume(2 <= used <= len(X) - 1)  # sklearn's domain
    assert SilhouetteScorer(X).score(labels) == pytest.approx(silhouette_score(X, labels), abs=1e-4)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(2, 8))
def test_agrees_with_sklearn_on_clustered_data(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(150, 3)) + rng.integers(0, k, 150)[:, None] * 2.0
    labels = rng.integers(0, k, 150)
    labels[:k] = np.arange(k)
    scorer = SilhouetteScorer(X)
    assert scorer.score(labels) == pytest.approx(silhouette_score(X, labels), abs=1e-4)
    good = (X[:, 0] > X[:, 0].mean()).astype(int)
    assert scorer.score(good) == pytest.approx(silhouette_score(X, good), abs=1e-4)


def test_the_docstring_example_by_hand() -> None:
    X = np.array([[0.0], [0.1], [5.0], [5.1]])
    # a = 0.1 for each; b = 5.05, 4.95, 4.95, 5.05
    expected = np.mean([1 - 0.1 / 5.05, 1 - 0.1 / 4.95, 1 - 0.1 / 4.95, 1 - 0.1 / 5.05])
    assert SilhouetteScorer(X).score(np.array([0, 0, 1, 1])) == pytest.approx(expected, abs=1e-6)


def test_a_lead_alone_in_its_cluster_scores_zero() -> None:
    X = np.array([[0.0], [0.1], [9.0]])
    labels = np.array([0, 0, 1])
    score = SilhouetteScorer(X).score(labels)
    assert score == pytest.approx(silhouette_score(X, labels), abs=1e-6)
    assert score == pytest.approx((2 - 0.1 / 9 - 0.1 / 8.9) / 3, abs=1e-6)


def test_unused_label_ids_are_ignored() -> None:
    X = np.array([[0.0], [0.1], [5.0], [5.1]])
    scorer = SilhouetteScorer(X)
    assert scorer.score(np.array([0, 0, 3, 3])) == pytest.approx(scorer.score(np.array([0, 0, 1, 1])))


def test_one_scorer_scores_many_labelings() -> None:
    X = np.random.default_rng(0).normal(size=(40, 2))
    scorer = SilhouetteScorer(X)
    for k in (2, 3, 4):
        labels = np.arange(40) % k
        assert scorer.score(labels) == pytest.approx(silhouette_score(X, labels), abs=1e-5)


@pytest.mark.parametrize("labels", [[0, 0, 0], [1, 1, 1], [4, 4, 4]])
def test_one_cluster_is_refused(labels: list[int]) -> None:
    # [1, 1, 1] used to score NaN: the check counted label ids, not clusters.
    with pytest.raises(SegmenterError, match="^silhouette needs at least 2 clusters$"):
        SilhouetteScorer(np.array([[0.0], [1.0], [2.0]])).score(np.array(labels))


def test_duplicate_leads_split_across_clusters_score_zero_not_nan() -> None:
    # Regression: a = b = 0 gave 0/0 = NaN, which then poisoned the K scan and the model file.
    X = np.zeros((3, 1))
    labels = np.array([0, 1, 1])
    assert SilhouetteScorer(X).score(labels) == silhouette_score(X, labels) == 0.0
