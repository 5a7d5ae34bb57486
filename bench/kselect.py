"""Benchmark K selection (K=2..10) on generated leads, against the naive loop, and print JSON and a table.

Rerun: `.venv/bin/python bench/kselect.py --write-docs docs/performance.md`. With `--seeds 5`, generate each
size with five seeds instead, fit each as `segmenter fit` does (seed `--fit-seed`, 0 by default) and score
every fit against the planted segments and full K-Means:
`.venv/bin/python bench/kselect.py --seeds 5 --sizes 1000000 --write-docs docs/performance.md`.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

# As the `segmenter` command does: OpenMP threads wait passively instead of spinning (before sklearn loads).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.cluster import KMeans, MiniBatchKMeans  # noqa: E402
from sklearn.metrics import adjusted_rand_score, silhouette_score  # noqa: E402

from segmentation.kmeans import fit_kmeans, squared_distances  # noqa: E402
from segmentation.preprocessing import LeadScaler  # noqa: E402
from segmentation.segmenter import LeadSegmenter  # noqa: E402
from segmentation.selection import find_optimal_clusters  # noqa: E402
from segmentation.synthetic import PLANTED_SEGMENTS, SyntheticLeads, generate_leads  # noqa: E402

PLANTED_K = len(PLANTED_SEGMENTS)
K_RANGE = range(2, 11)
NAIVE_SIZE = 50_000  # the naive loop's full silhouette is quadratic: never run it on more rows
TARGET_SECONDS, TARGET_SIZE, TARGET_SPEEDUP, TARGET_ARI = 60.0, 1_000_000, 10.0, 0.9
BEGIN, END = "<!-- kselect:begin -->", "<!-- kselect:end -->"
SEEDS_BEGIN, SEEDS_END = "<!-- kselect-seeds:begin -->", "<!-- kselect-seeds:end -->"
INTRO = f"""# Performance

How long choosing the number of segments K (2..10) takes on generated leads with {PLANTED_K} planted
segments, and how that compares with the naive loop (`KMeans(n_init=10)` plus an exact silhouette on
every row, for each K). "Choose K" is scaling plus `find_optimal_clusters`; "full fit" is
`LeadSegmenter(random_state=0).fit`, which also clusters every row. ARI compares the final labels with
the planted segments. Our timings are medians of repeated runs and the naive loop runs once. The
machine may be shared, so the 1-minute load average is recorded with each timing.

The section below is written by the benchmark; do not edit it by hand. To rerun:
`make bench` or `.venv/bin/python bench/kselect.py --write-docs docs/performance.md`.

{BEGIN}
{END}

Fits at every size: `--seeds 5 --sizes 1000000` generates the leads with five seeds and fits each as
`segmenter fit` does (seed 0), once per seed.

