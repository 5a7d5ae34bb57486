"""Which Redis client a URL gives: `redis+cluster://` a cluster's, with the same timeouts; nothing connects here."""

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError
from redis.asyncio.connection import SSLConnection

from models.settings import Settings
from streams.clients.redis_client import redis_client


@pytest.mark.parametrize("scheme", ["redis+cluster", "rediss+cluster"])
def test_a_cluster_url_gives_a_cluster_client_of_that_node(scheme: str) -> None:
    settings = Settings(redis_url=f"{scheme}://user:secret@node-1.example:7000/0")  # type: ignore[arg-type]
    client = redis_client(settings)
    assert isinstance(client, aioredis.RedisCluster)
    assert list(client.nodes_manager.startup_nodes) == ["node-1.example:7000"]  # the others are learnt from it
    options = client.connection_kwargs
    assert (options["username"], options["password"], options["socket_timeout"]) == ("user", "secret", 5)
    assert (options["connection_class"] is SSLConnection) == scheme.startswith("rediss")
    assert settings.redis_url_redacted == f"{scheme}://user:***@node-1.example:7000/0"


def test_a_server_url_gives_a_single_server_client() -> None:
    client = redis_client(Settings(redis_url="redis://localhost:6379/0"))  # type: ignore[arg-type]
    assert isinstance(client, aioredis.Redis) and not isinstance(client, aioredis.RedisCluster)


def test_other_schemes_are_refused_naming_the_cluster_one() -> None:
    with pytest.raises(ValidationError, match=r"redis\+cluster://"):
        Settings(redis_url="http://localhost:6379/0")  # type: ignore[arg-type]


def test_a_prefix_with_braces_is_refused() -> None:  # it would break the keys' hash tags on a cluster
    with pytest.raises(ValidationError, match="has braces: the service makes its keys' hash tags with them"):
        Settings(redis_key_prefix="{tenant}")


def test_a_cluster_url_to_another_database_is_refused() -> None:
    with pytest.raises(ValidationError, match="database 0 only"):
        Settings(redis_url="redis+cluster://node-1.example:7000/3")  # type: ignore[arg-type]
