"""The measured impact (issue 19): per model version × segment × arm the observed close rate, deal size and revenue
per lead with 95 % intervals against the assumed, and the measured lift of segmenting over the holdout. Built by
`impact_report` from the tallies (`segmentation.tallies.Cell`) the streaming side keeps in Redis or the offline
command counts from CSV files: one report, one JSON shape, whichever side counted."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.events import Arm
from segmentation.outcome_stats import (
    MIN_MATURED,
    Interval,
    Moments,
    Verdict,
    close_rate_interval,
    mean_interval,
    measured_lift,
    verdict,
)
from segmentation.tallies import Cell

__all__ = ["ImpactReport", "ImpactRow", "LiftFigures", "Range", "impact_report"]

Range = tuple[float, float]
LiftBasis = Literal["measured", "too_few", "no_revenue"]


class ImpactRow(BaseModel):
    """One model version × segment × arm: its leads, their results, and the figures measured on the matured ones."""

    model_config = ConfigDict(frozen=True)

    model_version: int
    segment_id: int
    segment_name: str
    arm: Arm
    exposed: int
    won: int
    lost: int = Field(description="Lost, or no result when the attribution window closed")
    open: int = Field(description="Still inside the attribution window with no result: left out of every rate")
    close_rate: float | None
    close_rate_ci: Range | None = Field(description="95 % Wilson interval")
    assumed_close_rate: float
    avg_deal_size: float | None
    avg_deal_size_ci: Range | None = Field(description="95 % Student's t interval over the deals won")
    assumed_avg_deal_size: float
    revenue_per_lead: float | None = Field(description="Revenue won per matured lead")
    revenue_per_lead_ci: Range | None = Field(description="95 % Student's t interval")
    verdict: Verdict = Field(description=f"The assumed close rate against the interval; too_few below {MIN_MATURED}")


class LiftFigures(BaseModel):
    """Revenue per matured lead of the segmented arm over the holdout's, in percent, with its 95 % interval (the
    delta method on the log ratio). `basis` says what it rests on: `measured`, or why there is no figure:
    `too_few` matured leads in an arm, or `no_revenue` (an arm won nothing, so there is no ratio)."""

    model_config = ConfigDict(frozen=True)

    segment_id: int | None = Field(default=None, description="None: every segment")
    segment_name: str | None = None
    segmented_matured: int
    holdout_matured: int
    segmented_revenue_per_lead: float | None
    holdout_revenue_per_lead: float | None
    lift_pct: float | None
    lift_pct_ci: Range | None
    basis: LiftBasis


class ImpactReport(BaseModel):
    """What segmenting measurably brought: the rows, the lift overall and per segment, the outcomes no exposure
    explains, and what it all rests on."""

    model_config = ConfigDict(frozen=True)

    model_version: int | None = Field(description="The version the report is limited to; None: every version")
    leads: int = Field(description="Leads exposed")
    matured: int = Field(description="Leads with a result (won, lost, or window closed)")
    open: int
    window_seconds: float | None = Field(description="The attribution window; None offline (no exposure times)")
    min_matured: int = Field(default=MIN_MATURED, description="Below this many matured leads: too_few, no figure")
    rows: list[ImpactRow]
    lift: LiftFigures
    segment_lifts: list[LiftFigures]
    unattributed: int = Field(description="Outcomes for leads with no exposure in the window")


def impact_report(
    cells: Iterable[Cell], unattributed: int, window_seconds: float | None, version: int | None = None
) -> ImpactReport:
    """The report on `cells` (only those of model `version`, if given).

    Examples:
        >>> cells = [Cell(3, 1, "A", "segmented", 0.3, 10_000, 110, 30, 70, 10, 300_000.0, 3.2e9),
        ...          Cell(3, 1, "A", "holdout", 0.2, 8_000, 60, 10, 40, 10, 80_000.0, 7.0e8)]
        >>> report = impact_report(cells, unattributed=2, window_seconds=86_400)
        >>> report.rows[0].close_rate, report.rows[0].verdict, report.lift.basis, round(report.lift.lift_pct)
        (0.3, 'consistent', 'measured', 88)
    """
    chosen = sorted(
        (c for c in cells if version is None or c.model_version == version),
        key=lambda c: (c.model_version, c.segment_id, c.arm != "segmented"),
    )
    by_segment: defaultdict[int, list[Cell]] = defaultdict(list)
    for cell in chosen:
        by_segment[cell.segment_id].append(cell)
    return ImpactReport(
        model_version=version,
        leads=sum(c.exposed for c in chosen),
        matured=sum(c.matured for c in chosen),
        open=sum(c.open for c in chosen),
        window_seconds=window_seconds,
        rows=[_row(c) for c in chosen],
        lift=_lift(chosen, None, None),
        segment_lifts=[_lift(group, sid, group[-1].segment_name) for sid, group in sorted(by_segment.items())],
        unattributed=unattributed,
    )


def _range(interval: Interval) -> Range:
    return interval.low, interval.high


def _revenue(cell: Cell) -> Moments:
    """One value per matured lead: the amount won, 0 for a lost one."""
    return Moments(cell.matured, cell.revenue, cell.revenue_sq)


def _row(cell: Cell) -> ImpactRow:
    deals, revenue = Moments(cell.won, cell.revenue, cell.revenue_sq), _revenue(cell)
    return ImpactRow(
        model_version=cell.model_version,
        segment_id=cell.segment_id,
        segment_name=cell.segment_name,
        arm=cell.arm,
        exposed=cell.exposed,
        won=cell.won,
        lost=cell.lost,
        open=cell.open,
        close_rate=cell.won / cell.matured if cell.matured else None,
        close_rate_ci=_range(close_rate_interval(cell.won, cell.matured)) if cell.matured else None,
        assumed_close_rate=cell.assumed_close_rate,
        avg_deal_size=deals.mean if deals.n else None,
        avg_deal_size_ci=_range(mean_interval(deals)) if deals.n >= 2 else None,
        assumed_avg_deal_size=cell.assumed_avg_deal_size,
        revenue_per_lead=revenue.mean if revenue.n else None,
        revenue_per_lead_ci=_range(mean_interval(revenue)) if revenue.n >= 2 else None,
        verdict=verdict(cell.assumed_close_rate, cell.won, cell.matured),
    )


def _pooled(cells: Sequence[Cell], arm: Arm) -> Moments:
    return sum((_revenue(c) for c in cells if c.arm == arm), Moments(0, 0.0, 0.0))


def _lift(cells: Sequence[Cell], segment_id: int | None, segment_name: str | None) -> LiftFigures:
    treated, control = _pooled(cells, "segmented"), _pooled(cells, "holdout")
    lift = measured_lift(treated, control)
    basis: LiftBasis = "measured"
    if lift.pct is None:
        basis = "too_few" if min(treated.n, control.n) < MIN_MATURED else "no_revenue"
    return LiftFigures(
        segment_id=segment_id,
        segment_name=segment_name,
        segmented_matured=treated.n,
        holdout_matured=control.n,
        segmented_revenue_per_lead=treated.mean if basis != "too_few" else None,
        holdout_revenue_per_lead=control.mean if basis != "too_few" else None,
        lift_pct=lift.pct,
        lift_pct_ci=_range(lift.interval) if lift.interval else None,
        basis=basis,
    )
