"""Segment profiles and the readable names derived from them."""

import math

import numpy as np
import pytest

from segmentation.features import FEATURES
from segmentation.naming import FEATURE_LABELS, NAME_RULES, NameRule, describe, name_segments
from segmentation.profiling import SegmentProfile, profile_segments
from segmentation.segmenter import LeadSegmenter
from segmentation.synthetic import SyntheticLeads

TUTORIAL_NAMES = ("High-Value Enterprise", "SMB Quick Closers", "Tire Kickers", "Mid-Market Nurture", "Churn Risk")


def profile_with(z: dict[str, float], index: int = 0) -> SegmentProfile:
    values = dict.fromkeys(FEATURES, 0.0) | z
    return SegmentProfile(index, 10, 0.1, (), (), tuple(values[f] for f in FEATURES))


# --- profiling ---------------------------------------------------------------------------------


def test_profiles_give_size_share_mean_median_and_z_per_segment() -> None:
    X = np.array([[1.0, 10.0], [3.0, 20.0], [10.0, 30.0], [2.0, 90.0]])
    Zs = (X - X.mean(axis=0)) / X.std(axis=0)
    labels = np.array([0, 0, 1, 0])
    first, second = profile_segments(X, Zs, labels, 2)
    assert (first.index, first.size, first.share) == (0, 3, 0.75)
    assert first.mean == (2.0, 40.0)
    assert first.median == (2.0, 20.0)
    assert first.z == pytest.approx(tuple(Zs[[0, 1, 3]].mean(axis=0)))
    assert (second.index, second.size, second.share) == (1, 1, 0.25)
    assert second.mean == second.median == (10.0, 30.0)
    assert all(isinstance(v, float) for v in first.mean + first.median + first.z)


def test_the_docstring_example_by_hand() -> None:
    X = np.array([[1.0], [3.0], [10.0]])
    Zs = (X - X.mean()) / X.std()
    p = profile_segments(X, Zs, np.array([0, 0, 1]), 2)
    assert p[1].z[0] == pytest.approx((10 - 14 / 3) / np.std([1, 3, 10]))
    assert round(p[1].z[0], 2) == 1.38


def test_an_empty_segment_has_size_zero_and_nan_statistics() -> None:
    X = np.array([[1.0], [2.0]])
    profiles = profile_segments(X, X, np.array([0, 0]), 3)
    assert [p.size for p in profiles] == [2, 0, 0]
    assert [p.share for p in profiles] == [1.0, 0.0, 0.0]
    assert all(math.isnan(v) for v in profiles[2].mean + profiles[2].median + profiles[2].z)


def test_profiles_of_a_fitted_model_cover_every_lead(fitted_800: LeadSegmenter, leads_800: SyntheticLeads) -> None:
    X = leads_800.X
    profiles = profile_segments(X, fitted_800.scale(X), fitted_800.labels_, fitted_800.n_clusters_)
    assert [p.index for p in profiles] == [0, 1, 2, 3, 4]
    assert sum(p.size for p in profiles) == 800
    assert sum(p.share for p in profiles) == pytest.approx(1.0)
    assert [p.size for p in profiles] == sorted((p.size for p in profiles), reverse=True)
    assert all(len(p.mean) == len(p.median) == len(p.z) == 12 for p in profiles)


# --- naming ------------------------------------------------------------------------------------


def test_fitted_segments_get_the_tutorials_five_names_matching_the_planted_truth(
    fitted_5000: LeadSegmenter, leads_5000: SyntheticLeads
) -> None:
    X = leads_5000.X
    profiles = profile_segments(X, fitted_5000.scale(X), fitted_5000.labels_, fitted_5000.n_clusters_)
    names = name_segments(profiles)
    assert sorted(names) == sorted(TUTORIAL_NAMES)
    for segment, name in enumerate(names):
        truth = np.bincount(leads_5000.true_segment[fitted_5000.labels_ == segment], minlength=5)
        assert leads_5000.segment_names[int(truth.argmax())] == name


def test_a_clear_tire_kicker_profile_is_named_so() -> None:
    p = profile_with({"engagement_score": -1.5, "company_size": -1.2, "revenue_potential": -1.0})
    assert name_segments([p]) == ("Tire Kickers",)


