"""Kafka and Redis for the integration tests, started once per session.

`SEGMENTER_TEST_KAFKA` (a bootstrap server) and `SEGMENTER_TEST_REDIS` (a redis:// URL) point the tests at
services started elsewhere, as CI does with Apache Kafka and redis-server; without them the embedded Tansu
and Valkey from `streams.local` run as children of the test session and are stopped at its end, whatever
the tests did.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest

from streams.local import start_kafka, start_redis

KAFKA_ENV = "SEGMENTER_TEST_KAFKA"
REDIS_ENV = "SEGMENTER_TEST_REDIS"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration carries the `integration` marker."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kafka_flavour() -> Literal["apache", "tansu"]:
    """Which broker the tests talk to; tests of what Tansu gets wrong (end offsets, EOS, fault recovery) skip on it."""
    return "apache" if os.environ.get(KAFKA_ENV) else "tansu"


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bootstrap server, `host:port`."""
    if given := os.environ.get(KAFKA_ENV):
        yield given
        return
    kafka = start_kafka(tmp_path_factory.mktemp("kafka"))
    try:
        yield kafka.url
    finally:
        kafka.stop()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A `redis://` URL to database 0."""
    if given := os.environ.get(REDIS_ENV):
        yield given
        return
    redis = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield redis.url
    finally:
        redis.stop()
