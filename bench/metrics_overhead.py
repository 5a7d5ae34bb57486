"""What counting a routed batch costs (metrics and the dashboard's window, `Activity.routed`), per lead, beside
what routing it costs in-process (decode, assign, the outputs; no broker): the share the issue caps at 0.03."""

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.events import LeadEvent  # noqa: E402
from models.settings import Settings  # noqa: E402
from models.strategies import StrategyConfig  # noqa: E402
from models.training import fit_model  # noqa: E402
from segmentation.synthetic import generate_leads  # noqa: E402
from streams.clients.records import LeadMessage, Outgoing
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import InMemoryModelStore
from streams.operations.activity import Activity
from streams.routing.assign import assign
from streams.routing.decode import decode
from streams.routing.previous import InMemoryPreviousSegments
from streams.routing.router import BatchRouter, RoutedBatch


class NullOutbox:
    async def deliver(self, messages: list[Outgoing]) -> list[BaseException | None]:
        return [None] * len(messages)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1000, help="leads per batch")
    parser.add_argument("--batches", type=int, default=300, help="batches timed")
    args = parser.parse_args()
    snapshot = fit_model(generate_leads(2000, random_state=1).X, config=StrategyConfig(), k=5, version=1)[1]
    model = ServingModel(snapshot)
    now = datetime.now(UTC)
    rows = generate_leads(args.batch, random_state=2).X
    batch = [
        LeadMessage(
            "leads", i % 2, i, f"L{i}".encode(),
            LeadEvent.from_row(f"L{i}", row).model_copy(update={"occurred_at": now}).model_dump_json().encode(),
        )
        for i, row in enumerate(rows)
    ]  # fmt: skip
    valid, rejected, X = decode(batch, 65536)
    outputs = assign(model, valid, {}, now, X)
    activity = Activity()

    started = time.process_time()
    for _ in range(args.batches):
        activity.routed(RoutedBatch(len(batch), model, valid, outputs, rejected, [], X, time.time()))
    counting = (time.process_time() - started) / (args.batches * args.batch)

    holder = ModelHolder(InMemoryModelStore(), poll_seconds=3600)
    holder.model = model
    settings = Settings()

    async def route_all(router: BatchRouter) -> float:
        began = time.process_time()
        for _ in range(args.batches):
            await router.route(batch, lambda: False)
        return (time.process_time() - began) / (args.batches * args.batch)

    plain = BatchRouter(settings, holder, InMemoryPreviousSegments(), NullOutbox())
    counted = BatchRouter(settings, holder, InMemoryPreviousSegments(), NullOutbox(), [Activity().routed])
    without, with_ = asyncio.run(route_all(plain)), asyncio.run(route_all(counted))
    print(f"batches of {args.batch} leads, {args.batches} batches")
    print(f"Activity.routed:            {counting * 1e6:.3f} µs per lead")
    print(f"router without / with it:   {without * 1e6:.2f} / {with_ * 1e6:.2f} µs per lead (in-process, no broker)")
    print(f"counting / routing:         {counting / without:.4f}")


if __name__ == "__main__":
    main()
