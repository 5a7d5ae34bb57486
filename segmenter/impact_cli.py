"""`segmenter impact MODEL ASSIGNED OUTCOMES`: the measured impact from files, for teams that export their CRM's
outcomes (the worker's own tallies are issue 19's streaming side)."""

import sys
from pathlib import Path
from typing import Annotated

import typer

from models.calibration import PRIOR_LEADS, calibrated_config, strategies_toml
from models.impact_report import impact_report
from segmenter import leads_io
from segmenter.app import DropInvalid, app, user_errors
from segmenter.console import err, out
from segmenter.exceptions import OptionError
from segmenter.file_formats import check_output
from segmenter.impact_table import impact_table, lift_line, rests_on
from segmenter.outcome_files import read_exposures, read_outcomes, tally

__all__ = ["impact"]


@app.command()
@user_errors
def impact(
    model_file: Annotated[Path, typer.Argument(metavar="MODEL_FILE", help="Model JSON the leads were assigned with.")],
    assigned_file: Annotated[
        Path, typer.Argument(metavar="ASSIGNED_FILE", help="What `segmenter assign` wrote (lead_id, segment_id, arm).")
    ],
    outcomes_file: Annotated[
        Path,
        typer.Argument(
            metavar="OUTCOMES_FILE", help="CRM outcomes: outcome_id, lead_id, outcome (won|lost|reopened), amount."
        ),
    ],
    version: Annotated[
        int | None, typer.Option("--version", help="Only this model version (offline: the model file's).")
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
) -> None:
    """Observed close rates, deal sizes and revenue per lead against the assumed, and the measured lift of the
    segmented arm over the holdout, with 95 % intervals."""
    if write_strategies is not None:
        check_output(write_strategies, "--write-strategies", (".toml",))
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
    if write_strategies is not None:
        config = calibrated_config(snapshot, counted.cells, prior_leads)
        note = (
            f"Written by `segmenter impact` from {outcomes_file.name}: close rates and deal sizes measured on "
            f"{report.matured:,} matured leads,\nshrunk toward model {snapshot.version}'s assumed ones "
            f"(a prior worth {prior_leads:g} leads)."
        )
        write_strategies.write_text(strategies_toml(config, note), encoding="utf-8")
    if as_json:
        sys.stdout.write(report.model_dump_json() + "\n")
        return
    out.print(impact_table(report))
    for lift in (report.lift, *report.segment_lifts):
        out.print(lift_line(lift, report.min_matured), highlight=False)
    currency = f" Amounts in {outcomes.currency}." if outcomes.currency else ""
    duplicates = f" {counted.duplicates:,} repeated outcome ids counted once." if counted.duplicates else ""
    out.print(rests_on(report) + duplicates + currency, highlight=False)
    if write_strategies is not None:
        out.print(f"calibrated strategies written to {write_strategies}", highlight=False)
