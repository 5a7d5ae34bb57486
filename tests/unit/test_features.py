"""The twelve features, their bounds, and the checks on lead matrices."""

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segmentation.exceptions import InvalidLeadsError, SegmenterError
from segmentation.features import BOUNDS, FEATURES, HEAVY_TAILED, Violation, check_matrix, find_violations
from segmentation.synthetic import generate_leads

TUTORIAL_FEATURES = (
    "engagement_score",
    "company_size",
    "website_traffic",
    "email_open_rate",
    "linkedin_connections",
    "pricing_page_visits",
    "time_on_site",
    "pages_viewed",
    "revenue_potential",
    "location_fit",
    "industry_fit",
    "decision_maker_level",
)


def valid_row() -> np.ndarray:
    return np.array([50, 10, 100, 0.2, 5, 1, 3, 4, 1000, 0.5, 0.5, 3], dtype=float)


def col(name: str) -> int:
    return FEATURES.index(name)


def test_features_are_the_tutorials_twelve_in_order() -> None:
    assert FEATURES == TUTORIAL_FEATURES


def test_heavy_tailed_features_are_counts_and_money_among_the_features() -> None:
    assert set(HEAVY_TAILED) <= set(FEATURES)
    assert set(HEAVY_TAILED) == {
        "company_size",
        "website_traffic",
        "linkedin_connections",
        "pricing_page_visits",
        "time_on_site",
        "pages_viewed",
        "revenue_potential",
    }


def test_every_feature_has_a_bound_and_only_seniority_is_whole() -> None:
    assert set(BOUNDS) == set(FEATURES)
    assert all(b.low < b.high for b in BOUNDS.values())
    assert [name for name, b in BOUNDS.items() if b.integer] == ["decision_maker_level"]
    assert (BOUNDS["decision_maker_level"].low, BOUNDS["decision_maker_level"].high) == (1, 5)
    assert (BOUNDS["email_open_rate"].low, BOUNDS["email_open_rate"].high) == (0, 1)
    assert (BOUNDS["engagement_score"].low, BOUNDS["engagement_score"].high) == (0, 100)


def test_a_valid_matrix_has_no_violations() -> None:
    assert find_violations(np.vstack([valid_row(), valid_row()])) == []


def test_generated_leads_are_all_within_bounds() -> None:
    assert find_violations(generate_leads(3000, random_state=5).X) == []


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("email_open_rate", 1.5, "email_open_rate must be a rate 0-1 in [0, 1], got 1.5"),
        ("engagement_score", -3.0, "engagement_score must be a score 0-100 in [0, 100], got -3"),
        ("company_size", 2e7, "company_size must be a count in [0, 1e+07], got 2e+07"),
        ("revenue_potential", -1.0, "revenue_potential must be a money in [0, 1e+13], got -1"),
        ("time_on_site", float("nan"), "time_on_site must be a finite number, got nan"),
        ("pages_viewed", float("inf"), "pages_viewed must be a finite number, got inf"),
        ("website_traffic", float("-inf"), "website_traffic must be a finite number, got -inf"),
        ("decision_maker_level", 2.5, "decision_maker_level must be a whole level 1-5, got 2.5"),
        ("decision_maker_level", 7.0, "decision_maker_level must be a whole level 1-5 in [1, 5], got 7"),
        ("decision_maker_level", 0.0, "decision_maker_level must be a whole level 1-5 in [1, 5], got 0"),
    ],
)
def test_each_kind_of_bad_value_is_reported_with_row_column_value_and_reason(
    column: str, value: float, reason: str
) -> None:
    X = np.vstack([valid_row(), valid_row(), valid_row()])
    X[2, col(column)] = value
    [violation] = find_violations(X)
    assert (violation.row, violation.column, violation.reason) == (2, column, reason)
    assert violation.value == value or (np.isnan(value) and np.isnan(violation.value))


def test_bounds_are_closed_ranges() -> None:
    X = np.vstack([valid_row(), valid_row()])
    X[0, col("email_open_rate")], X[1, col("email_open_rate")] = 0.0, 1.0
    X[0, col("decision_maker_level")], X[1, col("decision_maker_level")] = 1.0, 5.0
    assert find_violations(X) == []


def test_violations_come_row_by_row_in_feature_order() -> None:
    X = np.vstack([valid_row()] * 3)
    X[2, col("company_size")] = -1
    X[0, col("industry_fit")] = 2
    X[0, col("engagement_score")] = 101
    found = [(v.row, v.column) for v in find_violations(X)]
    assert found == [(0, "engagement_score"), (0, "industry_fit"), (2, "company_size")]


def test_find_violations_follows_a_custom_feature_order() -> None:
    features = ("email_open_rate", "engagement_score")
    X = np.array([[0.5, 50.0], [0.5, 150.0]])
    assert find_violations(X, features) == [
        Violation(1, "engagement_score", 150.0, "engagement_score must be a score 0-100 in [0, 100], got 150")
    ]


BAD_VALUES = st.sampled_from(["low", "high", "nan", "inf", "fraction"])


def bad_value(name: str, kind: str) -> float:
    bound = BOUNDS[name]
    if kind == "low":
        return bound.low - 1
    if kind == "high":
        return bound.high * 2 + 1
    if kind == "nan":
        return float("nan")
    if kind == "inf":
        return float("inf")
    # Not a whole number: a violation for seniority only; other features get a value just above range.
    return bound.low + 0.5 if bound.integer else bound.high + 0.5


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    cells=st.lists(st.tuples(st.integers(0, 19), st.integers(0, 11), BAD_VALUES), max_size=15),
)
def test_find_violations_flags_exactly_the_out_of_bound_cells(seed: int, cells: list[tuple[int, int, str]]) -> None:
    X = generate_leads(20, random_state=seed).X
    expected = set()
    for row, j, kind in cells:
        X[row, j] = bad_value(FEATURES[j], kind)
        expected.add((row, FEATURES[j]))
    found = find_violations(X)
    assert {(v.row, v.column) for v in found} == expected
    assert len(found) == len(expected)
    assert [(v.row, FEATURES.index(v.column)) for v in found] == sorted(
        (row, FEATURES.index(name)) for row, name in expected
    )


def test_check_matrix_returns_float64_of_the_same_values() -> None:
    rows = [[50, 10, 100, 0, 5, 1, 3, 4, 1000, 0, 1, 3]]
    X = check_matrix(rows)
    assert X.dtype == np.float64
    assert X.tolist() == [[50.0, 10.0, 100.0, 0.0, 5.0, 1.0, 3.0, 4.0, 1000.0, 0.0, 1.0, 3.0]]


def test_check_matrix_names_the_first_bad_value_and_its_row() -> None:
    X = np.vstack([valid_row()] * 4)
    X[3, col("email_open_rate")] = 1.5
    X[1, col("decision_maker_level")] = 9
    with pytest.raises(InvalidLeadsError) as caught:
        check_matrix(X)
    assert str(caught.value) == "row 1: decision_maker_level must be a whole level 1-5 in [1, 5], got 9"
    assert isinstance(caught.value, SegmenterError)
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((3, 11), "expected a matrix with 12 feature columns, got shape (3, 11)"),
        ((12,), "expected a matrix with 12 feature columns, got shape (12,)"),
        ((0, 12), "no leads to work on"),
    ],
)
def test_check_matrix_rejects_wrong_shapes(shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(InvalidLeadsError, match=f"^{re.escape(message)}$"):
        check_matrix(np.zeros(shape))
