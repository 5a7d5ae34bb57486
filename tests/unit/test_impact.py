"""Business impact: the tutorial's revenue arithmetic, segment by segment."""

import math

import pytest

from segmentation.exceptions import SegmenterError
from segmentation.impact import BASELINE_CONVERSION, BASELINE_DEAL_SIZE, business_impact

TUTORIAL_SIZES = [847, 1234, 892, 1456, 571]
TUTORIAL_CLOSE_RATES = [0.45, 0.62, 0.08, 0.34, 0.28]
TUTORIAL_DEAL_SIZES = [50_000, 5_000, 500, 15_000, 12_000]


def test_the_tutorials_numbers_reproduce_exactly() -> None:
    impact = business_impact(TUTORIAL_SIZES, TUTORIAL_CLOSE_RATES, TUTORIAL_DEAL_SIZES)
    assert impact.per_segment == pytest.approx((19_057_500, 3_825_400, 35_680, 7_425_600, 1_918_560), abs=1e-6)
    assert impact.segmented_revenue == pytest.approx(32_262_740, abs=1e-6)
    assert impact.baseline_revenue == pytest.approx(13_800_000, abs=1e-6)
    assert impact.lift_pct == pytest.approx(18_462_740 / 13_800_000 * 100, rel=1e-12)
    # How the tutorial prints them: $32.2M (truncated), $13.8M, +133 % (truncated from 133.8 %).
    assert math.floor(impact.segmented_revenue / 1e5) / 10 == 32.2
    assert round(impact.baseline_revenue / 1e6, 1) == 13.8
    assert round(impact.lift_pct, 1) == 133.8
    assert int(impact.lift_pct) == 133


def test_the_baseline_is_the_tutorials_one_campaign() -> None:
    assert (BASELINE_CONVERSION, BASELINE_DEAL_SIZE) == (0.23, 12_000.0)
    assert business_impact([5000], [0.23], [12_000]).lift_pct == pytest.approx(0.0, abs=1e-9)


def test_the_docstring_example_by_hand() -> None:
    impact = business_impact([100, 100], [0.5, 0.1], [1000, 100])
    assert impact.per_segment == (50_000.0, 1_000.0)
    assert (impact.segmented_revenue, impact.baseline_revenue) == (51_000.0, 552_000.0)
    assert impact.lift_pct == pytest.approx((51_000 - 552_000) / 552_000 * 100)


def test_a_custom_baseline_is_used() -> None:
    impact = business_impact([10, 30], [0.5, 0.5], [100, 100], baseline_conversion=0.5, baseline_deal_size=50)
    assert impact.baseline_revenue == 1000.0
    assert impact.segmented_revenue == 2000.0
    assert impact.lift_pct == 100.0


def test_without_a_baseline_the_lift_is_undefined() -> None:
    impact = business_impact([10], [0.5], [100], baseline_conversion=0.0)
    assert impact.baseline_revenue == 0.0
    assert impact.segmented_revenue == 500.0
    assert math.isnan(impact.lift_pct)


def test_one_entry_per_segment_is_required() -> None:
    with pytest.raises(SegmenterError, match="^sizes, close_rates and deal_sizes must have one entry per segment$"):
        business_impact([1, 2], [0.5], [100, 100])


def test_no_segments_means_no_revenue() -> None:
    impact = business_impact([], [], [])
    assert impact.per_segment == ()
    assert impact.segmented_revenue == 0
    assert math.isnan(impact.lift_pct)
