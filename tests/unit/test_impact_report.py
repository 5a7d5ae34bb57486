"""The measured-impact report from tallies: the issue's field names, the figures, too_few, and a lift interval
that covers a planted lift at its stated rate when it is built from counts and sums alone."""

import numpy as np
import pytest

from models.impact_report import impact_report
from segmentation.outcome_stats import MIN_MATURED
from segmentation.tallies import Cell
from tests.unit.test_outcome_stats import COVERED, SEEDS, revenue

ROW_FIELDS = [
    "segment_id", "segment_name", "arm", "exposed", "won", "lost", "open", "close_rate", "close_rate_ci",
    "assumed_close_rate", "avg_deal_size", "avg_deal_size_ci", "assumed_avg_deal_size", "revenue_per_lead",
    "revenue_per_lead_ci", "verdict",
]  # fmt: skip
LIFT_FIELDS = ["segmented_revenue_per_lead", "holdout_revenue_per_lead", "lift_pct", "lift_pct_ci", "basis"]


def cell(
    rng: np.random.Generator,
    segment: int,
    arm: str,
    matured: int,
    rate: float,
    deal: float,
    assumed: float = 0.3,
    version: int = 1,
    open_: int = 0,
) -> Cell:
    """A tally of `matured` leads drawn from a planted close rate and mean deal size."""
    amounts = revenue(rng, matured, rate, deal)
    won = amounts[amounts > 0]
    return Cell(
        version, segment, f"S{segment}", arm, assumed, 10_000.0,  # type: ignore[arg-type]
        matured + open_, len(won), matured - len(won), open_, float(won.sum()), float((won**2).sum()),
    )  # fmt: skip


def test_the_report_has_the_contracts_names_and_the_figures_of_its_cells() -> None:
    rng = np.random.default_rng(0)
    cells = [cell(rng, 1, "segmented", 400, 0.3, 20_000, open_=7), cell(rng, 1, "holdout", 100, 0.2, 12_000)]
    report = impact_report(cells, unattributed=3, window_seconds=86_400.0)
    dumped = report.model_dump(mode="json")
    assert set(ROW_FIELDS) <= set(dumped["rows"][0]) and set(LIFT_FIELDS) <= set(dumped["lift"])
    assert dumped["unattributed"] == 3 and dumped["window_seconds"] == 86_400.0
    assert (report.leads, report.matured, report.open) == (507, 500, 7)
    row, c = report.rows[0], cells[0]
    assert (row.arm, row.exposed, row.won, row.lost, row.open) == ("segmented", 407, c.won, c.lost, 7)
    assert row.close_rate == c.won / 400 and row.avg_deal_size == pytest.approx(c.revenue / c.won)
    assert row.revenue_per_lead == pytest.approx(c.revenue / 400)
    assert row.close_rate_ci is not None and row.close_rate_ci[0] < row.close_rate < row.close_rate_ci[1]
    assert report.lift.segmented_revenue_per_lead == pytest.approx(c.revenue / 400)
    assert [s.segment_id for s in report.segment_lifts] == [1]


def test_a_wrong_assumption_is_named() -> None:
    rng = np.random.default_rng(1)
    cells = [
        cell(rng, 1, "segmented", 2_000, 0.30, 9_000, assumed=0.62),  # the table says 62 %; 30 % is true
        cell(rng, 2, "segmented", 2_000, 0.30, 9_000, assumed=0.08),
        cell(rng, 3, "segmented", 2_000, 0.30, 9_000, assumed=0.30),
    ]
    assert [r.verdict for r in impact_report(cells, 0, None).rows] == ["overstated", "understated", "consistent"]


def test_too_few_matured_leads_give_too_few_and_no_headline() -> None:
    rng = np.random.default_rng(2)
    cells = [cell(rng, 1, "segmented", 500, 0.3, 20_000), cell(rng, 1, "holdout", MIN_MATURED - 1, 0.3, 20_000)]
    report = impact_report(cells, 0, None)
    assert report.lift.basis == "too_few" and report.lift.lift_pct is None and report.lift.lift_pct_ci is None
    assert report.lift.holdout_revenue_per_lead is None and report.rows[1].verdict == "too_few"
    nothing_won = [cells[0], Cell(1, 1, "S1", "holdout", 0.2, 1.0, 50, 0, 50, 0, 0.0, 0.0)]
    assert impact_report(nothing_won, 0, None).lift.basis == "no_revenue"
    empty = impact_report([Cell(1, 1, "S1", "segmented", 0.2, 1.0, 5, 0, 0, 5, 0.0, 0.0)], 0, None)
    assert empty.rows[0].close_rate is None and empty.rows[0].revenue_per_lead is None and empty.lift.basis == "too_few"


def test_a_version_filter_keeps_that_versions_cells_only() -> None:
    rng = np.random.default_rng(3)
    cells = [cell(rng, 1, "segmented", 100, 0.3, 1_000, version=v) for v in (4, 5)]
    report = impact_report(cells, 0, None, version=5)
    assert [r.model_version for r in report.rows] == [5] and report.model_version == 5 and report.leads == 100


def test_the_report_intervals_from_tallies_cover_the_planted_truth_at_their_stated_rate() -> None:
    """Two segments, each with its own truth; the holdout gets the baseline campaign: 23 % at $12K."""
    truth = {1: (0.30, 20_000.0), 2: (0.50, 6_000.0)}
    shares = {1: 0.6, 2: 0.4}
    segmented = sum(shares[s] * r * d for s, (r, d) in truth.items())
    planted = segmented / (0.23 * 12_000) * 100 - 100
    planted_segment = {s: r * d / (0.23 * 12_000) * 100 - 100 for s, (r, d) in truth.items()}
    rng = np.random.default_rng(4)
    overall, per_segment = [], {1: [], 2: []}
    rows: dict[str, list[bool]] = {"close_rate": [], "avg_deal_size": [], "revenue_per_lead": []}
    for _ in range(SEEDS):
        cells = []
        for s, (r, d) in truth.items():
            cells.append(cell(rng, s, "segmented", int(5_000 * shares[s]), r, d))
            cells.append(cell(rng, s, "holdout", int(1_000 * shares[s]), 0.23, 12_000))
        report = impact_report(cells, 0, None)
        for row in report.rows:
            rate, deal = truth[row.segment_id] if row.arm == "segmented" else (0.23, 12_000.0)
            for name, planted_value in (
                ("close_rate", rate),
                ("avg_deal_size", deal),
                ("revenue_per_lead", rate * deal),
            ):
                ci = getattr(row, f"{name}_ci")
                rows[name].append(ci[0] <= planted_value <= ci[1])
        assert report.lift.lift_pct_ci is not None
        overall.append(report.lift.lift_pct_ci[0] <= planted <= report.lift.lift_pct_ci[1])
        for lift in report.segment_lifts:
            assert lift.segment_id is not None and lift.lift_pct_ci is not None
            low, high = lift.lift_pct_ci
            per_segment[lift.segment_id].append(low <= planted_segment[lift.segment_id] <= high)
    assert COVERED[0] <= np.mean(overall) <= COVERED[1]
    for covered in [*per_segment.values(), *rows.values()]:  # each row figure: 4,000 intervals
        assert COVERED[0] <= np.mean(covered) <= COVERED[1]
