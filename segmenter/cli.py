"""`segmenter`: generate leads, fit segments, assign new leads, write reports, run the demo."""

import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from models.exceptions import ConfigError
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.features import FEATURES, HEAVY_TAILED
from segmentation.synthetic import generate_leads
from segmenter import leads_io
from segmenter.app import DropInvalid, Quiet, Seed, app, user_errors
from segmenter.console import err, out, print_fit, steps
from segmenter.exceptions import OptionError
from segmenter.pipeline import analyze, measure_pca_speedup, summary
from segmenter.report import write_report

__all__ = ["assign", "fit", "generate", "report"]


class Algorithm(StrEnum):
    auto = "auto"
    kmeans = "kmeans"
    minibatch = "minibatch"


def _pca(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not (number > 0 and math.isfinite(number)) or (number >= 1 and not number.is_integer()):
        raise OptionError(f"--pca {value}: give a whole component count >= 1 or a variance share in (0, 1)")
    return number


def _log_features(value: str | None) -> tuple[str, ...]:
    if value is None:
        return HEAVY_TAILED
    names = tuple(name.strip() for name in value.split(",") if name.strip() and value.strip() != "none")
    unknown = [name for name in names if name not in FEATURES]
    if unknown:
        raise OptionError(
            f"--log-features: unknown feature(s) {', '.join(unknown)}; the features are {', '.join(FEATURES)}"
        )
    return names


def _read(path: Path, drop_invalid: bool, quiet: bool) -> leads_io.LeadTable:
    table = leads_io.read_leads(path, drop_invalid=drop_invalid)
    if table.dropped and not quiet:
        reasons = ", ".join(f"{count} {reason}" for reason, count in table.dropped.most_common())
        err.print(f"dropped {sum(table.dropped.values())} invalid rows ({reasons})", highlight=False)
    return table


def _config(path: Path | None) -> StrategyConfig:
    if path is None:
        return StrategyConfig()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason})") from None
    return StrategyConfig.from_toml(text)


