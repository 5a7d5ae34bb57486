"""How the worker starts: topics it creates and checks, waiting for a model, secrets kept out of logs."""

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.harness import Worker, consume, leads, model_file, partitions, produce, publish, worker_env
from tests.integration.traffic import Probe
from tests.waiting import wait_for


def test_worker_creates_its_topics_with_the_configured_partitions(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url, SEGMENTER_PARTITIONS="3")
    names = [env[f"SEGMENTER_{t}_TOPIC"] for t in ("LEADS", "SEGMENTS", "DLQ", "TRANSITIONS", "CONTROL", "MODELS")]
    with Worker(env, tmp_path):
        pass
    assert partitions(kafka_bootstrap, names) == dict(zip(names, [3, 3, 3, 3, 1, 1], strict=True))


def test_a_topic_with_other_partitions_stops_the_worker_with_a_clear_error(
    kafka_bootstrap: str, redis_url: str
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url, SEGMENTER_PARTITIONS="2")

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(env["SEGMENTER_LEADS_TOPIC"], 3, 1)])
        finally:
            await admin.close()

    asyncio.run(create())
    done = subprocess.run(
        [sys.executable, "-m", "segmenter", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert f"topic {env['SEGMENTER_LEADS_TOPIC']} has 3 partitions, the settings say 2" in done.stderr
    assert "Traceback" not in done.stderr
    as_json = subprocess.run(
        [sys.executable, "-m", "segmenter", "worker"], env=env | {"SEGMENTER_LOG_FORMAT": "json"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    lines = [json.loads(line) for line in as_json.stderr.splitlines()]  # every line one JSON object
    assert as_json.returncode == 2 and as_json.stdout == ""
    assert lines[-1]["level"] == "ERROR" and "has 3 partitions, the settings say 2" in lines[-1]["message"]


def test_without_a_model_leads_wait_and_are_assigned_once_one_is_published(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url)
    path, _ = model_file(tmp_path, k=5, version=1)
    _, records = leads(200, seed=4)
    with Worker(env, tmp_path) as worker:
        produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records)
        early = consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 1, timeout=4)
        publish(env, path)
        outputs = consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 200)
        log = worker.log()
    assert early == []
    assert len({o.json()["lead_id"] for o in outputs}) == 200
    assert "no model in the store yet" in log


def test_secrets_never_reach_the_log(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    password = urlsplit(redis_url).password
    env = os.environ | worker_env(kafka_bootstrap, redis_url, SEGMENTER_LOG_LEVEL="DEBUG")
    path, _ = model_file(tmp_path, k=5, version=1)
    with Worker(env, tmp_path) as worker:
        publish(env, path)
        wait_for(lambda: "serving model version 1" in worker.log(), 30, "model 1 at the worker")
        log = worker.log()
    assert "serving model version 1" in log
    assert env["SEGMENTER_REDIS_URL"] not in log or password is None
    if password:
        assert password not in log


def test_produce_and_tail_commands_round_trip(kafka_bootstrap: str, redis_url: str, tmp_path: Path) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url)
    path, _ = model_file(tmp_path, k=5, version=1)
    leads_csv = tmp_path / "leads.csv"

    def segmenter(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "segmenter", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    assert segmenter("generate", "--n", "300", "--seed", "2", "--out", str(leads_csv)).returncode == 0
    with Worker(env, tmp_path):
        publish(env, path)
        sent = segmenter("produce", str(leads_csv), "--rate", "1000")
        assert sent.returncode == 0, sent.stderr
        assert "sent 300 leads" in sent.stderr
        outputs = consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 300)
    assert len({o.json()["lead_id"] for o in outputs}) == 300
    tail = segmenter("tail", "--n", "4")
    assert tail.returncode == 0, tail.stderr
    shown = [line for line in tail.stdout.splitlines() if line.startswith("│ L")]
    assert len(shown) == 4


def test_a_worker_waiting_for_a_model_stops_promptly_and_loses_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url)
    path, _ = model_file(tmp_path, k=5, version=1)
    _, records = leads(100, seed=6)
    waiting = Worker(env, tmp_path).start()
    produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records)
    with Probe(kafka_bootstrap) as probe:  # the group is stable: the worker holds the partitions and fetches
        wait_for(lambda: probe.members(env["SEGMENTER_APP_ID"]) == 1, 30, "the worker in the leads' group")
    started = time.monotonic()
    waiting.stop(timeout=30)  # raises if SIGTERM is not honoured
    stopped_in = time.monotonic() - started
    with Worker(env, tmp_path):
        publish(env, path)
        outputs = consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 100)
    assert stopped_in < 30
    assert len({o.json()["lead_id"] for o in outputs}) == 100


def test_json_logs_are_one_object_a_line_from_the_banner_to_the_stop(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url, SEGMENTER_LOG_FORMAT="json")
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    _, records = leads(50, seed=5)
    worker = Worker(env, tmp_path).start()  # its stdout and stderr, both into the log
    produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records)
    assert len(consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 50)) == 50
    assert worker.stop() == 0
    entries = [json.loads(line) for line in worker.log().splitlines()]
    messages = [entry["message"] for entry in entries]
    assert messages[0].startswith(f"worker {env['SEGMENTER_APP_ID']}: Kafka {kafka_bootstrap}, Redis ")
    assert "[^Worker]: Ready" in messages
    assert messages[-1] == "worker stopped on signal SIGTERM; every lead it read is committed", messages[-5:]
