"""The dashboard drawn from a worker's state: each segment in the colour the HTML report gives it, deal sizes in
dollars as the CLI writes them, the scatter with axes and a legend, drawn to the width of the window."""

import re

import pytest

from models.drift import DriftReport
from models.impact_report import impact_report
from models.presentation import money, segment_colours
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmentation.tallies import Cell
from streams.operations.activity import Activity
from streams.operations.dashboard import state
from streams.operations.dashboard_page import PAGE, panel
from tests.streams.test_metrics import batch, route
from tests.streams.test_web import holder_of


@pytest.fixture(scope="module")
def drawn() -> tuple[ModelSnapshot, str]:
    snapshot = fit_model(generate_leads(800, random_state=1).X, config=StrategyConfig(), k=4, version=3)[1]
    activity = Activity()
    route(snapshot, activity, batch(300))
    return snapshot, panel(state(holder_of(snapshot), activity))


def test_each_segment_has_the_reports_colour_by_its_place_in_the_model(drawn: tuple[ModelSnapshot, str]) -> None:
    snapshot, html = drawn
    expected = dict(zip(snapshot.segment_ids, segment_colours(len(snapshot.segments)), strict=True))
    rows = dict(re.findall(r'<tr data-segment-id="(\d+)"><td><i style="background:(#[0-9a-f]{6})"', html))
    assert {int(i): colour for i, colour in rows.items()} == expected
    dots = set(re.findall(r'<circle cx="[\d.]+" cy="[\d.]+" r="2.5" fill="(#[0-9a-f]{6})"/>', html))
    assert dots and dots <= set(expected.values())


def test_deal_sizes_are_in_dollars_as_the_cli_writes_them(drawn: tuple[ModelSnapshot, str]) -> None:
    snapshot, html = drawn
    table = html[html.index('<table id="model-segments">') :]
    for segment in snapshot.segments:
        assert f'<td class="num">{money(segment.strategy.avg_deal_size)}</td>' in table
    assert re.search(r'<td class="num">\$[\d.]+K</td>', table)


def test_the_scatter_has_axes_and_a_legend_and_fills_its_column(drawn: tuple[ModelSnapshot, str]) -> None:
    snapshot, html = drawn
    svg = html[html.index('<svg id="scatter"') : html.index("</svg>")]
    assert svg.count('class="axis"') == 2 and "principal axis 1" in svg and "principal axis 2" in svg
    assert 'width="' not in svg.split(">", 1)[0]  # sized by the page's CSS, not a fixed 460 px
    legend = html[html.index('<ul class="legend" id="scatter-legend">') :]
    for segment in snapshot.segments:
        assert f"{segment.id} {segment.name}" in legend
    assert "#scatter{width:100%" in PAGE and "grid-template-columns" in PAGE


def test_a_pinned_version_says_whose_content_it_serves(drawn: tuple[ModelSnapshot, str]) -> None:
    snapshot, _ = drawn
    pinned = snapshot.restored(9, snapshot, "pin")
    html = panel(state(holder_of(pinned), Activity()))
    assert f"serving the content of version {snapshot.version} as version 9 (by a pin)" in html


def test_a_stale_model_is_shown_with_why_and_what_to_do(drawn: tuple[ModelSnapshot, str]) -> None:
    snapshot, html = drawn
    assert 'id="drift">not judged yet<' in html and 'id="stale"' not in html
    stale = DriftReport(
        state="drifting_refused",
        model_version=3,
        leads=2000,
        window_leads=2000,
        window_seconds=3600,
        score=1.9,
        reasons=["segment 1 mean distance 1.9x fit time"],
        refused_reasons=["it would move 40% of leads to another segment (at most 30%)"],
    )
    shown = panel(state(holder_of(snapshot), Activity(), stale))
    assert 'id="drift">drifting refused · 1.90<' in shown
    warning = shown[shown.index('id="stale"') :]
    assert "segment 1 mean distance 1.9x fit time" in warning and "at most 30%" in warning
    assert "segmenter pin VERSION" in warning


def test_the_impact_panel_shows_observed_against_assumed_and_the_lift(drawn: tuple[ModelSnapshot, str]) -> None:
    snapshot, plain = drawn
    cells = [
        Cell(3, 0, "A", "segmented", 0.6, 5_000, 300, 120, 180, 0, 120 * 5_000.0, 120 * 5_000.0**2 * 1.2),
        Cell(3, 0, "A", "holdout", 0.2, 4_000, 200, 30, 170, 0, 30 * 4_000.0, 30 * 4_000.0**2 * 1.2),
    ]
    report = impact_report(cells, unattributed=2, window_seconds=86_400, version=3)
    html = panel(state(holder_of(snapshot), Activity(), impact=report))
    assert 'id="impact"' not in plain  # nothing counted: no panel
    rows = re.findall(r'<tr data-segment-id="0" data-arm="(\w+)">(.*?)</tr>', html.split('id="impact"')[1])
    assert [arm for arm, _ in rows] == ["segmented", "holdout"]
    assert "40.0% (" in rows[0][1] and "· 60.0%" in rows[0][1] and "overstated" in rows[0][1]  # 120 of 300 won
    assert "15.0% (" in rows[1][1] and "· 20.0%" in rows[1][1]
    lift = report.lift
    assert lift.basis == "measured" and lift.lift_pct is not None and lift.lift_pct_ci is not None
    assert f"{lift.lift_pct:+.1f} % revenue per lead" in html and f"{lift.lift_pct_ci[0]:+.1f} %" in html
    assert "2 unattributed" in html
