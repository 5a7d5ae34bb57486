"""Choosing K: the planted number of segments on heavy-tailed lead data, where silhouette alone fails."""

import numpy as np
import pytest

from segmentation.exceptions import SegmenterError
from segmentation.preprocessing import LeadScaler
from segmentation.segmenter import LeadSegmenter
from segmentation.selection import KScore, KSelection, find_optimal_clusters
from segmentation.synthetic import generate_leads


def scaled_leads(seed: int, keep: list[int] | None = None, n: int = 3000) -> np.ndarray:
    leads = generate_leads(n, random_state=seed)
    X = leads.X if keep is None else leads.X[np.isin(leads.true_segment, keep)]
    return LeadScaler().fit_transform(X)


def blobs(centers: list[list[float]], per: int = 40, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(c, 0.3, (per, len(c))) for c in centers])


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize(
    ("keep", "planted"),
    [(None, 5), ([0, 1, 2], 3), ([1, 2, 3, 4], 4), ([0, 2], 2)],
    ids=["all-five", "segments-0-1-2", "segments-1-2-3-4", "segments-0-2"],
)
def test_recovers_the_planted_number_of_segments(seed: int, keep: list[int] | None, planted: int) -> None:
    selection = find_optimal_clusters(scaled_leads(seed, keep), max_k=10)
    assert selection.k == planted
    assert [s.k for s in selection.scores] == list(range(2, 11))
    assert f"K={planted} gives the sharpest drop in within-segment spread (distortion jump)" in selection.reason
    assert "reproducible on resamples (ARI >= 0.80)" in selection.reason
    assert "hold at least 2% of leads each" in selection.reason
    assert "keep silhouette >= " in selection.reason
    if planted > 2:
        # The failure the product fixes: the far-away tire kickers make silhouette prefer too few segments.
        assert selection.silhouette_k < planted
        assert f"silhouette alone would pick K={selection.silhouette_k}" in selection.reason
    else:
        assert selection.silhouette_k == 2
        assert "silhouette alone" not in selection.reason


def test_scores_describe_every_k_scanned() -> None:
    Z = blobs([[0, 0], [4, 0], [0, 4]])
    seen: list[int] = []
    selection = find_optimal_clusters(Z, max_k=5, on_k=seen.append)
    assert seen == [2, 3, 4, 5]
    assert [s.k for s in selection.scores] == [2, 3, 4, 5]
    for score in selection.scores:
        assert -1 <= score.silhouette <= 1
        assert score.calinski_harabasz > 0
        assert score.davies_bouldin > 0
        assert -1 <= score.stability <= 1
        assert 0 < score.min_share <= 1 / score.k
        assert score.inertia > 0
        assert np.isfinite(score.jump)
    inertias = [s.inertia for s in selection.scores]
    assert inertias == sorted(inertias, reverse=True)


def test_three_clear_blobs_give_three_and_silhouette_agrees() -> None:
    selection = find_optimal_clusters(blobs([[0, 0], [4, 0], [0, 4]]), max_k=6)
    assert (selection.k, selection.silhouette_k) == (3, 3)
    assert selection.reason.startswith("K=3 gives the sharpest drop")
    assert "silhouette alone" not in selection.reason
    assert selection.reason.endswith(".")


def test_when_no_k_passes_the_guards_the_best_separated_is_the_fallback() -> None:
    selection = find_optimal_clusters(blobs([[0, 0], [4, 0], [0, 4]]), max_k=5, min_stability=1.01)
    assert selection.k == selection.silhouette_k == 3
    assert selection.reason.startswith("no K passes every guard (resample ARI >= 1.01, segments >= 2%)")
    assert "K=3, the best separated (silhouette " in selection.reason
    assert "is the fallback" in selection.reason