def _finite(value: Any) -> Any:
    """JSON has no NaN: an empty segment's statistics become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


@app.command()
@user_errors
def generate(
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the leads (.csv or .jsonl).")],
    n: Annotated[int, typer.Option("--n", min=1, max=10_000_000, help="How many leads.")] = 5000,
    seed: Seed = 0,
) -> None:
    """Write realistic synthetic leads with five planted segments and a `true_segment` column."""
    leads = generate_leads(n, random_state=seed)
    ids = [f"L{i:07d}" for i in range(n)]
    truth = [leads.segment_names[t] for t in leads.true_segment]
    leads_io.write_leads(out_file, ids, leads.X, {"true_segment": truth})
    err.print(f"wrote {n:,} leads to {out_file}", highlight=False)


@app.command()
@user_errors
def fit(
    input_file: Annotated[Path, typer.Argument(help="Leads: CSV or JSONL with lead_id and the 12 features.")],
    model_out: Annotated[Path, typer.Option("--model-out", help="Where to write the model JSON.")],
    k: Annotated[int | None, typer.Option("--k", min=1, max=50, help="Number of segments; chosen if omitted.")] = None,
    max_k: Annotated[int, typer.Option("--max-k", min=2, max=50, help="Largest K to consider.")] = 10,
    pca: Annotated[
        str | None, typer.Option("--pca", help="Reduce before clustering: components (5) or variance (0.92).")
    ] = None,
    log_features: Annotated[
        str | None,
        typer.Option(
            "--log-features", help="Comma-separated features to log-transform, or 'none' (default: counts and money)."
        ),
    ] = None,
    strategies: Annotated[Path | None, typer.Option("--strategies", help="TOML file of strategies and names.")] = None,
    report_dir: Annotated[Path | None, typer.Option("--report-dir", help="Also write the HTML report here.")] = None,
    algorithm: Annotated[
        Algorithm, typer.Option("--algorithm", help="K-Means, mini-batch, or auto (mini-batch above 50,000 leads).")
    ] = Algorithm.auto,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Model version (default: time in ms).")
    ] = None,
    seed: Seed = 0,
    drop_invalid: DropInvalid = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    quiet: Quiet = False,
) -> None:
    """Choose K, fit the segments, name them, attach strategies and write the model."""
    pca_value = _pca(pca)
    logged = _log_features(log_features)
    config = _config(strategies)
    table = _read(input_file, drop_invalid, quiet)
    with steps(quiet) as progress:
        scan = progress.step("choosing K", total=max_k - 1) if k is None else progress.step(f"fitting K={k}")
        with scan as bar:
            model, snapshot = fit_model(
                table.X,
                config=config,
                k=k,
                max_k=max_k,
                pca=pca_value,
                log_features=logged,
                algorithm=algorithm,
                random_state=seed,
                version=version,
                on_k=bar.advance,
            )
        with progress.step("comparing with DBSCAN and hierarchical"):
            analysis = analyze(model, snapshot, table.X, random_state=seed)
        reduction = None
        if pca_value is not None:
            with progress.step("timing the fit with and without PCA"):
                reduction = measure_pca_speedup(model, table.X)
        model_out.parent.mkdir(parents=True, exist_ok=True)
        model_out.write_text(snapshot.model_dump_json(indent=1), encoding="utf-8")
        report = None
        if report_dir is not None:
            with progress.step("writing the report"):
                report = write_report(report_dir, snapshot, analysis)
    if as_json:
        sys.stdout.write(json.dumps(_finite(summary(snapshot, analysis, reduction)), allow_nan=False) + "\n")
        return
    print_fit(snapshot, analysis, reduction)
    out.print(f"model written to {model_out}" + (f"; report at {report}" if report else ""), highlight=False)


@app.command()
@user_errors
def assign(
    model_file: Annotated[Path, typer.Argument(help="Model JSON written by `segmenter fit`.")],
    input_file: Annotated[Path, typer.Argument(help="Leads to assign (CSV or JSONL).")],
    out_file: Annotated[Path, typer.Option("--out", help="CSV to write.")],
    drop_invalid: DropInvalid = False,
    quiet: Quiet = False,
) -> None:
    """Assign each lead to its nearest segment, with distance, confidence and outlier flag."""
    snapshot = leads_io.read_model(model_file)
    table = _read(input_file, drop_invalid, quiet)
    result = snapshot.to_segmenter().assign(table.X)
    ids = snapshot.segment_ids
    names = [s.name for s in snapshot.segments]
    features = snapshot.features
    leads_io.write_csv(
        out_file,
        {
            "lead_id": table.ids,
            "segment_id": [ids[i] for i in result.segment],
            "segment_name": [names[i] for i in result.segment],
            "distance": [round(float(v), 6) for v in result.distance],
            "confidence": [round(float(v), 6) for v in result.confidence],
            "is_outlier": [bool(v) for v in result.is_outlier],
            "top_features": [";".join(features[j] for j in row) for row in result.top_features],
        }
        | table.extra,
    )
    if not quiet:
        err.print(f"assigned {len(table):,} leads to {len(ids)} segments; wrote {out_file}", highlight=False)


@app.command()
@user_errors
def report(
    model_file: Annotated[Path, typer.Argument(help="Model JSON written by `segmenter fit`.")],
    input_file: Annotated[Path, typer.Argument(help="Leads to describe (CSV or JSONL).")],
    out_dir: Annotated[Path, typer.Option("--out", help="Directory for index.html and the PNGs.")],
    seed: Seed = 0,
    drop_invalid: DropInvalid = False,
    quiet: Quiet = False,
) -> None:
    """Write an HTML report with plots: scores per K, PCA scatter, profiles, sizes, DBSCAN."""
    snapshot = leads_io.read_model(model_file)
    table = _read(input_file, drop_invalid, quiet)
    with steps(quiet) as progress, progress.step("analysing and plotting"):
        analysis = analyze(snapshot.to_segmenter(), snapshot, table.X, random_state=seed)
        path = write_report(out_dir, snapshot, analysis)
    out.print(str(path), highlight=False)
