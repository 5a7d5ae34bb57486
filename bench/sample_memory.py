"""The Redis memory of a full refit sample (`{prefix}:sample`) at the default size, filled the way workers fill
it, the Redis CPU time of filling it (each lead sent costs this once) and the time a refit takes to read it back.

Rerun: `.venv/bin/python bench/sample_memory.py [--redis redis://...] [--size N]`.
"""

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent)]

from models.settings import Settings  # noqa: E402
from segmentation.synthetic import generate_leads  # noqa: E402
from streams.local import start_redis  # noqa: E402
from streams.redis_health import RedisHealth  # noqa: E402
from streams.sample import SharedSample  # noqa: E402
from streams.store import redis_client  # noqa: E402
from tests.services import unique  # noqa: E402


async def redis_cpu(client: Any) -> float:
    """The server's CPU seconds so far (user + system)."""
    cpu = await client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def measure(settings: Settings) -> dict[str, Any]:
    client = redis_client(settings)
    try:
        sample = SharedSample(client, RedisHealth(client, timeout=30), settings, random_state=0)
        server = await client.info("server")
        before = int((await client.info("memory"))["used_memory"])
        leads = generate_leads(settings.refit_sample_size, random_state=0).X
        for start in range(0, len(leads), 1_000):  # as routed batches arrive
            sample.add(leads[start : start + 1_000])
        cpu = await redis_cpu(client)
        await sample.flush()
        cpu = await redis_cpu(client) - cpu
        after = int((await client.info("memory"))["used_memory"])
        key = f"{settings.redis_key_prefix}:sample"
        usage = int(await client.memory_usage(key, samples=0) or 0)
        started = time.perf_counter()
        rows = await sample.rows()
        read_s = time.perf_counter() - started
        await client.delete(key)
        return {
            "server": f"{server.get('server_name', 'redis')} {server.get('valkey_version', server['redis_version'])}",
            "leads": len(rows),
            "memory_usage_bytes": usage,
            "used_memory_delta_bytes": after - before,
            "read_seconds": read_s,
            "fill_cpu_seconds": cpu,
        }
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="redis:// URL (default: start the embedded Valkey)")
    parser.add_argument("--size", type=int, default=Settings().refit_sample_size, help="leads in the sample")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as tmp:
        server = None if args.redis else start_redis(Path(tmp))
        try:
            url = args.redis or (server.url if server else "")
            settings = Settings(redis_url=url, redis_key_prefix=unique("bench-sample"), refit_sample_size=args.size)
            found = asyncio.run(measure(settings))
        finally:
            if server is not None:
                server.stop()
    mb = found["memory_usage_bytes"] / 1e6
    print(
        f"{found['server']}: refit sample of {found['leads']:,} leads: MEMORY USAGE {mb:.1f} MB "
        f"({found['memory_usage_bytes'] / found['leads']:.0f} bytes a lead), used_memory grew "
        f"{found['used_memory_delta_bytes'] / 1e6:.1f} MB; "
        f"filling it took {found['fill_cpu_seconds']:.2f} s of Redis CPU "
        f"({found['fill_cpu_seconds'] / found['leads'] * 1e6:.1f} µs a lead sent); read back by a refit in "
        f"{found['read_seconds']:.2f} s"
    )


if __name__ == "__main__":
    main()
