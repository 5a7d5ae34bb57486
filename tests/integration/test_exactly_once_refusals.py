"""exactly_once is refused at start, in one line that says why, where it cannot hold (issue 20, item 3): with the
agent engine, and against a broker without transactions (Tansu, the embedded broker of `segmenter demo`)."""

import os
import subprocess
import sys
from pathlib import Path

from streams.local.services import start_kafka
from tests.integration.harness import worker_env


def start_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "segmenter", "worker"], env=env, capture_output=True, text=True, timeout=90
    )


def test_exactly_once_with_the_agent_engine_is_refused_in_one_line(kafka_bootstrap: str, redis_url: str) -> None:
    env = os.environ | worker_env(
        kafka_bootstrap, redis_url, SEGMENTER_ENGINE="agent", SEGMENTER_PROCESSING_GUARANTEE="exactly_once"
    )
    done = start_worker(env)
    assert done.returncode == 2
    assert "SEGMENTER_PROCESSING_GUARANTEE" in done.stderr and "exactly_once needs the batch engine" in done.stderr
    assert "#323, #517" in done.stderr
    assert "Traceback" not in done.stderr


def test_exactly_once_against_a_broker_without_transactions_is_refused_in_one_line(
    redis_url: str, tmp_path: Path
) -> None:
    tansu = start_kafka(tmp_path)
    try:
        env = os.environ | worker_env(
            tansu.url, redis_url, SEGMENTER_ENGINE="batch", SEGMENTER_PROCESSING_GUARANTEE="exactly_once"
        )
        done = start_worker(env)
    finally:
        tansu.stop()
    assert done.returncode == 2
    assert "batch engine, exactly_once, batches of up to 4,000 leads" in done.stderr  # the start line: its default
    assert f"Kafka at {tansu.url} cannot run transactions" in done.stderr
    assert "use at_least_once there" in done.stderr
    assert "Traceback" not in done.stderr
