"""Previous segments in Redis: memory per million leads, and the worker's cost per batch on one server and on a
three-node cluster, each against a fresh embedded Valkey.

Memory: a million leads written through `RedisPreviousSegments` in batches of 1,000 (as the worker writes them),
`used_memory` read before and after. Cost: batches of 1,000 leads (half of them in the batch before, half new)
looked up and then written, as the worker does; the benchmark process's CPU time and the wall time per batch.

Rerun: `.venv/bin/python bench/previous_segments.py --write-docs docs/performance.md`.
"""

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from throughput_report import write_docs  # noqa: E402

from models.settings import Settings  # noqa: E402
from streams.clients.redis_client import RedisClient, redis_client  # noqa: E402
from streams.clients.redis_health import RedisHealth  # noqa: E402
from streams.local.services import start_redis  # noqa: E402
from streams.routing.previous import CLUSTER_SHARDS, RedisPreviousSegments  # noqa: E402
from tests.cluster import start_cluster  # noqa: E402

BATCH = 1_000
IDS: dict[str, Callable[[int], str]] = {
    "short (`L0000001`, 8 characters)": lambda i: f"L{i:07d}",
    "UUID (36 characters)": lambda i: str(uuid.UUID(int=i)),
}


def previous_segments(url: str, shards: int = 0) -> tuple[RedisClient, RedisPreviousSegments]:
    """A client of `url`, and previous segments of its own in it."""
    client = redis_client(Settings(redis_url=url))  # type: ignore[arg-type]
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    return client, RedisPreviousSegments(client, RedisHealth(client, timeout=60), prefix, shards=shards)


async def memory(url: str, leads: int, make_id: Callable[[int], str], shards: int) -> tuple[str, int, int]:
    """The server's name and version, and `used_memory` in bytes before and after writing `leads` leads."""
    client, previous = previous_segments(url, shards)
    server = await client.info("server")
    version = (
        f"{server.get('server_name', 'redis').capitalize()} {server.get('valkey_version', server['redis_version'])}"
    )
    before = int((await client.info("memory"))["used_memory"])
    for start in range(0, leads, BATCH):
        await previous.set_many({make_id(i): i % 8 for i in range(start, min(start + BATCH, leads))})
    after = int((await client.info("memory"))["used_memory"])
    await client.aclose()
    return version, before, after


async def cost(url: str, batches: int) -> tuple[float, float]:
    """Milliseconds of this process's CPU and of wall time per batch looked up and written."""
    client, previous = previous_segments(url)
    work = [[f"L{i:07d}" for i in range(b * BATCH // 2, b * BATCH // 2 + BATCH)] for b in range(batches + 20)]
    for ids in work[:20]:  # connections made, scripts loaded
        await previous.get_many(ids)
        await previous.set_many(dict.fromkeys(ids, 1))
    cpu, wall = time.process_time(), time.perf_counter()
    for ids in work[20:]:
        await previous.get_many(ids)
        await previous.set_many(dict.fromkeys(ids, 2))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    await client.aclose()
    return cpu * 1e3 / batches, wall * 1e3 / batches


def memory_table(leads: int) -> str:
    rows, version = [], ""
    for label, make_id in IDS.items():
        for shards in (1, CLUSTER_SHARDS):
            with tempfile.TemporaryDirectory(prefix="previous-memory-") as folder:
                valkey = start_redis(Path(folder))
                try:
                    version, before, after = asyncio.run(memory(valkey.url, leads, make_id, shards))
                finally:
                    valkey.stop()
            per_million = (after - before) * 1_000_000 / leads
            rows.append(
                f"| {label} | {shards} | {before / 2**20:.1f} | {after / 2**20:.1f} | {per_million / 2**20:.0f} |"
            )
            print(rows[-1], file=sys.stderr)
    return "\n".join(
        [
            f"Measured {datetime.now(UTC).date()} by `bench/previous_segments.py`: {leads:,} leads written in batches"
            f" of {BATCH:,} into a fresh embedded {version} (no persistence), one retention period.",
            "",
            "| lead ids | hashes (shards) | used_memory before (MiB) | after (MiB) | per million leads (MiB) |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def cost_table(batches: int, runs: int) -> str:
    rows = []
    with tempfile.TemporaryDirectory(prefix="previous-cost-") as folder:
        valkey, cluster = start_redis(Path(folder)), start_cluster(Path(folder))
        try:
            for label, url, shards in (
                ("one server", valkey.url, 1),
                ("three-node cluster (`redis+cluster://`)", cluster.url, CLUSTER_SHARDS),
            ):
                measured = [asyncio.run(cost(url, batches)) for _ in range(runs)]
                cpu, wall = (statistics.median(m[i] for m in measured) for i in (0, 1))
                rows.append(f"| {label} | {shards} | {cpu:.2f} | {wall:.2f} |")
                print(rows[-1], file=sys.stderr)
        finally:
            cluster.stop()
            valkey.stop()
    return "\n".join(
        [
            f"Measured {datetime.now(UTC).date()} by `bench/previous_segments.py`: {batches} batches of {BATCH:,} leads"
            f" (half of each in the batch before), each looked up then written; medians of {runs} runs, on a machine"
            " whose two cores the benchmark shares with Valkey.",
            "",
            "| Redis | shards | client CPU per batch (ms) | wall per batch (ms) |",
            "|---|---|---|---|",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads written for the memory figure")
    parser.add_argument("--batches", type=int, default=300, help="batches per run of the cost figure")
    parser.add_argument("--runs", type=int, default=3, help="runs of the cost figure (median shown)")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the previous-* sections of FILE")
    args = parser.parse_args()
    tables = {"previous-memory": memory_table(args.leads), "previous-cost": cost_table(args.batches, args.runs)}
    for section, table in tables.items():
        print(f"{table}\n")
        if args.write_docs:
            write_docs(args.write_docs, table, section)
    if args.write_docs:
        print(f"wrote {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
