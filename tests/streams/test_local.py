"""The embedded services of `streams.local`, as real child processes."""

import asyncio
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from redis.backoff import NoBackoff
from redis.retry import Retry

from streams.exceptions import ServiceUnavailableError
from streams.local.services import LocalService, local_services, start_kafka, start_redis
from tests.services import unique
from tests.waiting import wait_for

PASSWORD = "s3cret: @/%"  # characters that need quoting in a URL


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    service = start_kafka(tmp_path_factory.mktemp("kafka"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def redis_with_password(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalService]:
    service = start_redis(tmp_path_factory.mktemp("redis"), password=PASSWORD)
    yield service
    service.stop()


def test_kafka_url_is_a_loopback_bootstrap_server(kafka: LocalService) -> None:
    assert kafka.url == f"127.0.0.1:{kafka.port}"
    assert kafka.alive()


def test_kafka_creates_a_two_partition_topic(kafka: LocalService) -> None:
    topic = unique("leads")

    async def create_and_describe() -> list[int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.url)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
            assert topic in await admin.list_topics()
            (description,) = await admin.describe_topics([topic])
            return sorted(partition["partition"] for partition in description["partitions"])
        finally:
            await admin.close()

    assert asyncio.run(create_and_describe()) == [0, 1]


def test_kafka_delivers_a_produced_message(kafka: LocalService) -> None:
    topic = unique("events")

    async def round_trip() -> tuple[bytes | None, bytes | None, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka.url)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=kafka.url, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(topic, b'{"lead": 1}', key=b"lead-1")
        finally:
            await producer.stop()
        assert sent.offset == 0
        consumer = AIOKafkaConsumer(bootstrap_servers=kafka.url, auto_offset_reset="earliest")  # no group: no join
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            message = await asyncio.wait_for(consumer.getone(), timeout=10)
        finally:
            await consumer.stop()
        return message.key, message.value, message.offset

    assert asyncio.run(round_trip()) == (b"lead-1", b'{"lead": 1}', 0)


def test_redis_without_password_stores_values(tmp_path: Path) -> None:
    service = start_redis(tmp_path)
    try:
        assert service.url == f"redis://127.0.0.1:{service.port}/0"
        client = redis.Redis.from_url(service.url)
        key = unique("model")
        assert client.set(key, b"v1")
        assert client.get(key) == b"v1"
        client.close()
    finally:
        service.stop()


def test_redis_with_password_stores_values(redis_with_password: LocalService) -> None:
    assert redis_with_password.url.startswith("redis://:s3cret%3A%20%40%2F%25@127.0.0.1:")
    client = redis.Redis.from_url(redis_with_password.url)
    key = unique("model")
    assert client.set(key, b"v2")
    assert client.get(key) == b"v2"
    client.close()


@pytest.mark.parametrize("password", [None, "wrong"], ids=["no-password", "wrong-password"])
def test_redis_with_password_refuses_other_clients(redis_with_password: LocalService, password: str | None) -> None:
    client = redis.Redis(
        host="127.0.0.1", port=redis_with_password.port, password=password, retry=Retry(NoBackoff(), 0)
    )  # redis-py retries auth errors by default (~4 s)
    with pytest.raises(redis.AuthenticationError):
        client.set("intruder", b"x")
    client.close()


@pytest.mark.parametrize("start", [start_kafka, start_redis], ids=["kafka", "redis"])
def test_stop_leaves_no_process(start: Callable[[Path], LocalService], tmp_path: Path) -> None:
    service = start(tmp_path)
    service.stop()
    assert service.process.poll() == 0  # SIGTERM is a clean shutdown for both
    assert gone(service.process.pid)
    assert not service.alive()
    service.stop()  # a second stop is a no-op


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_local_services_clean_up_after_an_exception(error: type[BaseException]) -> None:
    with pytest.raises(error), local_services() as (kafka, redis_service):
        workdir = kafka.log_path.parent
        assert redis_service.log_path.parent == workdir and workdir.is_dir()
        assert redis.Redis.from_url(redis_service.url).ping()
        raise error
    assert not workdir.exists()
    assert not kafka.alive() and not redis_service.alive()
    assert gone(kafka.process.pid) and gone(redis_service.process.pid)


def test_a_killed_child_is_not_alive(tmp_path: Path) -> None:
    service = start_redis(tmp_path)
    os.kill(service.process.pid, signal.SIGKILL)
    wait_for(lambda: not service.alive(), 5, "the killed child reaped", 0.01)
    assert service.process.returncode == -signal.SIGKILL
    service.stop()
    assert gone(service.process.pid)


@pytest.mark.parametrize("start", [start_kafka, start_redis], ids=["kafka", "redis"])
def test_a_port_in_use_is_refused_before_starting(start: Callable[..., LocalService], tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        with pytest.raises(ServiceUnavailableError, match=f"cannot listen on 127.0.0.1:{port}: the port is taken"):
            start(tmp_path, port=port)
    assert list(tmp_path.iterdir()) == []  # nothing was started


@pytest.mark.parametrize("start", [start_kafka, start_redis], ids=["kafka", "redis"])
def test_a_child_that_dies_fails_at_once_with_its_log(start: Callable[..., LocalService], tmp_path: Path) -> None:
    with socket.socket() as holder:  # bound, not listening: the child's bind fails and it exits
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        began = time.monotonic()
        with pytest.raises(ServiceUnavailableError) as caught:
            start(tmp_path, port=port, timeout=20)
    message = str(caught.value)
    assert time.monotonic() - began < 2
    assert "\n" not in message
    assert f"on 127.0.0.1:{port} exited with code" in message
    assert str(tmp_path) in message and "in use" in message.lower()  # the log tail says why
