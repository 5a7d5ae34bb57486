"""What the shared refit sample (`{prefix}:sample`) costs: `--leads` routed leads offered in batches of 1,000
(as the router does) to a sample of the default size that starts empty, and sent as the worker's background
task sends them (every `SEND_SECONDS`, at `--rate` leads a second). Prints the worker's CPU per lead offered
(the hot path's part and the sending), the leads sent, the Redis CPU they took, the memory of the full sample,
and the time a refit takes to read it back.

Rerun: `.venv/bin/python bench/refit_sample.py [--redis redis://...] [--size N] [--leads N] [--rate N]`.
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
from streams.clients.redis_client import redis_client, tagged_key  # noqa: E402
from streams.clients.redis_health import RedisHealth  # noqa: E402
from streams.local.services import start_redis  # noqa: E402
from streams.model_plane.sample import SEND_SECONDS, SharedSample  # noqa: E402
from tests.services import unique  # noqa: E402

BATCH = 1_000


async def redis_cpu(client: Any) -> float:
    """The server's CPU seconds so far (user + system)."""
    cpu = await client.info("cpu")
    return float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


async def measure(settings: Settings, n: int, rate: float) -> dict[str, Any]:
    client = redis_client(settings)
    try:
        sample = SharedSample(client, RedisHealth(client, timeout=30), settings, random_state=0)
        server = await client.info("server")
        leads = generate_leads(n, random_state=0).X
        offer_s = send_s = 0.0
        sent, per_send = 0, int(rate * SEND_SECONDS)
        redis_before = await redis_cpu(client)
        for start in range(0, n, BATCH):
            started = time.process_time()
            sample.add(leads[start : start + BATCH])
            offer_s += time.process_time() - started
            started = time.process_time()
            if (start + BATCH) % per_send < BATCH or start + BATCH >= n:  # as the worker's task does
                sent += await sample.flush()
            elif sample._held.full:
                sample._held.hold(await sample._best())
            send_s += time.process_time() - started
        redis_s = await redis_cpu(client) - redis_before
        key = tagged_key(settings.redis_key_prefix, "sample")
        usage = int(await client.memory_usage(key, samples=0) or 0)
        started = time.perf_counter()
        rows = await sample.rows()
        read_s = time.perf_counter() - started
        await client.delete(key)
        return {
            "server": f"{server.get('server_name', 'redis')} {server.get('valkey_version', server['redis_version'])}",
            "offered": n,
            "rate": rate,
            "sent": sent,
            "size": len(rows),
            "offer_us_per_lead": offer_s / n * 1e6,
            "send_us_per_lead": send_s / n * 1e6,
            "redis_us_per_sent": redis_s / max(sent, 1) * 1e6,
            "memory_bytes": usage,
            "read_s": read_s,
        }
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis", help="redis:// URL (default: start the embedded Valkey)")
    parser.add_argument("--size", type=int, default=Settings().refit_sample_size, help="leads the sample holds")
    parser.add_argument("--leads", type=int, default=600_000, help="leads offered")
    parser.add_argument("--rate", type=float, default=50_000, help="leads a second the worker routes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sample-") as tmp:
        server = None if args.redis else start_redis(Path(tmp))
        try:
            url = args.redis or (server.url if server else "")
            settings = Settings(redis_url=url, redis_key_prefix=unique("bench-sample"), refit_sample_size=args.size)
            f = asyncio.run(measure(settings, args.leads, args.rate))
        finally:
            if server is not None:
                server.stop()
    print(
        f"{f['server']}, a sample of {f['size']:,} leads that starts empty, {f['offered']:,} leads offered "
        f"at {f['rate']:,.0f} a second, sent every {SEND_SECONDS:g} s:\n"
        f"  worker CPU per lead offered: {f['offer_us_per_lead']:.3f} µs to offer it (on the hot path), "
        f"{f['send_us_per_lead']:.3f} µs to cut back and send those held\n"
        f"  sent: {f['sent']:,} leads, {f['redis_us_per_sent']:.1f} µs of Redis CPU each\n"
        f"  memory of the full sample: {f['memory_bytes'] / 1e6:.1f} MB (MEMORY USAGE), "
        f"{f['memory_bytes'] / f['size']:.0f} bytes a lead\n"
        f"  read back by a refit in {f['read_s']:.2f} s"
    )


if __name__ == "__main__":
    main()
