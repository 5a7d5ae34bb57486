"""What a refit costs: `models.training.refit_model` (K chosen again, one BLAS thread) on samples of an unchanged and
of a replaced population, timed in a fresh process per refit at this checkout and, with --vs (repeatable), at other
commits (temporary git worktrees), alternating, median of --repeats. Each side fits its own served model (6,000 leads of
the five planted groups, as `bench/refit_adaptation.py`); both refit the same samples.

Rerun: `.venv/bin/python bench/refit_cost.py --vs f3d49eb --write-docs docs/refit-adaptation.md`
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT)]

import numpy as np  # noqa: E402

from bench.kselect import write_docs  # noqa: E402
from segmentation.populations import changed_population, mixed_sample  # noqa: E402

BEGIN, END = "<!-- refit-cost:begin -->", "<!-- refit-cost:end -->"
CASES = ((6_000, "same", 0.0), (6_000, "replaced", 0.2), (100_000, "same", 0.0), (100_000, "replaced", 0.2))

# Run in the tree being timed, with only names every version since refits existed has.
TIMED = """
import sys, time
import numpy as np
from threadpoolctl import threadpool_limits
from models.strategies import StrategyConfig
from models.training import fit_model, refit_model
from segmentation.synthetic import generate_leads
_, served = fit_model(generate_leads(6_000, random_state=1).X, config=StrategyConfig(), version=1)
X = np.load(sys.argv[1])
with threadpool_limits(limits=1):
    started = time.perf_counter()
    refit_model(X, served, version=2, k=None)
print(time.perf_counter() - started)
"""


def timed(tree: Path, sample: Path) -> float:
    env = os.environ | {"PYTHONPATH": str(tree), "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run(
        [sys.executable, "-c", TIMED, str(sample)], cwd=tree, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"refit at {tree} failed:\n{done.stderr[-2000:]}")
    return float(done.stdout.split()[-1])


def worktree(stack: ExitStack, commit: str) -> Path:
    path = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="refit-cost-"))) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit], check=True,
                   capture_output=True)  # fmt: skip
    stack.callback(subprocess.run, ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False)
    return path


def markdown(columns: list[str], seconds: dict[tuple[str, int], list[float]], repeats: int, load: float) -> str:
    lines = [
        f"Median of {repeats} refits per cell, each in a fresh process, the sides alternating; 1-minute load "
        f"{load:.1f} at the start and {os.getloadavg()[0]:.1f} at the end, {os.cpu_count()} cores.",
        "",
        "| leads in the sample | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    for i, (size, kind, mix) in enumerate(CASES):
        change = "same population" if kind == "same" else f"{kind} {mix * 100:.0f}/{100 - mix * 100:.0f}"
        case = f"{size:,}, {change}"
        cells = " | ".join(f"{statistics.median(seconds[column, i]):.1f} s" for column in columns)
        lines.append(f"| {case} | {cells} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vs", metavar="COMMIT", action="append", default=[], help="also time the refit at COMMIT")
    parser.add_argument("--repeats", type=int, default=2, help="refits per cell (default 2)")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the refit-cost section of FILE")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    load = os.getloadavg()[0]
    with ExitStack() as stack:
        trees = {f"at {commit}": worktree(stack, commit) for commit in args.vs} | {"this checkout": ROOT}
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="refit-cost-samples-")))
        seconds: dict[tuple[str, int], list[float]] = {(c, i): [] for c in trees for i in range(len(CASES))}
        for i, (size, kind, mix) in enumerate(CASES):
            sample = folder / f"{i}.npy"
            np.save(sample, mixed_sample(changed_population(kind), mix, size, random_state=100).X)  # type: ignore[arg-type]
            for repeat in range(args.repeats):
                for column, tree in trees.items():
                    seconds[column, i].append(timed(tree, sample))
                    print(f"{size:,} {kind} {column} #{repeat + 1}: {seconds[column, i][-1]:.1f} s", file=sys.stderr)
        table = markdown(list(trees), seconds, args.repeats, load)
    print(table)
    if args.write_docs is not None:
        write_docs(args.write_docs, table, BEGIN, END)
        print(f"\nwrote {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
