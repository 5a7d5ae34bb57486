"""`segmenter`: generate leads, fit segments, assign new leads, write reports, run the demo."""

import json
import math
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from models.exceptions import ConfigError
from models.k_range import MAX_K, MIN_K
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.features import FEATURES, HEAVY_TAILED
from segmentation.holdout import MAX_HOLDOUT_SHARE, HoldoutDraw
from segmentation.synthetic import generate_leads
from segmenter import leads_io
from segmenter.app import DropInvalid, Quiet, Seed, app, user_errors
from segmenter.console import err, out, print_fit, steps, warn_dropped
from segmenter.exceptions import InputFileError, OptionError
from segmenter.file_formats import check_output, check_output_folder, write_table
from segmenter.pipeline import analyze, measure_pca_speedup, summary
from segmenter.report import write_report

__all__ = ["assign", "fit", "generate", "report"]

LEAD_FILES = (".csv", ".jsonl", ".parquet", ".ndjson", ".tsv")


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


def _fit_sizes(path: Path, table: leads_io.LeadTable, k: int | None, max_k: int, pca: float | None) -> int:
    """Refuse a fit the leads are too few for, in one line naming the file; return the largest K to score."""
    n, distinct = len(table), len(np.unique(table.X, axis=0))
    have = f"{path} has {n:,} valid lead{'s' if n != 1 else ''}" + (f" ({distinct} distinct)" if distinct < n else "")
    if k is not None and distinct < k:
        raise InputFileError(f"{have}: --k {k} needs at least {k} distinct leads; add leads or give a smaller --k")
    if k is None and distinct < 3:
        fix = "give --k 2, or add leads" if distinct == 2 else "add leads"
        raise InputFileError(f"{have}: choosing K needs at least 3 distinct leads; {fix}")
    if pca is not None and pca >= 1 and pca > n:
        raise InputFileError(f"{have}: --pca {pca:g} components need at least {pca:g} leads; give fewer components")
    return min(max_k, distinct - 1)


def _check_names(path: Path | None, config: StrategyConfig, k: int) -> None:
    """A `[names]` entry for a segment the fit does not have is a mistake, not something to ignore."""
    unknown = sorted(i for i in config.names if not 0 <= i < k)
    if unknown:
        listed = ", ".join(str(i) for i in unknown)
        raise ConfigError(
            f"{path}: [names] {listed}: no such segment; this fit has segments 0-{k - 1} (remove the entry, or fit "
            "with a larger --k)"
        )


def _read(path: Path, drop_invalid: bool) -> leads_io.LeadTable:
    table = leads_io.read_leads(path, drop_invalid=drop_invalid)
    warn_dropped(table)  # a warning, said with --quiet too
    return table


def _config(path: Path | None) -> StrategyConfig:
    if path is None:
        return StrategyConfig()
    if not path.is_file():
        raise ConfigError(f"{path}: {'is a folder, not' if path.is_dir() else 'no such'} strategies file (TOML)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text ({error.reason}); save it as UTF-8") from None
    try:
        return StrategyConfig.from_toml(text)
    except ConfigError as error:
        message = str(error).removeprefix("strategies file: ").removeprefix("strategies file ")
        raise ConfigError(f"{path}: {message} (see docs/batch.md, Names, strategies and impact)") from None


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
    out_file: Annotated[Path, typer.Option("--out", help="Where to write the leads (.csv, .jsonl or .parquet).")],
    n: Annotated[int, typer.Option("--n", min=1, max=10_000_000, help="How many leads.")] = 5000,
    seed: Seed = 0,
) -> None:
    """Write realistic synthetic leads with five planted segments and a `true_segment` column."""
    check_output(out_file, "--out", LEAD_FILES)
    leads = generate_leads(n, random_state=seed)
    ids = [f"L{i:07d}" for i in range(n)]
    truth = [leads.segment_names[t] for t in leads.true_segment]
    leads_io.write_leads(out_file, ids, leads.X, {"true_segment": truth})
    err.print(f"wrote {n:,} leads to {out_file}", highlight=False)


