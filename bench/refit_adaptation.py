"""How a refit adapts to planted population changes: for each change (`segmentation.populations`), each mix of old
to new traffic in the refit sample and each seed, refit a model served on the five planted groups and say whether
it was right (`segmentation.adaptation.problems`: promoted, every surviving group under its id, the change named as
planted). Prints one row per change and mix, the refit's moved shares and time, and the problems seen.

Rerun: `.venv/bin/python bench/refit_adaptation.py --write-docs docs/refit-adaptation.md` (`--seeds N`, `--size N`).
"""

import argparse
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the `segmenter` command does

import numpy as np  # noqa: E402

from bench.kselect import write_docs  # noqa: E402
from models.snapshot import ModelSnapshot  # noqa: E402
from models.strategies import StrategyConfig  # noqa: E402
from models.training import fit_model, refit_model  # noqa: E402
from segmentation.adaptation import RefitOutcome, group_ids, problems  # noqa: E402
from segmentation.populations import CHANGES, changed_population, mixed_sample  # noqa: E402
from segmentation.synthetic import generate_leads  # noqa: E402

BEGIN, END = "<!-- refit-adaptation:begin -->", "<!-- refit-adaptation:end -->"
MIXES = (0.0, 0.2, 0.5, 0.8)
TARGET = 0.95


def served_model(size: int) -> tuple[ModelSnapshot, dict[int, int]]:
    """The model served before the change: fitted on the five planted groups, and each group's segment id."""
    leads = generate_leads(size, random_state=1)
    _, served = fit_model(leads.X, config=StrategyConfig(), version=1)
    ids = np.array(served.segment_ids)[served.to_segmenter().predict(leads.X)]
    return served, group_ids(leads.true_segment, ids)


def refit_once(
    served: ModelSnapshot, groups: dict[int, int], kind: str, mix: float, size: int, seed: int
) -> dict[str, Any]:
    change = changed_population(kind)  # type: ignore[arg-type]
    sample = mixed_sample(change, mix, size, random_state=seed)
    started = time.perf_counter()
    candidate, verdict = refit_model(sample.X, served, version=2, k=None, random_state=seed)
    seconds = time.perf_counter() - started
    ids = np.array(candidate.segment_ids)[candidate.to_segmenter().predict(sample.X)]
    steps = {
        e.segment_id: (e.kind, tuple(e.from_), tuple(e.into), tuple(e.absorbed or ())) for e in candidate.lineage or []
    }
    outcome = RefitOutcome(verdict.promote, steps, groups, group_ids(sample.true_segment, ids))
    return {
        "problems": problems(change, mix, outcome),
        "k": len(candidate.segments),
        "moved": verdict.moved_share,
        "explained": verdict.moved_explained_share,
        "unexplained": verdict.moved_unexplained_share,
        "seconds": seconds,
        "reasons": verdict.reasons,
    }


def markdown(rows: list[dict[str, Any]], seeds: int, size: int) -> str:
    lines = [
        f"{seeds} seeds per row, {size:,} leads per refit sample (a fifth held out), served model fitted on 6,000 "
        "leads of the five planted groups; K chosen again on every refit.",
        "",
        "| change | old/new | right | K | moved | explained | unexplained | refit s (median) | problems seen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        runs = r["runs"]
        right = sum(not run["problems"] for run in runs)
        seen = Counter(p for run in runs for p in run["problems"])
        ks = Counter(run["k"] for run in runs)
        lines.append(
            f"| {r['kind']} | {r['mix'] * 100:.0f}/{100 - r['mix'] * 100:.0f} | {right}/{len(runs)} "
            f"| {', '.join(f'{k}×{n}' for k, n in sorted(ks.items()))} "
            f"| {statistics.median(run['moved'] for run in runs):.1%} "
            f"| {statistics.median(run['explained'] for run in runs):.1%} "
            f"| {statistics.median(run['unexplained'] for run in runs):.1%} "
            f"| {statistics.median(run['seconds'] for run in runs):.1f} "
            f"| {'; '.join(f'{p} ({n})' for p, n in seen.most_common(3)) or '–'} |"
        )
    runs = [run for r in rows for run in r["runs"]]
    right = sum(not run["problems"] for run in runs)
    seconds = sorted(run["seconds"] for run in runs)
    lines += [
        "",
        f"Right: {right} of {len(runs)} refits ({right / len(runs):.1%}; target {TARGET:.0%}). Refit time: median "
        f"{statistics.median(seconds):.1f} s, slowest {seconds[-1]:.1f} s.",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="refit samples per change and mix")
    parser.add_argument("--size", type=int, default=6_000, help="leads per refit sample")
    parser.add_argument("--changes", default=",".join(("same", *CHANGES)), help="comma-separated planted changes")
    parser.add_argument("--mixes", default=",".join(map(str, MIXES)), help="comma-separated shares of old traffic")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the refit-adaptation section of FILE")
    args = parser.parse_args()
    if args.seeds < 1 or args.size < 1_000:
        parser.error("--seeds must be at least 1 and --size at least 1000")
    served, groups = served_model(6_000)
    rows = []
    for kind in args.changes.split(","):
        mixes = [0.0] if kind == "same" else [float(m) for m in args.mixes.split(",")]
        for mix in mixes:
            runs = []
            for seed in range(args.seeds):
                runs.append(refit_once(served, groups, kind, mix, args.size, 100 + seed))
                print(f"{kind} {mix:.1f} seed {seed}: {runs[-1]['problems'] or 'right'} "
                      f"({runs[-1]['seconds']:.1f} s) {runs[-1]['reasons']}", file=sys.stderr, flush=True)  # fmt: skip
            rows.append({"kind": kind, "mix": mix, "runs": runs})
    table = markdown(rows, args.seeds, args.size)
    print(table)
    if args.write_docs is not None:
        write_docs(args.write_docs, table, BEGIN, END)
        print(f"\nwrote {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
