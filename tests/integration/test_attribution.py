"""Attribution in a real Redis-protocol server: outcomes drawn from planted close rates and deal sizes give exact
tallies; redelivered batches, reopened deals, unknown leads, outcomes after the window and windows that close."""

import asyncio
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import numpy as np
import orjson
import pytest

from models.settings import Settings
from streams.clients.redis_client import redis_client
from streams.clients.redis_health import RedisHealth
from streams.outcomes.attribution import Attribution, Outcome, Tallies, cell_key

T = TypeVar("T")
WINDOW = 1_000.0
T0 = math.floor(time.time() / WINDOW) * WINDOW  # the exposures' time: now's period boundary (keys expire in real time)
META = {
    cell_key(4, 1, "segmented"): orjson.dumps({"segment_name": "A", "close_rate": 0.6, "avg_deal_size": 5_000}),
    cell_key(4, 2, "segmented"): orjson.dumps({"segment_name": "B", "close_rate": 0.1, "avg_deal_size": 90_000}),
    cell_key(4, 2, "holdout"): orjson.dumps({"segment_name": "B", "close_rate": 0.2, "avg_deal_size": 10_000}),
}
TRUTH = {  # planted close rate and mean deal size per cell (B's assumptions wrong on purpose)
    cell_key(4, 1, "segmented"): (0.6, 5_000.0),
    cell_key(4, 2, "segmented"): (0.35, 20_000.0),
    cell_key(4, 2, "holdout"): (0.2, 10_000.0),
}


@pytest.fixture(params=["server", "cluster"])
def any_redis(request: pytest.FixtureRequest) -> str:
    """A single server's URL, then a three-node cluster's (every key under one hash tag: one slot)."""
    return str(request.getfixturevalue("redis_url" if request.param == "server" else "valkey_cluster"))


def with_attribution(redis_url: str, work: Callable[[Attribution], Awaitable[T]]) -> T:
    async def run() -> T:
        client = redis_client(Settings(redis_url=redis_url))  # type: ignore[arg-type]
        try:
            return await work(Attribution(client, RedisHealth(client, timeout=10), f"t-{uuid.uuid4().hex}", WINDOW))
        finally:
            await client.aclose()

    return asyncio.run(run())


def by_cell(tallies: Tallies) -> dict[str, tuple[int, int, int, int, float, float]]:
    return {
        cell_key(c.model_version, c.segment_id, c.arm): (c.exposed, c.won, c.lost, c.open, c.revenue, c.revenue_sq)
        for c in tallies.cells
    }


def test_planted_outcomes_give_exact_tallies_once_however_often_delivered(redis_url: str) -> None:
    rng = np.random.default_rng(19)
    leads = {f"L{i}": list(TRUTH)[i % 3] for i in range(3_000)}
    outcomes, expected = [], {cell: [0, 0, 0, 0, 0.0, 0.0] for cell in TRUTH}
    for lead, cell in leads.items():
        rate, size = TRUTH[cell]
        expected[cell][0] += 1
        if rng.random() < 0.25:  # no result yet: open
            expected[cell][3] += 1
        elif rng.random() < rate:
            amount = round(float(rng.exponential(size)), 2)
            outcomes.append(Outcome(f"o-{lead}", lead, "won", amount, T0 + 10))
            expected[cell][1] += 1
            expected[cell][4] += amount
            expected[cell][5] += amount * amount
        else:
            outcomes.append(Outcome(f"o-{lead}", lead, "lost", 0.0, T0 + 10))
            expected[cell][2] += 1

    async def work(attribution: Attribution) -> tuple[int, int, list[str], Tallies]:
        pairs = list(leads.items())
        first = await attribution.expose(pairs, META, T0)
        again = await attribution.expose(pairs[:500], META, T0 + 1)  # routed again: still their first exposure
        statuses = []
        for start in range(0, len(outcomes), 700):
            statuses += await attribution.settle(outcomes[start : start + 700], now=T0 + 20)
        replayed = await attribution.settle(outcomes[:1_000], now=T0 + 20)  # a crash before the commit, say
        assert set(replayed) == {"duplicate"}
        return first, again, statuses, await attribution.tallies(now=T0 + 30)

    first, again, statuses, tallies = with_attribution(redis_url, work)
    assert (first, again) == (3_000, 0)
    assert sorted(set(statuses)) == ["lost", "won"]
    found = by_cell(tallies)
    for cell, (exposed, won, lost, open_, revenue, revenue_sq) in expected.items():
        assert found[cell][:4] == (exposed, won, lost, open_)
        assert abs(found[cell][4] - revenue) < 1e-6 * max(revenue, 1)
        assert abs(found[cell][5] - revenue_sq) < 1e-6 * max(revenue_sq, 1)
    cells = {cell_key(c.model_version, c.segment_id, c.arm): c for c in tallies.cells}
    assert cells[cell_key(4, 2, "holdout")].assumed_close_rate == 0.2
    assert cells[cell_key(4, 1, "segmented")].segment_name == "A"


