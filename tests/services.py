"""Helpers for tests that talk to real Kafka and Redis."""

import uuid

import redis

__all__ = ["stored_previous_segments", "sync_client", "unique"]

_CLUSTER = "+cluster"


def unique(name: str) -> str:
    """`name` with a random suffix, so tests sharing one broker never share a topic, group or key."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def sync_client(url: str) -> redis.Redis | redis.RedisCluster:
    """A blocking client of the service's Redis URL (a `redis+cluster://` one gives a cluster client)."""
    scheme, _, rest = url.partition("://")
    if scheme.endswith(_CLUSTER):
        return redis.RedisCluster.from_url(f"{scheme.removesuffix(_CLUSTER)}://{rest}", decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True)


def stored_previous_segments(url: str, prefix: str) -> dict[str, int]:
    """Every lead's last segment as stored in Redis, read from every hash of every period on every node (the
    later period's where a lead is in two)."""
    client = sync_client(url)
    try:
        hashes = sorted(client.scan_iter(match=f"{{{prefix}:previous:*"), key=lambda key: int(key.rpartition(":")[2]))
        stored: dict[str, str] = {}
        for key in hashes:
            stored |= client.hgetall(key)  # type: ignore[arg-type]
    finally:
        client.close()
    return {lead: int(segment) for lead, segment in stored.items()}
