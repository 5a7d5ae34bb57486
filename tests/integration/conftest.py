"""Kafka and Redis for the integration tests, started once per session.

`SEGMENTER_TEST_KAFKA` (a bootstrap server) and `SEGMENTER_TEST_REDIS` (a redis:// URL) point the tests at
services started elsewhere, as CI does with Apache Kafka and redis-server; without them the embedded Tansu
and Valkey from `streams.local` run as children of the test session and are stopped at its end, whatever
the tests did. A three-node Valkey cluster (`valkey_cluster`) is always the embedded binary.

The fault-tolerance tests (marked `faults`) need Apache Kafka and skip on Tansu. They run the engine named by
`SEGMENTER_TEST_ENGINE` (default `agent`) and write their figures to `SEGMENTER_TEST_FIGURES` (default:
`reliability.json` in pytest's base temp dir).
"""

import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Literal

import pytest

from streams.local.services import start_kafka, start_redis
from tests.cluster import start_cluster
from tests.integration.apache import KafkaNode, RedisNode, running
from tests.integration.figures import FIGURES_ENV, Figures, save
from tests.integration.harness import ENGINE_ENV, Worker

KAFKA_ENV = "SEGMENTER_TEST_KAFKA"
REDIS_ENV = "SEGMENTER_TEST_REDIS"
HERE = Path(__file__).parent
REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/integration carries the `integration` marker."""
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each test's setup and call reports where its `figures` fixture can read them."""
    report = yield
    item.stash.setdefault(REPORTS, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def apache_kafka(request: pytest.FixtureRequest, kafka_flavour: str) -> str:
    """The bootstrap server if it is Apache Kafka; skips the test on Tansu (before starting it)."""
    if kafka_flavour == "tansu":
        pytest.skip(
            f"fault tests need Apache Kafka: `bash .ci/run` runs them, or set {KAFKA_ENV} and {REDIS_ENV} to the"
            " services `.ci/services.sh start` prints"
        )
    bootstrap: str = request.getfixturevalue("kafka_bootstrap")
    return bootstrap


@pytest.fixture(autouse=True)
def _no_worker_outlives_its_test() -> Iterator[None]:
    yield
    Worker.reap()


@pytest.fixture(autouse=True)
def _faults_need_apache_kafka(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("faults"):
        request.getfixturevalue("apache_kafka")


@pytest.fixture(scope="session")
def engine() -> str:
    """The worker engine under test (`SEGMENTER_ENGINE` of the workers)."""
    return os.environ.get(ENGINE_ENV, "agent")


@pytest.fixture
def figures(request: pytest.FixtureRequest, engine: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Figures]:
    """Figures the test records; saved with its outcome and duration (setup included: a module fixture may
    have done the work) when it ends."""
    path = Path(os.environ.get(FIGURES_ENV) or tmp_path_factory.getbasetemp() / "reliability.json")
    measured = Figures()
    yield measured
    reports = request.node.stash.get(REPORTS, {})
    call = reports.get("call")
    outcome = "error" if call is None else call.outcome
    if call is not None and hasattr(call, "wasxfail"):
        outcome = "xfailed" if call.skipped else "xpassed"
    save(path, engine, measured, outcome, sum(report.duration for report in reports.values()))


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


@pytest.fixture(scope="session")
def valkey_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The `redis+cluster://` URL of three Valkey primaries, each holding a third of the slots."""
    cluster = start_cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture
def own_kafka(tmp_path: Path) -> Iterator[KafkaNode]:
    """An Apache Kafka broker of the test's own, for tests that stop it (never the shared CI services)."""
    yield from running(KafkaNode(tmp_path / "kafka"))


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisNode]:
    """A redis-server of the test's own, for tests that stop or hang it."""
    yield from running(RedisNode(tmp_path / "redis"))
