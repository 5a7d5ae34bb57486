"""What `SEGMENTER_TRANSITION_MARGIN` does, for choosing its default: on planted populations, a model is refitted
on the same population (promoted, every segment kept), the same leads are assigned again, and for each margin it
counts the leads that still change segment (boundary moves: no lead changed), the planted movers (leads re-sent
with another group's features) held back, and the share of leads within the margin of a boundary (whose segment
then depends on where they were before); and what assigning a batch costs in-process when every lead has a
previous segment (its nearest: no transitions)."""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.events import LeadEvent  # noqa: E402
from models.strategies import StrategyConfig  # noqa: E402
from models.training import fit_model, refit_model  # noqa: E402
from segmentation.synthetic import generate_leads  # noqa: E402
from streams.clients.records import LeadMessage
from streams.model_plane.serving import ServingModel
from streams.routing.assign import assign
from streams.routing.decode import decode
from tests.populations import with_a_sixth_group  # noqa: E402

MARGINS = (0.0, 0.01, 0.02, 0.05, 0.1, 0.2)


def planted(n: int, seed: int, sixth: bool) -> np.ndarray:
    return with_a_sixth_group(n, seed) if sixth else generate_leads(n, random_state=seed).X


def one_population(seed: int, sixth: bool, n: int, movers: int) -> dict[str, object]:
    """Served model on one draw, refit on another of the same population, `n` leads routed under both."""
    k = 6 if sixth else 5
    served = fit_model(planted(3000, seed, sixth), config=StrategyConfig(), k=k, version=1, random_state=seed)[1]
    sample = planted(6000, seed + 100, sixth)
    refit, verdict = refit_model(sample, served, version=2, k=k)
    kinds = {e.kind for e in refit.lineage or ()}
    routed = planted(n, seed + 200, sixth)
    before = ServingModel(served).segmenter.predict(routed)
    after = ServingModel(refit)
    previous = np.array(served.segment_ids)[before]
    # Movers: the first `movers` leads take the features of a random lead the served model put in another segment.
    rng = np.random.default_rng(seed)
    other = np.array([rng.choice(np.flatnonzero(before != before[i])) for i in range(movers)])
    moved = routed.copy()
    moved[:movers] = routed[other]
    row = {"population": f"seed {seed}" + (", sixth group" if sixth else ""), "refit": verdict.promote}
    row["lineage"] = "all kept" if kinds == {"kept"} else ",".join(sorted(kinds))
    index = np.array([after.index_of.get(i, -1) for i in previous.tolist()])
    ids = np.array(refit.segment_ids)
    confidence = after.segmenter.assign(routed).confidence
    for margin in MARGINS:
        row[f"near {margin}"] = float((confidence <= margin / (1 + margin)).mean()) if margin else 0.0
        same = ids[after.segmenter.assign(routed, previous=index, margin=margin).segment]
        changed = ids[after.segmenter.assign(moved, previous=index, margin=margin).segment]
        row[f"moves {margin}"] = int((same != previous).sum())
        row[f"held {margin}"] = int((changed[:movers] == previous[:movers]).sum())
    return row


def cost(margins: tuple[float, ...], batches: int, rounds: int) -> dict[float, float]:
    """Median µs per lead of `streams.assign.assign` on batches of 1,000 leads that each have a previous segment,
    per margin, the margins timed in turn for `rounds` rounds (the machine may be shared)."""
    snapshot = fit_model(generate_leads(2000, random_state=1).X, config=StrategyConfig(), k=5, version=1)[1]
    model = ServingModel(snapshot)
    now = datetime.now(UTC)
    rows = generate_leads(1000, random_state=2).X
    messages = [
        LeadMessage("leads", 0, i, f"L{i}".encode(), LeadEvent.from_row(f"L{i}", row).model_dump_json().encode())
        for i, row in enumerate(rows)
    ]
    valid, _, X = decode(messages, 65536)
    nearest = model.segmenter.predict(X).tolist()
    previous = {lead.lead_id: snapshot.segment_ids[i] for (_, lead), i in zip(valid, nearest, strict=True)}
    timings: dict[float, list[float]] = {margin: [] for margin in margins}
    for _ in range(rounds):
        for margin in margins:
            assign(model, valid, previous, now, X, margin)  # caches filled
            started = time.process_time()
            for _ in range(batches):
                assign(model, valid, previous, now, X, margin)
            timings[margin].append((time.process_time() - started) / (len(valid) * batches) * 1e6)
    return {margin: statistics.median(times) for margin, times in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="leads routed per population")
    parser.add_argument("--movers", type=int, default=200, help="of them, leads re-sent with another group's features")
    parser.add_argument("--seeds", type=int, default=8, help="populations per kind (five groups; a sixth added)")
    parser.add_argument("--batches", type=int, default=100, help="batches of 1,000 leads timed per margin and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timing, the margins alternating")
    args = parser.parse_args()
    rows = [one_population(seed, sixth, args.n, args.movers) for sixth in (False, True) for seed in range(args.seeds)]
    print(
        f"{args.n:,} leads routed per population under the served model, then again under its refit on another "
        f"draw of the same population; {args.movers} of them re-sent with another segment's features (movers).\n"
    )
    print("Per margin: boundary moves / movers held back / share of leads within the margin of a boundary.\n")
    print("| population | refit | lineage | " + " | ".join(f"margin {m}" for m in MARGINS) + " |")
    print("|---|---|---|" + "---:|" * len(MARGINS))
    for row in rows:
        cells = " | ".join(f"{row[f'moves {m}']} / {row[f'held {m}']} / {row[f'near {m}']:.1%}" for m in MARGINS)
        print(f"| {row['population']} | {'promoted' if row['refit'] else 'rejected'} | {row['lineage']} | {cells} |")
    print(
        f"\nassign() with a previous segment (the nearest) for every lead: batches of 1,000 leads, {args.batches}"
        f" batches per margin in each of {args.rounds} alternating rounds; median CPU time:\n"
    )
    print("| margin | µs per lead |\n|---:|---:|")
    for margin, us in cost((0.0, 0.1), args.batches, args.rounds).items():
        print(f"| {margin} | {us:.2f} |")


if __name__ == "__main__":
    main()