{SEEDS_BEGIN}
{SEEDS_END}
"""


def timed(function: Callable[[], Any], repeat: int) -> tuple[Any, float, list[float]]:
    """The result (seeded, so every run's is the same), the median and every run's wall-clock seconds."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(round(time.perf_counter() - start, 2))
    return result, statistics.median(seconds), seconds


def measure_size(leads: SyntheticLeads, seed: int, repeat: int) -> tuple[dict[str, Any], np.ndarray]:
    """Times scaling, `find_optimal_clusters` and the full `LeadSegmenter` fit; returns the scaled leads too."""
    load_before = os.getloadavg()[0]
    Z, scale_s, _ = timed(lambda: LeadScaler().fit_transform(leads.X), repeat)
    max_k = K_RANGE[-1]
    selection, select_s, select_runs = timed(lambda: find_optimal_clusters(Z, max_k=max_k, random_state=seed), repeat)
    model, fit_s, fit_runs = timed(lambda: LeadSegmenter(max_k=max_k, random_state=seed).fit(leads.X), repeat)
    row = {
        "leads": len(leads.X),
        "scale_s": scale_s,
        "select_s": select_s,
        "choose_k_s": round(scale_s + select_s, 2),
        "full_fit_s": fit_s,
        "select_runs_s": select_runs,
        "full_fit_runs_s": fit_runs,
        "k": selection.k,
        "silhouette_k": selection.silhouette_k,
        "fit_k": model.n_clusters_,
        "fit_algorithm": model.algorithm_,
        "ari": round(float(adjusted_rand_score(leads.true_segment, model.labels_)), 4),
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    return row, Z


def measure_naive(Z: np.ndarray, truth: np.ndarray, seed: int) -> dict[str, Any]:
    """The tutorial's loop: per K, KMeans with 10 restarts and the exact silhouette of all rows."""
    if len(Z) > NAIVE_SIZE:
        raise ValueError(f"the naive loop's silhouette is quadratic: refusing {len(Z)} rows")
    load_before = os.getloadavg()[0]
    silhouettes, labelings, seconds = {}, {}, {}
    for k in K_RANGE:
        start = time.perf_counter()
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(Z).labels_
        silhouettes[k] = float(silhouette_score(Z, labels))
        labelings[k], seconds[k] = labels, time.perf_counter() - start
        print(f"  naive K={k}: silhouette {silhouettes[k]:.4f} in {seconds[k]:.1f} s", file=sys.stderr)
    best = max(silhouettes, key=lambda k: silhouettes[k])
    return {
        "leads": len(Z),
        "seconds": round(sum(seconds.values()), 2),
        "k": best,
        "ari": round(float(adjusted_rand_score(truth, labelings[best])), 4),
        "silhouette_by_k": {k: round(s, 4) for k, s in silhouettes.items()},
        "seconds_by_k": {k: round(s, 2) for k, s in seconds.items()},
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }


def measure_seed(n: int, seed: int, fit_seed: int) -> dict[str, Any]:
    """Choose K and fit leads generated with `seed` (timed once), then score the labels against the planted
    segments, and the inertia against full K-Means and against one MiniBatchKMeans run (what fits used to be)."""
    leads = generate_leads(n, random_state=seed)
    load_before = os.getloadavg()[0]
    max_k = K_RANGE[-1]
    model, fit_s, _ = timed(lambda: LeadSegmenter(max_k=max_k, random_state=fit_seed).fit(leads.X), 1)
    Z, k = model.transform(leads.X), model.n_clusters_
    _, kmeans_s, _ = timed(lambda: fit_kmeans(Z, k, random_state=fit_seed), 1)
    load_after = os.getloadavg()[0]
    full = fit_kmeans(Z, k, random_state=fit_seed, algorithm="kmeans")
    single = MiniBatchKMeans(n_clusters=k, n_init=3, batch_size=4096, random_state=fit_seed).fit(Z).cluster_centers_
    single_labels = squared_distances(Z, single).argmin(axis=1)
    single_inertia = float(((Z - single[single_labels]) ** 2).sum())
    return {
        "leads": n,
        "seed": seed,
        "fit_seed": fit_seed,
        "choose_k_and_fit_s": fit_s,
        "fit_s": kmeans_s,
        "k": k,
        "fit_algorithm": model.algorithm_,
        "ari": round(float(adjusted_rand_score(leads.true_segment, model.labels_)), 4),
        "inertia_vs_kmeans": round(model.inertia_ / full.inertia, 5),
        "kmeans_ari": round(float(adjusted_rand_score(leads.true_segment, full.labels)), 4),
        "single_minibatch_ari": round(float(adjusted_rand_score(leads.true_segment, single_labels)), 4),
        "single_minibatch_inertia_vs_kmeans": round(single_inertia / full.inertia, 5),
        "load_avg_1min": [round(load_before, 2), round(load_after, 2)],
    }


def seed_targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for n in sorted({row["leads"] for row in rows}):
        mine = [row for row in rows if row["leads"] == n]
        worst_ari = min(row["ari"] for row in mine)
        slowest = max(row["choose_k_and_fit_s"] for row in mine)
        found += [
            {
                "target": f"ARI against the planted segments >= {TARGET_ARI:g} on every seed at {n:,} leads",
                "measured": f"lowest {worst_ari:.3f} over {len(mine)} seeds",
                "met": worst_ari >= TARGET_ARI,
            },
            {
                "target": f"choose K and fit {n:,} leads in under {TARGET_SECONDS:g} s on every seed",
                "measured": f"slowest {slowest:.1f} s",
                "met": slowest < TARGET_SECONDS,
            },
        ]
    return found


def targets(sizes: list[dict[str, Any]], naive: dict[str, Any] | None) -> list[dict[str, Any]]:
    found = []
    big = next((row for row in sizes if row["leads"] == TARGET_SIZE), None)
    if big is not None:
        found.append(
            {
                "target": f"choose K for {TARGET_SIZE:,} leads in under {TARGET_SECONDS:g} s",
                "measured": f"{big['choose_k_s']:.1f} s",
                "met": big["choose_k_s"] < TARGET_SECONDS,
            }
        )
    if naive is not None:
        found.append(
            {
                "target": f"at least {TARGET_SPEEDUP:g}x faster than the naive loop at {NAIVE_SIZE:,} leads",
                "measured": f"{naive['speedup']:.1f}x",
                "met": naive["speedup"] >= TARGET_SPEEDUP,
            }
        )
        found.append(
            {
                "target": "same recommended K as the naive loop",
                "measured": f"ours {naive['ours_k']}, naive {naive['k']}, planted {PLANTED_K}",
                "met": naive["ours_k"] == naive["k"],
            }
        )
    return found


def markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"Measured {env['date']} with Python {env['python']}, numpy {env['numpy']}, scikit-learn "
        f"{env['scikit_learn']}, {env['cpus']} CPUs, seed {report['seed']}, planted K = {PLANTED_K}. "
        f"Our timings are the median of {report['repeat']} runs; the naive loop runs once.",
        "",
        "| leads | scale s | select K s | choose K s | full fit s | K | silhouette-only K | fit | ARI | load 1 min |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for r in report["sizes"]:
        load = " → ".join(f"{x:.1f}" for x in r["load_avg_1min"])
        lines.append(
            f"| {r['leads']:,} | {r['scale_s']:.2f} | {r['select_s']:.2f} | {r['choose_k_s']:.2f} "
            f"| {r['full_fit_s']:.2f} | {r['k']} | {r['silhouette_k']} | {r['fit_algorithm']} "
            f"| {r['ari']:.3f} | {load} |"
        )
    naive = report["naive"]
    if naive is not None:
        load = " → ".join(f"{x:.1f}" for x in naive["load_avg_1min"])
        lines += [
            "",
            f"| on the same {naive['leads']:,} scaled leads | seconds | recommended K | ARI of the final labels |",
            "|---|---:|---:|---:|",
            f"| naive: KMeans(n_init=10) + full silhouette, K=2..10 (load {load}) | {naive['seconds']:.1f} "
            f"| {naive['k']} | {naive['ari']:.3f} |",
            f"| ours: `find_optimal_clusters` (ARI: `LeadSegmenter` fit) | {naive['ours_seconds']:.2f} "
            f"| {naive['ours_k']} | {naive['ours_ari']:.3f} |",
            "",
            "Naive silhouette by K: " + ", ".join(f"{k}: {s:.3f}" for k, s in naive["silhouette_by_k"].items()) + ".",
        ]
    if report["targets"]:
        lines += ["", "| target | measured | met |", "|---|---|---|"]
        lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in report["targets"]]
    return "\n".join(lines)


def seeds_markdown(report: dict[str, Any]) -> str:
    env = report["environment"]
    lines = [
        f"Measured {env['date']} with Python {env['python']}, numpy {env['numpy']}, scikit-learn "
        f"{env['scikit_learn']}, {env['cpus']} CPUs, planted K = {PLANTED_K}. Leads generated with each seed, "
        f"fitted as by `segmenter fit --seed {report['fit_seed']}`, each fit timed once. Choose K + fit: "
        "`LeadSegmenter(random_state=fit_seed).fit`; fit: `fit_kmeans` alone with the chosen K. Inertia is divided "
        "by that of full K-Means (`algorithm=kmeans`, 3 restarts) on the same leads. One MiniBatchKMeans: what "
        "fits ran before, a single `MiniBatchKMeans(n_init=3, batch_size=4096)` on every lead.",
        "",
        "| leads | leads' seed | choose K + fit s | fit s | K | fit | ARI | inertia ÷ K-Means "
        "| one MiniBatchKMeans: ARI | its inertia ÷ K-Means | load 1 min |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in report["seeds"]:
        load = " → ".join(f"{x:.1f}" for x in r["load_avg_1min"])
        lines.append(
            f"| {r['leads']:,} | {r['seed']} | {r['choose_k_and_fit_s']:.2f} | {r['fit_s']:.2f} | {r['k']} "
            f"| {r['fit_algorithm']} | {r['ari']:.3f} | {r['inertia_vs_kmeans']:.4f} "
            f"| {r['single_minibatch_ari']:.3f} | {r['single_minibatch_inertia_vs_kmeans']:.4f} | {load} |"
        )
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    lines += [f"| {t['target']} | {t['measured']} | {'yes' if t['met'] else 'no'} |" for t in report["targets"]]
    return "\n".join(lines)


def write_docs(path: Path, table: str, begin: str = BEGIN, end: str = END) -> None:
    """Replace the text between the markers, creating the file with its introduction if missing."""
    text = path.read_text() if path.exists() else INTRO
    if begin not in text or end not in text:
        text = f"{text.rstrip()}\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{head}{begin}\n{table}\n{end}{tail}")


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scikit_learn": sklearn.__version__,
        "cpus": os.cpu_count(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def run_seeds(sizes: list[int], seeds: list[int], fit_seed: int, docs: Path | None) -> None:
    rows = []
    for n in sizes:
        for seed in seeds:
            print(f"{n:,} leads, seed {seed}: choosing K and fitting", file=sys.stderr)
            rows.append(measure_seed(n, seed, fit_seed))
    report = {
        "planted_k": PLANTED_K,
        "fit_seed": fit_seed,
        "seeds": rows,
        "environment": environment(),
        "targets": seed_targets(rows),
    }
    table = seeds_markdown(report)
    print(json.dumps(report, indent=2))
    print()
    print(table)
    if docs is not None:
        write_docs(docs, table, SEEDS_BEGIN, SEEDS_END)
        print(f"\nwrote {docs}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=f"{NAIVE_SIZE},{TARGET_SIZE}", help="comma-separated lead counts")
    parser.add_argument("--skip-naive", action="store_true", help=f"skip the naive loop on {NAIVE_SIZE:,} leads")
    parser.add_argument("--seed", type=int, default=0, help="seed for the leads and every fit")
    parser.add_argument(
        "--seeds", type=int, metavar="N", help="generate each size with seeds --seed..--seed+N-1, fit and score each"
    )
    parser.add_argument(
        "--fit-seed", type=int, default=0, help="with --seeds: the fits' seed (segmenter fit's default)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing of ours (median shown); naive runs once")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the kselect section of FILE")
    args = parser.parse_args()
    try:
        sizes = [int(size) for size in args.sizes.split(",")]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    if any(size <= K_RANGE[-1] for size in sizes):
        parser.error(f"every size must exceed {K_RANGE[-1]} leads")
    if args.seeds is not None:
        if args.seeds < 1:
            parser.error(f"--seeds must be at least 1, got {args.seeds}")
        run_seeds(sizes, list(range(args.seed, args.seed + args.seeds)), args.fit_seed, args.write_docs)
        return
    if not args.skip_naive and NAIVE_SIZE not in sizes:
        parser.error(f"the naive loop runs on {NAIVE_SIZE:,} leads: add {NAIVE_SIZE} to --sizes or pass --skip-naive")

    rows, naive = [], None
    for n in sizes:
        print(f"{n:,} leads: choosing K and fitting", file=sys.stderr)
        leads = generate_leads(n, random_state=args.seed)
        row, Z = measure_size(leads, args.seed, args.repeat)
        rows.append(row)
        if n == NAIVE_SIZE and not args.skip_naive:
            print(f"{n:,} leads: naive loop", file=sys.stderr)
            naive = measure_naive(Z, leads.true_segment, args.seed)
            naive.update(ours_seconds=row["select_s"], ours_k=row["k"], ours_ari=row["ari"])
            naive["speedup"] = round(naive["seconds"] / row["select_s"], 1)
    report = {
        "planted_k": PLANTED_K,
        "seed": args.seed,
        "repeat": args.repeat,
        "k_range": [K_RANGE[0], K_RANGE[-1]],
        "sizes": rows,
        "naive": naive,
        "environment": environment(),
    }
    report["targets"] = targets(rows, naive)
    table = markdown(report)
    print(json.dumps(report, indent=2))
    print()
    print(table)
    if args.write_docs is not None:
        write_docs(args.write_docs, table)
        print(f"\nwrote {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
