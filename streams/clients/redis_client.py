"""The Redis client every part of the worker shares: short timeouts, one retry of a dead pooled connection, a
single server or a Redis Cluster; and the hash-tagged key layout that keeps a script's keys in one slot."""

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from models.settings import Settings

__all__ = ["RedisClient", "initialized", "redis_client", "tagged_key"]


RedisClient = aioredis.Redis | aioredis.RedisCluster
"""A single server's client or a Redis Cluster's: every key and script of the service works on both."""

_CLUSTER = "+cluster"


def redis_client(settings: Settings) -> RedisClient:
    """A Redis client with short timeouts, so an outage is noticed instead of waited out; a pooled
    connection that died with a restarted server is retried once instead of reported as an outage.
    A `redis+cluster://` (`rediss+cluster://`) URL gives a Redis Cluster client: the URL names any one
    node, the client learns the others and which slots each serves."""
    scheme, _, rest = settings.redis_url.get_secret_value().partition("://")
    options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 5, "decode_responses": True}
    retry = Retry(ExponentialBackoff(cap=0.5, base=0.05), retries=1)
    if scheme.endswith(_CLUSTER):
        return aioredis.RedisCluster.from_url(f"{scheme.removesuffix(_CLUSTER)}://{rest}", retry=retry, **options)
    return aioredis.from_url(f"{scheme}://{rest}", retry=retry, retry_on_error=[RedisConnectionError], **options)


def tagged_key(prefix: str, *names: str | int) -> str:
    """`{prefix}:name:...`: a key under the prefix's hash tag. On a Redis Cluster all such keys share one slot, so
    a script may use any of them together.

    Examples:
        >>> tagged_key("segmenter", "model", 7)
        '{segmenter}:model:7'
    """
    return ":".join([f"{{{prefix}}}", *map(str, names)])


async def initialized(client: RedisClient) -> None:
    """Load a cluster client's map of nodes and slots now if it is not yet: in redis-py 8.1 a cluster pub/sub
    subscribing before it fails, and so do commands that start together on a client that has not loaded it."""
    if isinstance(client, aioredis.RedisCluster):
        await client.initialize()
