"""How a measured-impact report is shown to a person: observed against assumed per segment and arm, the lift with
its interval, and what it all rests on. The JSON is the report itself (`ImpactReport`)."""

from rich.table import Table

from models.impact_report import ImpactReport, LiftFigures, Range
from models.presentation import money

__all__ = ["impact_table", "lift_line", "rests_on"]


def _rate(value: float | None, ci: Range | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" + (f" [{ci[0]:.1%}, {ci[1]:.1%}]" if ci else "")


def _money(value: float | None, ci: Range | None) -> str:
    if value is None:
        return "-"
    return money(value) + (f" [{money(ci[0])}, {money(ci[1])}]" if ci else "")


def impact_table(report: ImpactReport) -> Table:
    """One row per model version × segment × arm: leads, results, close rate, deal size and revenue per lead with
    their 95 % intervals beside the assumed ones, and the verdict on the assumed close rate."""
    versions = sorted({row.model_version for row in report.rows})
    several = len(versions) > 1
    title = "Measured impact, 95 % intervals" + ("" if several or not versions else f" (model version {versions[0]})")
    table = Table(title=title)
    columns = [("version", "right")] if several else []
    columns += [
        ("segment", "left"), ("arm", "left"), ("exposed", "right"), ("won", "right"), ("lost", "right"),
        ("open", "right"), ("close rate", "right"), ("assumed", "right"), ("verdict", "left"), ("deal size", "right"),
        ("assumed", "right"), ("revenue / lead", "right"),
    ]  # fmt: skip
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in report.rows:
        table.add_row(
            *((str(row.model_version),) if several else ()),
            f"{row.segment_id} {row.segment_name}",
            row.arm,
            f"{row.exposed:,}",
            f"{row.won:,}",
            f"{row.lost:,}",
            f"{row.open:,}",
            _rate(row.close_rate, row.close_rate_ci),
            f"{row.assumed_close_rate:.1%}",
            row.verdict,
            _money(row.avg_deal_size, row.avg_deal_size_ci),
            money(row.assumed_avg_deal_size),
            _money(row.revenue_per_lead, row.revenue_per_lead_ci),
        )
    return table


def lift_line(lift: LiftFigures, min_matured: int) -> str:
    """The measured lift, or why there is none.

    Examples:
        >>> lift_line(LiftFigures(segmented_matured=12, holdout_matured=3, segmented_revenue_per_lead=None,
        ...     holdout_revenue_per_lead=None, lift_pct=None, lift_pct_ci=None, basis="too_few"), 30)
        'Measured lift: too_few (12 segmented and 3 holdout leads matured; 30 in each arm needed)'
    """
    label = "Measured lift" + (f" in {lift.segment_id} {lift.segment_name}" if lift.segment_id is not None else "")
    matured = f"{lift.segmented_matured:,} segmented and {lift.holdout_matured:,} holdout leads matured"
    if lift.basis == "too_few":
        return f"{label}: too_few ({matured}; {min_matured} in each arm needed)"
    if lift.lift_pct is None or lift.lift_pct_ci is None:
        return f"{label}: none, an arm won nothing ({matured})"
    low, high = lift.lift_pct_ci
    segmented, holdout = money(lift.segmented_revenue_per_lead or 0), money(lift.holdout_revenue_per_lead or 0)
    return (
        f"{label}: {lift.lift_pct:+.1f}% [{low:+.1f}%, {high:+.1f}%] in revenue per lead, {segmented} segmented "
        f"against {holdout} holdout ({matured})"
    )


def rests_on(report: ImpactReport) -> str:
    """What the figures rest on, in one line."""
    window = (
        f"an attribution window of {report.window_seconds / 86_400:g} days"
        if report.window_seconds is not None
        else "every outcome in the file (no exposure times offline)"
    )
    return (
        f"Rests on {report.leads:,} exposed leads, {report.matured:,} matured, {report.open:,} still open (left out), "
        f"{window}; {report.unattributed:,} outcomes for leads never exposed (unattributed)."
    )