def test_tiny_segments_are_vetoed() -> None:
    # Two big groups and a group of 3 leads (1 %): with min_share 2 % the dust segment is not allowed.
    rng = np.random.default_rng(1)
    Z = np.vstack([rng.normal(0, 0.3, (150, 2)), rng.normal(6, 0.3, (147, 2)), rng.normal([0, 30], 0.3, (3, 2))])
    selection = find_optimal_clusters(Z, max_k=5)
    by_k = {s.k: s for s in selection.scores}
    assert by_k[3].min_share == pytest.approx(3 / 300)
    assert selection.k == 2
    assert find_optimal_clusters(Z, max_k=5, min_share=0.005).k == 3


def test_same_data_and_seed_give_the_same_selection() -> None:
    Z = scaled_leads(4, n=600)
    assert find_optimal_clusters(Z, max_k=6, random_state=3) == find_optimal_clusters(Z.copy(), max_k=6, random_state=3)


def test_subsampled_scan_still_scores_the_whole_population() -> None:
    Z = blobs([[0, 0], [5, 0], [0, 5]], per=200)
    full = find_optimal_clusters(Z, max_k=4)
    sampled = find_optimal_clusters(Z, max_k=4, scan_size=300, silhouette_size=150)
    assert sampled.k == full.k == 3
    # Inertia is reported for all 600 leads even when 300 were scanned.
    assert sampled.scores[1].inertia == pytest.approx(full.scores[1].inertia, rel=0.2)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_duplicate_leads_fitting_exactly_do_not_crash_the_scan() -> None:
    Z = np.repeat(np.array([[0.0], [1.0], [2.0]]), 10, axis=0)
    selection = find_optimal_clusters(Z, max_k=4)
    assert selection.k == 3
    assert all(np.isfinite(s.jump) for s in selection.scores)


@pytest.mark.filterwarnings("ignore:Number of distinct clusters")
def test_five_distinct_leads_repeated_get_five_segments() -> None:
    # Regression: an exact fit (zero inertia) used to raise ZeroDivisionError in the distortion jump.
    X = np.repeat(generate_leads(5, random_state=2).X, 4, axis=0)
    model = LeadSegmenter().fit(X)
    assert model.n_clusters_ == 5
    assert sorted(np.bincount(model.labels_).tolist()) == [4, 4, 4, 4, 4]


@pytest.mark.parametrize(
    ("kwargs", "n", "message"),
    [
        ({"min_k": 1}, 50, "need 2 <= min_k <= max_k, got min_k=1, max_k=10"),
        ({"min_k": 5, "max_k": 4}, 50, "need 2 <= min_k <= max_k, got min_k=5, max_k=4"),
        ({"max_k": 10}, 10, "max_k=10 needs more than 10 leads, got 10"),
    ],
)
def test_bad_k_ranges_are_refused(kwargs: dict[str, int], n: int, message: str) -> None:
    Z = np.random.default_rng(0).normal(size=(n, 2))
    with pytest.raises(SegmenterError, match=f"^{message}$"):
        find_optimal_clusters(Z, **kwargs)


def test_min_k_above_two_scans_from_min_k() -> None:
    selection = find_optimal_clusters(blobs([[0, 0], [4, 0], [0, 4], [4, 4]]), min_k=3, max_k=6)
    assert [s.k for s in selection.scores] == [3, 4, 5, 6]
    assert selection.k == 4


def test_silhouette_k_is_the_k_with_the_best_silhouette() -> None:
    def score(k: int, silhouette: float) -> KScore:
        return KScore(k, silhouette, 1.0, 1.0, 1.0, 0.1, 1.0, 1.0)

    selection = KSelection(4, "why", (score(2, 0.3), score(3, 0.6), score(4, 0.5)))
    assert selection.silhouette_k == 3


@pytest.mark.parametrize("n", [3, 5, 10, 11, 23])
def test_few_leads_are_scanned_up_to_k_equal_n_minus_1(n: int) -> None:
    Z = np.random.default_rng(n).normal(size=(n, 12))
    selection = find_optimal_clusters(Z, max_k=n - 1)
    assert [s.k for s in selection.scores] == list(range(2, n))
    assert 2 <= selection.k <= n - 1
