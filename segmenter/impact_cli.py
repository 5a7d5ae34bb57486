"""`segmenter impact`: the measured impact from the tallies the workers keep in Redis, or with `MODEL ASSIGNED
OUTCOMES` from files, for teams that export their CRM's outcomes."""

import asyncio
import sys
from pathlib import Path
from typing import Annotated, NamedTuple

import typer

from models.calibration import PRIOR_LEADS, calibrated_config, strategies_toml
from models.impact_report import ImpactReport, impact_report
from models.snapshot import ModelSnapshot
from segmentation.tallies import Cell
from segmenter import leads_io
from segmenter.app import DropInvalid, app, user_errors
from segmenter.console import err, out
from segmenter.exceptions import OptionError
from segmenter.file_formats import check_output
from segmenter.impact_online import online_impact
from segmenter.impact_table import impact_table, lift_line, rests_on
from segmenter.outcome_files import read_exposures, read_outcomes, tally
from segmenter.service_options import SERVICES_HELP, RedisUrl, service_errors, service_settings

__all__ = ["impact"]


@app.command(epilog=SERVICES_HELP)
@user_errors
def impact(
    model_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[MODEL_FILE", help="Model JSON the leads were assigned with (none: the workers' tallies)."
        ),
    ] = None,
    assigned_file: Annotated[
        Path | None,
        typer.Argument(metavar="ASSIGNED_FILE", help="What `segmenter assign` wrote (lead_id, segment_id, arm)."),
    ] = None,
    outcomes_file: Annotated[
        Path | None,
        typer.Argument(
            metavar="OUTCOMES_FILE]", help="CRM outcomes: outcome_id, lead_id, outcome (won|lost|reopened), amount."
        ),
    ] = None,
    version: Annotated[
        int | None,
        typer.Option("--version", help="Only this model version (offline: the model file's; online: the current one)."),
    ] = None,
    window_closed: Annotated[
        bool,
        typer.Option("--window-closed", help="Every lead's window has closed: a lead with no outcome counts as lost."),
    ] = False,
    write_strategies: Annotated[
        Path | None,
        typer.Option("--write-strategies", help="Write a strategies file of calibrated close rates and deal sizes."),
    ] = None,
    prior_leads: Annotated[
        float, typer.Option("--prior-leads", min=0, help="What the assumed rates weigh in calibration, in leads.")
    ] = PRIOR_LEADS,
    drop_invalid: DropInvalid = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as one JSON object on stdout.")] = False,
    redis: RedisUrl = None,
) -> None:
    """Observed close rates, deal sizes and revenue per lead against the assumed, and the measured lift of the
    segmented arm over the holdout, with 95 % intervals: from the outcomes the workers counted in Redis, or from
    three files."""
    if write_strategies is not None:
        check_output(write_strategies, "--write-strategies", (".toml",))
    files = (model_file, assigned_file, outcomes_file)
    if not any(files):
        _online(version, write_strategies, prior_leads, as_json, redis)
        return
    if model_file is None or assigned_file is None or outcomes_file is None:
        raise OptionError(
            "give all three files (MODEL_FILE ASSIGNED_FILE OUTCOMES_FILE), or none for the workers' tallies"
        )
    snapshot = leads_io.read_model(model_file)
    if version is not None and version != snapshot.version:
        raise OptionError(f"--version {version}: {model_file} is model version {snapshot.version}")
    exposures = read_exposures(assigned_file)
    outcomes = read_outcomes(outcomes_file, drop_invalid=drop_invalid)
    if outcomes.dropped:
        reasons = ", ".join(f"{n} {why}" for why, n in outcomes.dropped.most_common())
        err.print(f"dropped {sum(outcomes.dropped.values())} invalid outcome rows ({reasons})", highlight=False)
    counted = tally(snapshot, exposures, outcomes.rows, window_closed=window_closed)
    report = impact_report(counted.cells, counted.unattributed, None, version)
    currency = f" Amounts in {outcomes.currency}." if outcomes.currency else ""
    duplicates = f" {counted.duplicates:,} repeated outcome ids counted once." if counted.duplicates else ""
    calibration = _Calibration(write_strategies, snapshot, counted.cells, prior_leads, outcomes_file.name)
    _show(report, as_json, calibration, duplicates + currency)


class _Calibration(NamedTuple):
    """Where `--write-strategies` writes, and what from: the model, its cells, the prior's weight, the source."""

    path: Path | None
    model: ModelSnapshot
    cells: list[Cell]
    prior_leads: float
    source: str


def _online(
    version: int | None, write_strategies: Path | None, prior_leads: float, as_json: bool, redis: str | None
) -> None:
    """The report on the tallies the workers keep in Redis."""
    settings = service_settings(None, redis)
    with service_errors(settings):
        found = asyncio.run(online_impact(settings, version))
    if write_strategies is not None and found.model is None:
        raise OptionError("--write-strategies: no model published in Redis to calibrate against")
    calibration = (
        _Calibration(write_strategies, found.model, found.cells, prior_leads, "the workers' tallies")
        if found.model is not None
        else None
    )
    _show(found.report, as_json, calibration)


def _show(report: ImpactReport, as_json: bool, calibration: _Calibration | None, notes: str = "") -> None:
    """Write the calibrated strategies if asked, then print the report (a table and its lifts, or JSON)."""
    path = calibration.path if calibration else None
    if calibration is not None and path is not None:
        config = calibrated_config(calibration.model, calibration.cells, calibration.prior_leads)
        note = (
            f"Written by `segmenter impact` from {calibration.source}: close rates and deal sizes measured on "
            f"{report.matured:,} matured leads,\nshrunk toward model {calibration.model.version}'s assumed ones "
            f"(a prior worth {calibration.prior_leads:g} leads)."
        )
        path.write_text(strategies_toml(config, note), encoding="utf-8")
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
        return
    out.print(impact_table(report))
    for lift in (report.lift, *report.segment_lifts):
        out.print(lift_line(lift, report.min_matured), highlight=False)
    out.print(rests_on(report) + notes, highlight=False)
    if path is not None:
        out.print(f"calibrated strategies written to {path}", highlight=False)
