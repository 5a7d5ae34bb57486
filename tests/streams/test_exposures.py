"""The exposure recorder: each cell read once from the outputs as emitted (arm and assumed rates), batches kept while
Redis is down and recorded in order when it answers, the oldest dropped beyond the backlog."""

import asyncio
from collections.abc import Mapping, Sequence

import orjson

from streams.exceptions import ServiceUnavailableError
from streams.outcomes.exposures import ExposureRecorder
from streams.routing import Routed

STRATEGY = {
    "channel": "email",
    "message": "hi",
    "sales_resource": "SDR",
    "expected_close_rate": 0.3,
    "avg_deal_size": 9,
}
BASELINE = STRATEGY | {"expected_close_rate": 0.1, "avg_deal_size": 4}


def routed(lead: str, segment: int, arm: str) -> Routed:
    strategy = BASELINE if arm == "holdout" else STRATEGY
    value = {"lead_id": lead, "segment_id": segment, "segment_name": f"S{segment}", "strategy": strategy, "arm": arm}
    return Routed(lead, segment, None, orjson.dumps(value))


class FlakyAttribution:
    """Refuses while `down`; keeps what it recorded."""

    def __init__(self) -> None:
        self.down = False
        self.recorded: list[tuple[list[tuple[str, str]], dict[str, bytes], float]] = []

    async def expose(self, leads: Sequence[tuple[str, str]], meta: Mapping[str, bytes], now: float) -> int:
        if self.down:
            raise ServiceUnavailableError("Redis: down")
        self.recorded.append((list(leads), dict(meta), now))
        return len(leads)


def test_cells_carry_the_arm_and_the_strategy_as_emitted() -> None:
    attribution = FlakyAttribution()
    recorder = ExposureRecorder(attribution, clock=lambda: 5.0)  # type: ignore[arg-type]
    asyncio.run(recorder.record(3, [routed("a", 1, "segmented"), routed("b", 1, "holdout"), routed("c", 2, "holdout")]))
    [(leads, meta, now)] = attribution.recorded
    assert leads == [("a", "3:1:segmented"), ("b", "3:1:holdout"), ("c", "3:2:holdout")] and now == 5.0
    assert orjson.loads(meta["3:1:holdout"]) == {"segment_name": "S1", "close_rate": 0.1, "avg_deal_size": 4}
    assert orjson.loads(meta["3:1:segmented"]) == {"segment_name": "S1", "close_rate": 0.3, "avg_deal_size": 9}


def test_batches_wait_for_redis_in_order_and_the_oldest_go_beyond_the_backlog() -> None:
    attribution = FlakyAttribution()
    times = iter(range(100))
    recorder = ExposureRecorder(attribution, backlog=4, clock=lambda: float(next(times)))  # type: ignore[arg-type]

    async def run() -> None:
        attribution.down = True
        for batch in range(4):  # 3 leads each: 12 waiting, the backlog 4
            await recorder.record(1, [routed(f"{batch}-{i}", 0, "segmented") for i in range(3)])
        attribution.down = False
        await recorder.record(1, [routed("after", 0, "segmented")])

    asyncio.run(run())
    assert [[lead for lead, _ in leads] for leads, _, _ in attribution.recorded] == [
        ["3-0", "3-1", "3-2"],  # the newest batch kept while down (4 leads at most: one batch of 3)
        ["after"],
    ]
    assert [now for _, _, now in attribution.recorded] == [3.0, 4.0]  # each batch keeps its own exposure time
