"""Money as the terminal and the HTML report both show it."""

import pytest

from segmenter.formatting import money


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (0, "$0"),
        (500, "$500"),
        (960, "$960"),
        (999.4, "$999"),
        (999.6, "$1.0K"),
        (12_500, "$12.5K"),
        (52_549, "$52.5K"),
        (999_960, "$1.0M"),  # rounded first, then the unit: not "$1,000.0K"
        (999_940, "$999.9K"),
        (4_140_000, "$4.1M"),
        (13_800_000, "$13.8M"),
        (2_500_000_000, "$2.5B"),
        (2.5e12, "$2,500.0B"),
        (-12_500, "-$12.5K"),
    ],
)
def test_money_rounds_then_picks_the_unit(amount: float, text: str) -> None:
    assert money(amount) == text
