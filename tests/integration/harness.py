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
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from segmentation.synthetic import generate_leads
from segmenter.leads_io import LeadTable
from segmenter.pipeline import fit_model
from segmenter.stream_cli import lead_records
from tests.services import unique

__all__ = ["Output", "Worker", "consume", "leads", "model_file", "partitions", "produce", "publish", "worker_env"]


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
    for name in ("leads", "segments", "dlq", "transitions", "models", "control"):
        env[f"SEGMENTER_{name.upper()}_TOPIC"] = f"{name}-{tag}"
    return env | overrides


class Worker:
    """`python -m segmenter worker` with the given settings; its log is kept for failures."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_path = log_dir / f"{unique('worker')}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> "Worker":
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "segmenter", "worker"],
            env=os.environ | self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while "[^Worker]: Ready" not in self.log():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"worker did not become ready:\n{self.log()[-3000:]}")
            time.sleep(0.2)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

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

    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.value)
        return result


def produce(kafka: str, topic: str, records: Sequence[tuple[bytes | None, bytes]]) -> None:
    async def run() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all", max_request_size=4_000_000)
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key) for key, value in records]
            await asyncio.gather(*futures)
        finally:
            await producer.stop()

    asyncio.run(run())


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
                        Output(m.partition, m.offset, m.key, m.value, {k: v.decode() for k, v in m.headers})
                        for m in records
                    ]
                if len(found) >= count:
                    deadline = min(deadline, time.monotonic() + settle)
        finally:
            await consumer.stop()
        return found

    return asyncio.run(run())


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
