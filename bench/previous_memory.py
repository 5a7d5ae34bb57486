"""Redis memory per million leads held as previous segments: 1M leads written through `RedisPreviousSegments`
in batches of 1,000 (as the worker writes them) into a fresh embedded Valkey, `used_memory` read before and after.

Rerun: `.venv/bin/python bench/previous_memory.py --write-docs docs/performance.md`.
"""

import argparse
import asyncio
import sys
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import redis.asyncio as aioredis

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

from throughput_report import write_docs  # noqa: E402

from streams.local import start_redis  # noqa: E402
from streams.previous import CLUSTER_SHARDS, RedisPreviousSegments  # noqa: E402
from streams.redis_health import RedisHealth  # noqa: E402

BATCH = 1_000
IDS: dict[str, Callable[[int], str]] = {
    "short (`L0000001`, 8 characters)": lambda i: f"L{i:07d}",
    "UUID (36 characters)": lambda i: str(uuid.UUID(int=i)),
}


async def measure(url: str, leads: int, make_id: Callable[[int], str], shards: int) -> tuple[str, int, int]:
    """The server's version, and `used_memory` in bytes before and after writing `leads` leads' segments."""
    client = aioredis.from_url(url, decode_responses=True)
    previous = RedisPreviousSegments(client, RedisHealth(client, timeout=60), "bench", shards=shards)
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


def run(leads: int) -> str:
    rows, version = [], ""
    for label, make_id in IDS.items():
        for shards in (1, CLUSTER_SHARDS):
            with tempfile.TemporaryDirectory(prefix="previous-memory-") as folder:
                valkey = start_redis(Path(folder))
                try:
                    version, before, after = asyncio.run(measure(valkey.url, leads, make_id, shards))
                finally:
                    valkey.stop()
            per_million = (after - before) * 1_000_000 / leads
            rows.append(
                f"| {label} | {shards} | {before / 2**20:.1f} | {after / 2**20:.1f} | {per_million / 2**20:.0f} |"
            )
            print(rows[-1], file=sys.stderr)
    return "\n".join(
        [
            f"Measured {datetime.now(UTC).date()}: {leads:,} leads written in batches of {BATCH:,} into a fresh"
            f" embedded {version} (no persistence), one retention period.",
            "",
            "| lead ids | hashes (shards) | used_memory before (MiB) | after (MiB) | per million leads (MiB) |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads written")
    parser.add_argument("--write-docs", type=Path, metavar="FILE", help="rewrite the previous-memory section of FILE")
    args = parser.parse_args()
    table = run(args.leads)
    print(table)
    if args.write_docs:
        write_docs(args.write_docs, table, "previous-memory")
        print(f"\nwrote {args.write_docs}", file=sys.stderr)


if __name__ == "__main__":
    main()
