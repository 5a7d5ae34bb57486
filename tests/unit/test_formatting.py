"""Money and segment colours as the terminal, the HTML report and the dashboard all show them."""

import subprocess
import sys

import pytest

from models.presentation import SEGMENT_COLOURS, SEGMENT_COLOURS_MANY, money, segment_colours


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


def test_the_segment_colours_are_the_reports_and_matplotlibs_and_the_dashboard_loads_no_matplotlib() -> None:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    from segmenter.report_plots import _segment_colors

    for palette, colours in (("tab10", SEGMENT_COLOURS), ("tab20", SEGMENT_COLOURS_MANY)):
        cmap = colormaps[palette]
        assert tuple(to_hex(cmap(i)) for i in range(cmap.N)) == colours
    for k in (4, 10, 13):
        assert [to_hex(c) for c in _segment_colors(range(k), k)] == list(segment_colours(k))
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, streams.operations.dashboard_page; print('matplotlib' in sys.modules)"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert loaded.stdout.strip() == "False"
