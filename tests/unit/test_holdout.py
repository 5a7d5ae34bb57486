"""The holdout draw: a stable share of leads by a hash of their id and a salt."""

import math

import pytest

from segmentation.exceptions import InvalidParameterError
from segmentation.holdout import HoldoutDraw

IDS = [f"lead-{i}" for i in range(100_000)]


@pytest.mark.parametrize("share", [0.01, 0.05, 0.2, 0.5])
@pytest.mark.parametrize("salt", ["", "experiment-2"])
def test_the_holdout_share_is_within_its_binomial_interval(share: float, salt: str) -> None:
    draw = HoldoutDraw(share, salt)
    held = sum(draw.in_holdout(i) for i in IDS)
    sd = math.sqrt(len(IDS) * share * (1 - share))
    assert abs(held - len(IDS) * share) < 4 * sd  # four standard deviations: a fair draw fails 1 in 16,000


def test_a_lead_keeps_its_arm_and_a_new_salt_redraws_independently() -> None:
    first, again, other = HoldoutDraw(0.2, "a"), HoldoutDraw(0.2, "a"), HoldoutDraw(0.2, "b")
    held = {i for i in IDS if first.in_holdout(i)}
    assert held == {i for i in IDS if again.in_holdout(i)}
    both = len(held & {i for i in IDS if other.in_holdout(i)})
    expected, sd = len(IDS) * 0.04, math.sqrt(len(IDS) * 0.04 * 0.96)  # independent draws overlap at share²
    assert abs(both - expected) < 4 * sd


def test_a_larger_share_keeps_the_smaller_ones_holdout() -> None:
    small, large = HoldoutDraw(0.05), HoldoutDraw(0.1)
    assert all(large.in_holdout(i) for i in IDS[:20_000] if small.in_holdout(i))


def test_a_salt_is_not_confused_with_the_id_it_precedes() -> None:
    assert [HoldoutDraw(0.5, "ab").arm(f"c{i}") for i in range(64)] != [
        HoldoutDraw(0.5, "a").arm(f"bc{i}") for i in range(64)
    ]


def test_share_zero_holds_out_no_one() -> None:
    assert {HoldoutDraw(0.0, "x").arm(i) for i in IDS} == {"segmented"}


@pytest.mark.parametrize("share", [-0.01, 0.51, 1.0, math.nan])
def test_a_share_outside_zero_to_a_half_is_refused(share: float) -> None:
    with pytest.raises(InvalidParameterError, match="between 0 and 0.5"):
        HoldoutDraw(share)
