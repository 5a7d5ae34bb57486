"""exactly_once's previous segments (`ReplaySafeSegments`): the cost per batch of 1,000 leads (half of them in the
batch before, half new) recalled and then remembered, as the exactly_once worker does, against a fresh embedded
Valkey; this checkout's Lua scripts against those of another commit (`--against`), alternating in one run. The
Python side is this checkout's in both, so the difference is the scripts'. Prints the wall time per batch.

Rerun: `.venv/bin/python bench/replay_safe_cost.py --against COMMIT`.
"""

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from models.settings import Settings  # noqa: E402
from streams.clients.records import LeadMessage  # noqa: E402
from streams.clients.redis_client import redis_client  # noqa: E402
from streams.clients.redis_health import RedisHealth  # noqa: E402
from streams.local.services import start_redis  # noqa: E402
from streams.routing import replay_safe  # noqa: E402
from streams.routing.assign import Routed  # noqa: E402
from streams.routing.decode import Lead  # noqa: E402

BATCH = 1_000
WARM_UP = 20


def scripts_of(commit: str) -> tuple[str, str]:
    """`_RECALL` and `_REMEMBER` as `streams/routing/replay_safe.py` has them at `commit`."""
    source = subprocess.run(
        ["git", "show", f"{commit}:streams/routing/replay_safe.py"], capture_output=True, text=True, check=True
    ).stdout
    names: dict[str, str] = {}
    for name in ("_RECALL", "_REMEMBER"):
        start = source.index(f'{name} = """') + len(name) + 6
        names[name] = source[start : source.index('"""', start)]
    return names["_RECALL"], names["_REMEMBER"]


def batch(number: int) -> tuple[list[tuple[LeadMessage, Lead]], list[Routed]]:
    """Batch `number`: leads `number * 500` to `number * 500 + 999`, at offsets that grow with the batches."""
    valid, outputs = [], []
    for i in range(BATCH):
        lead_id, offset = f"L{number * BATCH // 2 + i:07d}", number * BATCH + i
        raw = LeadMessage("leads", 0, offset, lead_id.encode(), b"{}")
        valid.append((raw, Lead(lead_id, None, ())))
        outputs.append(Routed(lead_id, number % 5, None, b"{}"))
    return valid, outputs


async def ms_per_batch(url: str, scripts: tuple[str, str] | None, batches: int) -> float:
    """Wall milliseconds per batch recalled and remembered, with `scripts` (recall, remember) or this checkout's."""
    client = redis_client(Settings(redis_url=url))  # type: ignore[arg-type]
    segments = replay_safe.ReplaySafeSegments(
        client, RedisHealth(client, timeout=60), f"bench-{uuid.uuid4().hex[:8]}", retention_seconds=86_400
    )
    if scripts is not None:
        segments._recall, segments._remember = (client.register_script(script) for script in scripts)
    work = [batch(number) for number in range(batches + WARM_UP)]
    for valid, outputs in work[:WARM_UP]:  # connections made, scripts loaded
        await segments.recall(valid)
        await segments.remember(valid, outputs)
    wall = time.perf_counter()
    for valid, outputs in work[WARM_UP:]:
        await segments.recall(valid)
        await segments.remember(valid, outputs)
    wall = time.perf_counter() - wall
    await client.aclose()
    return wall * 1e3 / batches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", required=True, metavar="COMMIT", help="the commit whose scripts to compare")
    parser.add_argument("--batches", type=int, default=300, help="batches per run")
    parser.add_argument("--runs", type=int, default=5, help="runs of each, alternating (median shown)")
    args = parser.parse_args()
    theirs = scripts_of(args.against)
    times: dict[str, list[float]] = {"this checkout": [], args.against: []}
    with tempfile.TemporaryDirectory() as workdir:
        redis = start_redis(Path(workdir))
        try:
            for _ in range(args.runs):
                times["this checkout"].append(asyncio.run(ms_per_batch(redis.url, None, args.batches)))
                times[args.against].append(asyncio.run(ms_per_batch(redis.url, theirs, args.batches)))
        finally:
            redis.stop()
    print(f"{args.batches} batches of {BATCH:,} leads per run, {args.runs} runs each, alternating; embedded Valkey")
    print("| scripts | ms per batch (median) | runs |\n|---|---:|---|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {', '.join(f'{v:.2f}' for v in values)} |")


if __name__ == "__main__":
    main()