def test_reopened_retracts_until_a_new_result_and_strangers_are_counted(any_redis: str) -> None:
    cell = cell_key(4, 1, "segmented")

    async def work(attribution: Attribution) -> list[tuple[list[str], tuple[int, ...]]]:
        await attribution.expose([("a", cell), ("b", cell)], META, T0)
        steps = [
            [Outcome("1", "a", "won", 100.0, T0 + 5), Outcome("2", "b", "lost", 0.0, T0 + 5)],
            [Outcome("3", "a", "reopened", 0.0, T0 + 6)],
            [Outcome("4", "a", "lost", 0.0, T0 + 7), Outcome("5", "stranger", "won", 9.0, T0 + 7)],
            [Outcome("6", "b", "won", 40.0, T0 + 8)],  # a new result replaces the old one
        ]
        seen = []
        for step in steps:
            statuses = await attribution.settle(step, now=T0 + 10)
            tallies = await attribution.tallies(now=T0 + 10)
            seen.append((statuses, (*by_cell(tallies)[cell], tallies.unattributed)))
        return seen

    seen = with_attribution(any_redis, work)
    assert seen == [
        (["won", "lost"], (2, 1, 1, 0, 100.0, 10_000.0, 0)),
        (["reopened"], (2, 0, 1, 1, 0.0, 0.0, 0)),
        (["lost", "unattributed"], (2, 0, 2, 0, 0.0, 0.0, 1)),
        (["won"], (2, 1, 1, 0, 40.0, 1_600.0, 1)),
    ]


def test_a_closed_window_counts_as_lost_and_a_later_outcome_is_not_attributed(redis_url: str) -> None:
    cell = cell_key(4, 1, "segmented")

    async def work(attribution: Attribution) -> tuple[Tallies, Tallies, list[str], int, Tallies]:
        await attribution.expose([("a", cell), ("b", cell), ("c", cell)], META, T0)
        open_ = await attribution.tallies(now=T0 + WINDOW / 2)
        closed = await attribution.tallies(now=T0 + WINDOW * 1.1)
        late = await attribution.settle([Outcome("x", "a", "won", 5.0, T0 + WINDOW * 1.1)], now=T0 + WINDOW * 1.1)
        # routed again after its window closed: a new first exposure, which a new outcome belongs to
        again = await attribution.expose([("a", cell)], META, T0 + WINDOW * 1.2)
        await attribution.settle([Outcome("y", "a", "won", 7.0, T0 + WINDOW * 1.3)], now=T0 + WINDOW * 1.3)
        return open_, closed, late, again, await attribution.tallies(now=T0 + WINDOW * 1.3)

    open_, closed, late, again, later = with_attribution(redis_url, work)
    assert by_cell(open_)[cell][:4] == (3, 0, 0, 3)
    assert by_cell(closed)[cell][:4] == (3, 0, 3, 0)
    assert late == ["after_window"] and closed.after_window == 0
    assert again == 1
    assert by_cell(later)[cell][:4] == (
        4,
        1,
        3,
        0,
    )  # a's first exposure closed without a result and later.after_window == 1
