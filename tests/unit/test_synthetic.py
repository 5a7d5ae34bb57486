"""Seeded synthetic leads with the tutorial's five planted segments."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.exceptions import SegmenterError
from segmentation.features import FEATURES, check_matrix
from segmentation.synthetic import PLANTED_SEGMENTS, generate_leads

TUTORIAL_NAMES = ("High-Value Enterprise", "SMB Quick Closers", "Tire Kickers", "Mid-Market Nurture", "Churn Risk")


def column(X: np.ndarray, name: str) -> np.ndarray:
    return X[:, FEATURES.index(name)]


def test_planted_segments_are_the_tutorials_five_with_shares_summing_to_one() -> None:
    assert tuple(p.name for p in PLANTED_SEGMENTS) == TUTORIAL_NAMES
    assert sum(p.share for p in PLANTED_SEGMENTS) == pytest.approx(1.0)
    assert all(sum(p.decision_maker) == pytest.approx(1.0) for p in PLANTED_SEGMENTS)


def test_generated_leads_have_one_row_per_lead_and_a_planted_segment_each() -> None:
    leads = generate_leads(1000, random_state=7)
    assert leads.X.shape == (1000, 12)
    assert leads.X.dtype == np.float64
    assert leads.true_segment.shape == (1000,)
    assert sorted(set(leads.true_segment.tolist())) == [0, 1, 2, 3, 4]
    assert leads.segment_names == TUTORIAL_NAMES


def test_segment_shares_follow_the_planted_shares() -> None:
    leads = generate_leads(20_000, random_state=1)
    shares = np.bincount(leads.true_segment, minlength=5) / 20_000
    assert shares == pytest.approx([0.17, 0.25, 0.18, 0.29, 0.11], abs=0.015)


def test_same_seed_same_leads_other_seed_other_leads() -> None:
    a, b, c = (
        generate_leads(500, random_state=3),
        generate_leads(500, random_state=3),
        generate_leads(500, random_state=4),
    )
    assert np.array_equal(a.X, b.X)
    assert np.array_equal(a.true_segment, b.true_segment)
    assert not np.array_equal(a.X, c.X)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_generated_leads_always_pass_the_input_checks(n: int, seed: int) -> None:
    leads = generate_leads(n, random_state=seed)
    assert check_matrix(leads.X).shape == (n, 12)
    assert set(leads.true_segment.tolist()) <= {0, 1, 2, 3, 4}


def test_planted_segments_differ_as_the_tutorial_describes() -> None:
    leads = generate_leads(10_000, random_state=2)
    engagement = column(leads.X, "engagement_score")
    size = column(leads.X, "company_size")
    mean_engagement = [engagement[leads.true_segment == i].mean() for i in range(5)]
    median_size = [np.median(size[leads.true_segment == i]) for i in range(5)]
    # Enterprise most engaged, tire kickers least; enterprise the largest companies, tire kickers the smallest.
    assert np.argmax(mean_engagement) == 0
    assert np.argmin(mean_engagement) == 2
    assert mean_engagement[0] == pytest.approx(82, abs=1.5)
    assert mean_engagement[2] == pytest.approx(22, abs=1.5)
    assert np.argmax(median_size) == 0
    assert np.argmin(median_size) == 2
    assert median_size[0] == pytest.approx(1500, rel=0.1)


def test_counts_and_money_are_heavy_tailed_and_seniority_is_whole() -> None:
    X = generate_leads(5000, random_state=0).X
    for name in ("company_size", "website_traffic", "revenue_potential", "pricing_page_visits"):
        values = column(X, name)
        assert values.mean() > 1.5 * np.median(values), name
    levels = column(X, "decision_maker_level")
    assert set(levels.tolist()) == {1.0, 2.0, 3.0, 4.0, 5.0}


@pytest.mark.parametrize("n", [0, -5])
def test_at_least_one_lead_is_required(n: int) -> None:
    with pytest.raises(SegmenterError, match=f"^n must be at least 1, got {n}$"):
        generate_leads(n)
