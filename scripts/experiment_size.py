"""How many matured leads an experiment needs before its measured lift is useful: the sample-size table of
docs/experiments.md, worked out and then checked by simulation.

    python scripts/experiment_size.py [--runs 400] [--write]

For each planted lift and holdout share: the matured leads at which the lift's 95 % interval (the delta method on
the log ratio, as `segmenter impact` computes it) excludes 0 in 80 % of experiments, the simulated share of
experiments in which it did, and the typical width of the interval there. The holdout closes at the tutorial's
baseline (23 % for $12K deals); the segmented arm's lift comes from its close rate, deals the same size; deal sizes
are log-normal with sigma 0.5. `--write` replaces the table between the markers in docs/experiments.md.
"""

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm

from segmentation.outcome_stats import Moments, measured_lift

BASE_RATE, DEAL, SIGMA = 0.23, 12_000.0, 0.5
LIFTS = (0.10, 0.20, 0.50, 1.00)
SHARES = (0.05, 0.10, 0.20)
POWER, CONFIDENCE = 0.80, 0.95
BEGIN, END = "<!-- experiment-size:begin -->", "<!-- experiment-size:end -->"
DOC = Path(__file__).parents[1] / "docs" / "experiments.md"


def cv2(rate: float, sigma: float = SIGMA) -> float:
    """The squared coefficient of variation of revenue per lead: a deal's log-normal amount with probability `rate`,
    else 0.

    >>> round(cv2(0.23), 3)
    4.583
    """
    return math.exp(sigma**2) / rate - 1


def leads_needed(lift: float, share: float, base_rate: float = BASE_RATE) -> int:
    """Matured leads (both arms) for the lift's interval to exclude 0 with probability `POWER`.

    >>> leads_needed(0.5, 0.1)
    2333
    """
    z = norm.ppf(0.5 + CONFIDENCE / 2) + norm.ppf(POWER)
    per_lead = cv2(min(1.0, base_rate * (1 + lift))) / (1 - share) + cv2(base_rate) / share
    return math.ceil(z**2 * per_lead / math.log1p(lift) ** 2)


def _revenue(rng: np.random.Generator, n: int, rate: float) -> Moments:
    won = int(rng.binomial(n, rate))
    amounts = rng.lognormal(math.log(DEAL) - SIGMA**2 / 2, SIGMA, won)
    return Moments(n, float(amounts.sum()), float((amounts**2).sum()))


def simulate(lift: float, share: float, n: int, runs: int, seed: int) -> tuple[float, float]:
    """The share of `runs` experiments of `n` matured leads whose interval excludes 0, and the median interval's
    width in percentage points."""
    rng = np.random.default_rng(seed)
    held = round(n * share)
    excluded, widths = 0, []
    for _ in range(runs):
        found = measured_lift(_revenue(rng, n - held, BASE_RATE * (1 + lift)), _revenue(rng, held, BASE_RATE))
        if found.interval is not None:
            excluded += found.interval.low > 0
            widths.append(found.interval.high - found.interval.low)
    return excluded / runs, float(np.median(widths)) if widths else math.nan


def table(runs: int) -> str:
    lines = [
        "| true lift | holdout share | matured leads needed | of them in the holdout | interval excluded 0 "
        f"(simulated, {runs} runs) | median interval width |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for i, lift in enumerate(LIFTS):
        for j, share in enumerate(SHARES):
            n = leads_needed(lift, share)
            power, width = simulate(lift, share, n, runs, seed=100 * i + j)
            lines.append(
                f"| +{lift:.0%} | {share:.0%} | {n:,} | {round(n * share):,} | {power:.0%} | {width:.0f} points |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=400, help="simulated experiments per row")
    parser.add_argument("--write", action="store_true", help="replace the table in docs/experiments.md")
    args = parser.parse_args()
    rendered = table(args.runs)
    sys.stdout.write(rendered + "\n")
    if args.write:
        text = DOC.read_text()
        head, rest = text.split(BEGIN)
        _, tail = rest.split(END)
        DOC.write_text(f"{head}{BEGIN}\n{rendered}\n{END}{tail}")


if __name__ == "__main__":
    main()