@app.command()
@user_errors
def fit(
    input_file: Annotated[
        Path,
        typer.Argument(metavar="LEADS_FILE", help="Leads: .csv, .jsonl or .parquet with lead_id and the 12 features."),
    ],
    model_out: Annotated[Path, typer.Option("--model-out", help="Where to write the model JSON.")],
    k: Annotated[
        int | None,
        typer.Option("--k", help=f"Number of segments, {MIN_K} to {MAX_K}; chosen if omitted.", show_default=False),
    ] = None,
    max_k: Annotated[int, typer.Option("--max-k", min=MIN_K, max=MAX_K, help="Largest K to consider.")] = 10,
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
    if k is not None and not MIN_K <= k <= MAX_K:
        raise OptionError(
            f"--k {k}: give {MIN_K} to {MAX_K} segments"
            + (
                "; one segment is one campaign for all leads, so there would be nothing to compare and no lift"
                if k == 1
                else ""
            )
        )
    pca_value = _pca(pca)
    logged = _log_features(log_features)
    config = _config(strategies)
    if k is not None:
        _check_names(strategies, config, k)
    check_output(model_out, "--model-out", example="model.json")
    if report_dir is not None:
        check_output_folder(report_dir, "--report-dir")
    table = _read(input_file, drop_invalid)
    max_k = _fit_sizes(input_file, table, k, max_k, pca_value)
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
        _check_names(strategies, config, model.n_clusters_)
        with progress.step("comparing with DBSCAN and hierarchical"):
            analysis = analyze(model, snapshot, table.X, random_state=seed)
        reduction = None
        if pca_value is not None:
            with progress.step("timing the fit with and without PCA"):
                reduction = measure_pca_speedup(model, table.X)
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
    model_file: Annotated[
        Path, typer.Argument(metavar="MODEL_FILE", help="Model JSON written by `segmenter fit --model-out`.")
    ],
    input_file: Annotated[
        Path, typer.Argument(metavar="LEADS_FILE", help="Leads to assign (.csv, .jsonl or .parquet).")
    ],
    out_file: Annotated[Path, typer.Option("--out", help="File to write: .csv, .jsonl or .parquet.")],
    holdout: Annotated[
        float,
        typer.Option(
            "--holdout",
            help=f"Share of leads (0 to {MAX_HOLDOUT_SHARE}, a stable hash of lead_id) put in the holdout arm, "
            "as SEGMENTER_HOLDOUT_SHARE does in the worker.",
        ),
    ] = 0.0,
    holdout_salt: Annotated[
        str, typer.Option("--holdout-salt", help="Mixed into the hash, as SEGMENTER_HOLDOUT_SALT: a new one redraws.")
    ] = "",
    drop_invalid: DropInvalid = False,
    quiet: Quiet = False,
) -> None:
    """Assign each lead to its nearest segment, with distance, confidence, outlier flag and experiment arm."""
    if not 0 <= holdout <= MAX_HOLDOUT_SHARE:
        raise OptionError(f"--holdout {holdout}: give a share from 0 (no holdout) to {MAX_HOLDOUT_SHARE}")
    draw = HoldoutDraw(holdout, holdout_salt)
    check_output(out_file, "--out", LEAD_FILES)
    snapshot = leads_io.read_model(model_file)
    table = _read(input_file, drop_invalid)
    result = snapshot.to_segmenter().assign(table.X)
    ids = snapshot.segment_ids
    names = [s.name for s in snapshot.segments]
    features = snapshot.features
    write_table(
        out_file,
        {
            "lead_id": table.ids,
            "segment_id": [ids[i] for i in result.segment],
            "segment_name": [names[i] for i in result.segment],
            "distance": [round(float(v), 6) for v in result.distance],
            "confidence": [round(float(v), 6) for v in result.confidence],
            "is_outlier": [bool(v) for v in result.is_outlier],
            "top_features": [";".join(features[j] for j in row) for row in result.top_features],
            "arm": [draw.arm(lead_id) for lead_id in table.ids],
        }
        | table.extra,
    )
    if not quiet:
        err.print(f"assigned {len(table):,} leads to {len(ids)} segments; wrote {out_file}", highlight=False)


@app.command()
@user_errors
def report(
    model_file: Annotated[
        Path, typer.Argument(metavar="MODEL_FILE", help="Model JSON written by `segmenter fit --model-out`.")
    ],
    input_file: Annotated[
        Path, typer.Argument(metavar="LEADS_FILE", help="Leads to describe (.csv, .jsonl or .parquet).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for index.html and the PNGs (created).")],
    seed: Seed = 0,
    drop_invalid: DropInvalid = False,
    quiet: Quiet = False,
) -> None:
    """Write an HTML report with plots: scores per K, PCA scatter, profiles, sizes, DBSCAN."""
    check_output_folder(out_dir, "--out")
    snapshot = leads_io.read_model(model_file)
    table = _read(input_file, drop_invalid)
    if len(table) < 2:
        raise InputFileError(f"{input_file} has 1 valid lead: a report needs at least 2")
    with steps(quiet) as progress, progress.step("analysing and plotting"):
        analysis = analyze(snapshot.to_segmenter(), snapshot, table.X, random_state=seed)
        path = write_report(out_dir, snapshot, analysis)
    out.print(str(path), highlight=False)
