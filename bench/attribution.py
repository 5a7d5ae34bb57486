"""Attribution in Redis (issue 19): memory per million leads, and outcomes counted per second, against a fresh
embedded Valkey (or `--redis URL`).

Memory: a million leads recorded as exposed through `Attribution.expose` in batches of 1,000 (as the worker records
a routed batch), then one outcome for `--outcome-share` of them (its id remembered, its lead's record rewritten),
`used_memory` read before, between and after; the server's time per script call from `INFO commandstats`.
Speed: `OutcomeIntake.take` on batches of 1,000 outcome messages (JSON validated as the worker does it, then one
script call per batch), each for an exposed lead; the dead-letter outbox is never called (no bad outcome). Prints
one JSON object and a markdown table.

Rerun: `.venv/bin/python bench/attribution.py`.
"""

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import orjson  # noqa: E402

from models.settings import Settings  # noqa: E402
from streams.clients import LeadMessage, Outbox, Outgoing, RedisClient, RedisHealth, redis_client  # noqa: E402
from streams.local.services import start_redis  # noqa: E402
from streams.outcomes import Attribution, OutcomeIntake, cell_key  # noqa: E402

BATCH = 1_000
META = orjson.dumps({"segment_name": "SMB Quick Closers", "close_rate": 0.62, "avg_deal_size": 5_000})


class _NoOutbox(Outbox):
    async def deliver(self, messages: list[Outgoing]) -> list[BaseException | None]:
        raise AssertionError("no outcome of the benchmark is dead-lettered")


async def _script_usec(client: RedisClient) -> float:
    """The server's time per script call (of `BATCH` leads or outcomes) since its statistics were reset."""
    stats = await client.info("commandstats")
    return float(stats["cmdstat_evalsha"]["usec_per_call"])


def lead_id(i: int) -> str:
    return str(uuid.UUID(int=i))  # a CRM's id: 36 characters


async def run(url: str, leads: int, share: float) -> dict[str, object]:
    settings = Settings(redis_url=url, redis_key_prefix=f"bench-{uuid.uuid4().hex[:8]}")  # type: ignore[arg-type]
    client = redis_client(settings)
    health = RedisHealth(client, timeout=60)
    attribution = Attribution(client, health, settings.redis_key_prefix, settings.attribution_window_seconds)
    cells = [cell_key(1, segment, arm) for segment in range(5) for arm in ("segmented", "holdout")]
    meta = {cell: META for cell in cells}
    server = await client.info("server")
    used = lambda: client.info("memory")  # noqa: E731
    before = int((await used())["used_memory"])
    await client.config_resetstat()
    started = time.perf_counter()
    for start in range(0, leads, BATCH):
        batch = [(lead_id(i), cells[i % len(cells)]) for i in range(start, min(start + BATCH, leads))]
        await attribution.expose(batch, meta, time.time())
    exposing = time.perf_counter() - started
    exposing_server = await _script_usec(client)
    exposed = int((await used())["used_memory"])
    await client.config_resetstat()
    intake = OutcomeIntake(settings, attribution, _NoOutbox())
    outcome_leads = list(range(0, leads, round(1 / share)))
    started, counted = time.perf_counter(), 0
    for start in range(0, len(outcome_leads), BATCH):
        part = outcome_leads[start : start + BATCH]
        raws = [
            LeadMessage(settings.outcomes_topic, 0, i, lead_id(i).encode(), orjson.dumps(
                {"outcome_id": f"sf-{i}", "lead_id": lead_id(i), "outcome": "won" if i % 3 else "lost",
                 "amount": 1_000.0 + i % 9_000, "currency": "USD"}))
            for i in part
        ]  # fmt: skip
        await intake.take(raws, [time.time()] * len(raws), lambda: False)
        counted += len(raws)
    settling = time.perf_counter() - started
    settling_server = await _script_usec(client)
    after = int((await used())["used_memory"])
    await client.delete(*[key async for key in client.scan_iter(f"{{{settings.redis_key_prefix}}}*")])
    await client.aclose()
    name = server.get("server_name", "redis").capitalize()
    return {
        "server": f"{name} {server.get('valkey_version', server['redis_version'])}",
        "leads": leads,
        "outcomes": counted,
        "exposure_bytes_per_million_leads": round((exposed - before) / leads * 1e6),
        "outcome_bytes_per_million_outcomes": round((after - exposed) / counted * 1e6),
        "exposures_per_second": round(leads / exposing),
        "outcomes_per_second": round(counted / settling),
        "server_ms_per_exposure_batch": round(exposing_server / 1000, 2),
        "server_ms_per_outcome_batch": round(settling_server / 1000, 2),
        "load_average_1m": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", help="redis://… of a server to use (default: a fresh embedded Valkey)")
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--outcome-share", type=float, default=0.3, help="share of the leads given an outcome")
    args = parser.parse_args()
    if args.redis:
        result = asyncio.run(run(args.redis, args.leads, args.outcome_share))
    else:
        with tempfile.TemporaryDirectory() as folder:
            redis = start_redis(Path(folder))
            try:
                result = asyncio.run(run(redis.url, args.leads, args.outcome_share))
            finally:
                redis.stop()
    print(json.dumps(result))  # noqa: T201
    mib = 1024 * 1024
    print(  # noqa: T201
        "\n| server | leads | exposures, per million leads | outcomes, per million outcomes "
        "| exposures recorded/s | outcomes counted/s | server time per batch of 1,000: exposures, outcomes |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {result['server']} | {result['leads']:,} | {result['exposure_bytes_per_million_leads'] / mib:.0f} MiB "
        f"| {result['outcome_bytes_per_million_outcomes'] / mib:.0f} MiB | {result['exposures_per_second']:,} "
        f"| {result['outcomes_per_second']:,} | {result['server_ms_per_exposure_batch']} ms, "
        f"{result['server_ms_per_outcome_batch']} ms |"
    )


if __name__ == "__main__":
    main()
