"""Drive the real thing: `segmenter worker` as a subprocess, and plain aiokafka clients around it."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmenter.leads_io import LeadTable, lead_records
from streams.clients.redis_client import redis_client
from streams.model_plane.publishing import publish_model
from streams.model_plane.store import RedisModelStore
from tests.integration.traffic import Placement, Probe, Record, send_all
from tests.services import stored_previous_segments, unique
from tests.waiting import wait_for

__all__ = [
    "ENGINE_ENV",
    "Output",
    "Worker",
    "consume",
    "drain",
    "leads",
    "model_file",
    "partitions",
    "previous_segments",
    "produce",
    "publish",
    "publish_snapshot",
    "settings_of",
    "worker_env",
]

# The engine the workers run (`SEGMENTER_ENGINE`); passed on only when set, so older workers need not know it.
ENGINE_ENV = "SEGMENTER_TEST_ENGINE"
_LOG_TIME = "%Y-%m-%d %H:%M:%S,%f"


def worker_env(kafka: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """Settings for one test's worker: its own app id, topics and Redis prefix."""
    tag = unique("t")
    env = {
        "SEGMENTER_KAFKA_BOOTSTRAP": kafka,
        "SEGMENTER_REDIS_URL": redis_url,
        "SEGMENTER_APP_ID": f"segmenter-{tag}",
        "SEGMENTER_REDIS_KEY_PREFIX": f"segmenter-{tag}",
        "SEGMENTER_PARTITIONS": "2",
        "SEGMENTER_KAFKA_SESSION_TIMEOUT_SECONDS": "6",
        "SEGMENTER_MODEL_POLL_SECONDS": "1",
        "SEGMENTER_BATCH_MAX_LATENCY_MS": "20",
    }
    for name in ("leads", "segments", "dlq", "transitions", "models", "control", "registry", "outcomes"):
        env[f"SEGMENTER_{name.upper()}_TOPIC"] = f"{name}-{tag}"
    if engine := os.environ.get(ENGINE_ENV):
        env["SEGMENTER_ENGINE"] = engine
    return env | overrides


def settings_of(env: dict[str, str]) -> Settings:
    """The settings a worker started with `env` reads, for calling the product in-process."""
    prefix = "SEGMENTER_"
    return Settings.model_validate(
        {name[len(prefix) :].lower(): value for name, value in env.items() if name.startswith(prefix)}
    )


class Worker:
    """`python -m segmenter worker` with the given settings; its log is kept for failures."""

    launched: "list[Worker]" = []  # every worker a test started, for `reap` to stop after the test

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_path = log_dir / f"{unique('worker')}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._run_starts_at = 0  # where the current run's part of the log begins

    def start(self, timeout: float = 60) -> "Worker":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "Worker":
        """Start the process without waiting for it (to start several workers at once)."""
        self._run_starts_at = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "segmenter", "worker"],
                env=os.environ | self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        Worker.launched.append(self)
        return self

    def wait_ready(self, timeout: float = 60) -> "Worker":
        assert self.process is not None
        process = self.process
        ready = lambda: "[^Worker]: Ready" in self.log(current_run=True)  # noqa: E731
        wait_for(lambda: ready() or process.poll() is not None, timeout, self._not_ready, 0.2)
        assert ready(), self._not_ready()
        return self

    def _not_ready(self) -> str:
        return f"the worker ready:\n{self.log()[-3000:]}"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self, current_run: bool = False) -> str:
        if not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()
        return (data[self._run_starts_at :] if current_run else data).decode(errors="replace")

    def logged_at(self, text: str) -> float | None:
        """When (epoch seconds) the current run first logged a line containing `text`, if it did."""
        for line in self.log(current_run=True).splitlines():
            if text in line and line.startswith("["):
                return datetime.strptime(line[1 : line.index("]")], _LOG_TIME).timestamp()
        return None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
                raise AssertionError(f"worker ignored signal {sig}:\n{self.log()[-3000:]}") from None
        return self.process.returncode

    @classmethod
    def reap(cls) -> None:
        """Kill the workers a test left running (a failed assertion skips its own stop)."""
        while cls.launched:
            worker = cls.launched.pop()
            if worker.alive:
                assert worker.process is not None
                worker.process.kill()
                worker.process.wait()

    def __enter__(self) -> "Worker":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class Output:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, str]
    timestamp_ms: int  # when the worker produced it (CreateTime)

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.value)
        return result


def produce(kafka: str, topic: str, records: Sequence[Record]) -> list[Placement]:
    """Send all and wait for the broker; returns each record's (partition, offset)."""
    return asyncio.run(send_all(kafka, topic, records))


def consume(kafka: str, topic: str, count: int, timeout: float = 60, settle: float = 1.0) -> list[Output]:
    """Read `topic` from the start until `count` messages arrived (then `settle` s more, to catch
    extras) or `timeout` passed."""

    async def run() -> list[Output]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest")
        await consumer.start()
        found: list[Output] = []
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    found += [
                        Output(m.partition, m.offset, m.key, m.value, _text(m.headers), m.timestamp) for m in records
                    ]
                if len(found) >= count:
                    deadline = min(deadline, time.monotonic() + settle)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(run())


def drain(kafka: str, topic: str, timeout: float = 120) -> list[Output]:
    """Everything `topic` holds now."""
    with Probe(kafka) as probe:
        total = sum(probe.end_offsets(topic).values())
    found = consume(kafka, topic, total, timeout=timeout, settle=0)
    assert len(found) >= total, f"read {len(found)} of the {total} messages in {topic} within {timeout}s"
    return found


def _text(headers: Sequence[tuple[str, bytes]]) -> dict[str, str]:
    return {key: value.decode() for key, value in headers}


def model_file(tmp_path: Path, k: int, version: int, seed: int = 0) -> tuple[Path, ModelSnapshot]:
    leads = generate_leads(3000, random_state=seed)
    _, snapshot = fit_model(leads.X, config=StrategyConfig(), k=k, version=version, random_state=seed)
    path = tmp_path / f"model-{version}.json"
    path.write_text(snapshot.model_dump_json())
    return path, snapshot


def publish(env: dict[str, str], path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "segmenter", "publish", str(path)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


def publish_snapshot(env: dict[str, str], snapshot: ModelSnapshot) -> None:
    """What `segmenter publish` does, in-process: for tests that publish many versions quickly."""
    asyncio.run(publish_model(settings_of(env), snapshot))


def leads(n: int, seed: int, prefix: str = "L") -> tuple[LeadTable, list[tuple[bytes, bytes]]]:
    generated = generate_leads(n, random_state=seed)
    table = LeadTable([f"{prefix}{i:06d}" for i in range(n)], generated.X, {}, Counter())
    return table, lead_records(table)


def partitions(kafka: str, topics: list[str]) -> dict[str, int]:
    async def run() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            return {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(topics)}
        finally:
            await admin.close()

    return asyncio.run(run())


def previous_segments(env: dict[str, str]) -> dict[str, int]:
    """The lead -> last segment map the workers keep in Redis."""
    return stored_previous_segments(env["SEGMENTER_REDIS_URL"], env["SEGMENTER_REDIS_KEY_PREFIX"])


def stored_model(env: dict[str, str], version: int) -> ModelSnapshot:
    """Model `version` as the worker of `env` finds it in Redis."""

    async def load() -> ModelSnapshot:
        settings = settings_of(env)
        client = redis_client(settings)
        try:
            return await RedisModelStore(client, settings.redis_key_prefix).load(version)
        finally:
            await client.aclose()

    return asyncio.run(load())