def test_each_rule_names_its_own_textbook_profile() -> None:
    profiles = [
        profile_with({"company_size": 1.5, "revenue_potential": 1.4, "engagement_score": 1.0}, 0),
        profile_with({"engagement_score": 0.8, "pricing_page_visits": 1.0, "company_size": -0.7}, 1),
        profile_with({"engagement_score": -1.5, "company_size": -1.5, "revenue_potential": -1.5}, 2),
        profile_with({"company_size": 0.1, "engagement_score": 0.0, "revenue_potential": 0.1}, 3),
        profile_with({"industry_fit": 0.8, "engagement_score": -1.0, "email_open_rate": -1.0}, 4),
    ]
    assert name_segments(profiles) == TUTORIAL_NAMES


def test_rules_are_matched_one_to_one_and_leftovers_are_described() -> None:
    tire = {"engagement_score": -1.5, "company_size": -1.2, "revenue_potential": -1.0}
    weaker_tire = {"engagement_score": -0.8, "company_size": -0.8, "revenue_potential": -0.8, "website_traffic": -2.0}
    names = name_segments([profile_with(weaker_tire, 0), profile_with(tire, 1)])
    assert names == ("Low web traffic, low engagement", "Tire Kickers")


def test_best_total_fit_wins_over_greedy_first_choice() -> None:
    # Segment 0 fits both Enterprise and Mid-Market; segment 1 only Mid-Market. Both get named.
    both = {"company_size": 0.5, "revenue_potential": 0.5, "engagement_score": 0.5}
    middle = {"company_size": 0.2, "revenue_potential": 0.0, "engagement_score": 0.0}
    rules = [r for r in NAME_RULES if r.name in ("High-Value Enterprise", "Mid-Market Nurture")]
    names = name_segments([profile_with(both), profile_with(middle)], rules=rules)
    assert names == ("High-Value Enterprise", "Mid-Market Nurture")


def test_more_segments_than_rules_get_distinct_names() -> None:
    flat = profile_with({"location_fit": 2.0, "industry_fit": 1.0})
    names = name_segments([flat, flat, flat], rules=())
    assert names == ("High location fit, high industry fit",) + (
        "High location fit, high industry fit (2)",
        "High location fit, high industry fit (3)",
    )
    assert len(set(names)) == 3


def test_an_empty_segment_is_named_empty_and_takes_no_rule() -> None:
    empty = SegmentProfile(1, 0, 0.0, (), (), (math.nan,) * 12)
    tire = profile_with({"engagement_score": -1.5, "company_size": -1.2, "revenue_potential": -1.0})
    assert name_segments([tire, empty]) == ("Tire Kickers", "Empty segment")


def test_no_profiles_no_names() -> None:
    assert name_segments([]) == ()


def test_rule_score_is_none_unless_every_condition_holds() -> None:
    rule = NameRule("Test", high=("a",), low=("b",), middle=("c",))
    assert rule.score({"a": 1.0, "b": -0.5, "c": 0.25}) == pytest.approx((1.0 + 0.5 + 0.5) / 3)
    assert rule.score({"a": 0.2, "b": -0.5, "c": 0.0}) is None  # high below the margin
    assert rule.score({"a": 1.0, "b": 0.0, "c": 0.0}) is None  # low not low enough
    assert rule.score({"a": 1.0, "b": -1.0, "c": 0.8}) is None  # middle too far out


def test_describe_names_the_two_most_distinctive_features() -> None:
    z = {"pricing_page_visits": 1.4, "company_size": -0.9, "engagement_score": 0.1}
    assert describe(z) == "High pricing-page visits, low company size"
    assert describe(z, top=1) == "High pricing-page visits"
    assert describe({"unknown_feature": -2.0}) == "Low unknown_feature"
    assert describe({"company_size": math.nan}) == "Empty segment"


def test_every_feature_has_a_readable_label() -> None:
    assert set(FEATURE_LABELS) == set(FEATURES)
    assert len(set(FEATURE_LABELS.values())) == 12


def test_the_rules_carry_the_tutorials_names() -> None:
    assert tuple(rule.name for rule in NAME_RULES) == TUTORIAL_NAMES
