"""The holdout's cost on the hot path: `assign` (streams/routing/assign.py) of the same batches with no holdout, with
the default 5 % holdout and with a 50 % one, CPU time per lead, runs alternating.

    .venv/bin/python bench/holdout_cost.py [--batch 500] [--batches 40] [--runs 7]

Prints per setting the minimum and median over runs of the microseconds per lead, and the 5 % holdout's extra cost
against none. CPU time per lead (`time.process_time`) moves less than wall time on a shared machine.
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.events import LeadEvent  # noqa: E402
from models.strategies import StrategyConfig  # noqa: E402
from models.training import fit_model  # noqa: E402
from segmentation.holdout import HoldoutDraw  # noqa: E402
from segmentation.synthetic import generate_leads  # noqa: E402
from streams.clients.records import LeadMessage  # noqa: E402
from streams.model_plane.serving import ServingModel  # noqa: E402
from streams.routing.assign import assign  # noqa: E402
from streams.routing.decode import decode  # noqa: E402

SETTINGS = {"none": None, "5 %": HoldoutDraw(0.05, "bench"), "50 %": HoldoutDraw(0.5, "bench")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    model = ServingModel(fit_model(generate_leads(3000, random_state=0).X, config=StrategyConfig(), k=5, version=1)[1])
    X = generate_leads(args.batch * args.batches, random_state=1).X
    raws = [
        LeadMessage("leads", 0, i, f"L{i}".encode(), LeadEvent.from_row(f"L{i}", row).model_dump_json().encode())
        for i, row in enumerate(X)
    ]
    batches = [decode(raws[i : i + args.batch], 4096) for i in range(0, len(raws), args.batch)]
    now = datetime.now(UTC)
    per_lead: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.runs):
        for name, draw in SETTINGS.items():
            start = time.process_time()
            for valid, _, features in batches:
                assign(model, valid, {}, now, features, holdout=draw)
            per_lead[name].append((time.process_time() - start) / len(raws) * 1e6)
    print(f"assign, {args.batch}-lead batches, {len(raws):,} leads a run, {args.runs} runs: CPU µs per lead")
    for name, values in per_lead.items():
        print(f"  holdout {name:>4}: min {min(values):.2f}, median {statistics.median(values):.2f}")
    extra = statistics.median(per_lead["5 %"]) - statistics.median(per_lead["none"])
    print(f"the 5 % holdout adds {extra:+.2f} µs per lead (medians)")


if __name__ == "__main__":
    main()
