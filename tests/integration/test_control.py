"""Operators steer the workers through Kafka (issue 13): every command gets one reply on the models topic, a
refit serves only if its gate passes, a rollback reaches every worker, and a pin holds across restarts."""

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from aiokafka import AIOKafkaProducer

from models.control import ModelEvent, StatusReport
from segmentation.synthetic import generate_leads
from segmenter.control_cli import ask
from segmenter.leads_io import write_leads
from tests.integration.harness import Worker, drain, leads, model_file, produce, publish, settings_of, worker_env
from tests.populations import noise, with_a_sixth_group
from tests.waiting import wait_for

SEED_LEADS = 6_000


def refit_env(kafka: str, redis_url: str, tmp_path: Path, sample: np.ndarray) -> dict[str, str]:
    """A worker whose refit sample starts as `sample`, with a model (K=5) published."""
    seed_file = tmp_path / "sample.csv"
    write_leads(seed_file, [f"S{i:06d}" for i in range(len(sample))], sample, {})
    env = os.environ | worker_env(
        kafka, redis_url, SEGMENTER_REFIT_SEED_FILE=str(seed_file), SEGMENTER_REFIT_MIN_LEADS="1000"
    )
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    return env


def two_models(kafka: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A worker's settings, with version 1 (K=5) then version 2 (K=4) published."""
    env = os.environ | worker_env(kafka, redis_url)
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    publish(env, model_file(tmp_path, k=4, version=2)[0])
    return env


async def send_dated(kafka: str, topic: str, value: bytes, age_seconds: float = 120) -> None:
    """Send `value` with a record timestamp `age_seconds` in the past."""
    producer = AIOKafkaProducer(bootstrap_servers=kafka, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, timestamp_ms=int((time.time() - age_seconds) * 1000))
    finally:
        await producer.stop()


def command(env: dict[str, str], timeout: float = 30, **fields: Any) -> ModelEvent:
    reply = asyncio.run(ask(settings_of(env), fields, timeout))
    assert reply is not None, f"no reply to {fields} within {timeout}s"
    return reply


def served_versions(env: dict[str, str], n: int, first: int) -> set[int]:
    """The model versions of the assignments of `n` new leads."""
    kafka = env["SEGMENTER_KAFKA_BOOTSTRAP"]
    _, records = leads(n, seed=first, prefix=f"N{first}-")
    produce(kafka, env["SEGMENTER_LEADS_TOPIC"], records)
    wanted = {key for key, _ in records}
    found: dict[bytes | None, int] = {}

    def all_assigned() -> bool:
        found.update({o.key: o.json()["model_version"] for o in drain(kafka, env["SEGMENTER_SEGMENTS_TOPIC"])})
        return wanted <= set(found)

    wait_for(all_assigned, 60, "the new leads' assignments")
    return {found[key] for key in wanted}


def test_a_refit_on_the_same_leads_never_serves_a_worse_model_and_every_command_is_answered(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = refit_env(kafka_bootstrap, redis_url, tmp_path, generate_leads(SEED_LEADS, random_state=31).X)
    with Worker(env, tmp_path):
        status = command(env, command="status", request_id="s1")
        assert (status.type, status.request_id) == ("status", "s1")
        assert isinstance(status.status, StatusReport) and status.status.served_version == 1
        assert status.status.sampled_leads == SEED_LEADS
        bad = command(env, command="set_k", k=1, request_id="bad")
        assert (bad.type, bad.request_id) == ("error", "bad") and "k:" in bad.reasons[0]
        unknown = command(env, command="reboot")
        assert unknown.type == "error" and "unknown command" in unknown.reasons[0]

        refit = command(env, command="refit", timeout=300)
        assert refit.type in ("promoted", "rejected") and refit.gate is not None
        if refit.type == "promoted":  # never a worse model: within every tolerance of the served one
            assert refit.gate.candidate["silhouette"] >= refit.gate.served["silhouette"] - 0.05
            assert refit.gate.candidate["inertia_per_lead"] <= refit.gate.served["inertia_per_lead"] * 1.05
            assert refit.gate.moved_share <= 0.3
            assert served_versions(env, 20, first=1) == {refit.version}
        report = command(env, command="status").status
        assert isinstance(report, StatusReport) and report.last_refit and report.last_refit.outcome == refit.type


def test_a_refit_on_noise_is_rejected_and_the_served_model_stays(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = refit_env(kafka_bootstrap, redis_url, tmp_path, noise(SEED_LEADS, seed=32))
    with Worker(env, tmp_path):
        refit = command(env, command="refit", request_id="n1", timeout=300)
        assert (refit.type, refit.request_id, refit.version) == ("rejected", "n1", 1), refit
        assert refit.reasons and refit.gate is not None and refit.gate.decision == "rejected"
        assert served_versions(env, 20, first=2) == {1}


def test_k_chosen_again_serves_a_sixth_group_and_set_k_holds_it(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = refit_env(kafka_bootstrap, redis_url, tmp_path, with_a_sixth_group(SEED_LEADS, seed=33))
    with Worker(env, tmp_path):
        refit = command(env, command="refit", timeout=300)
        assert (refit.type, refit.k) == ("promoted", 6), refit
        assert refit.lineage is not None  # the five served segments kept, the sixth group new with a fresh id
        assert [(e.segment_id, e.kind) for e in refit.lineage] == [(i, "kept") for i in range(5)] + [(5, "new")]
        assert command(env, command="set_k", k=5).type == "k_set"
        again = command(env, command="refit", timeout=300)
        assert again.gate is not None and again.gate.k == 5


def test_rollback_reaches_every_worker_and_a_pin_holds_across_a_restart(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = two_models(kafka_bootstrap, redis_url, tmp_path)
    workers = [Worker(env, tmp_path).launch() for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    back = command(env, command="rollback", request_id="r1")
    assert (back.type, back.request_id, back.previous_version, back.restored_from) == ("rolled_back", "r1", 2, 1)
    assert back.version is not None and back.version > 2 and back.k == 5
    for worker in workers:  # every worker serves it within a second of the reply
        wait_for(lambda w=worker: w.logged_at(f"serving model version {back.version}") is not None, 10, "the swap")
        swapped = worker.logged_at(f"serving model version {back.version}")
        assert swapped is not None and swapped - back.at.timestamp() <= 1.0
    assert served_versions(env, 40, first=3) == {back.version}
    listed = subprocess.run([sys.executable, "-m", "segmenter", "models"], env=env, capture_output=True, text=True)
    assert listed.returncode == 0 and "rollback to the content of 1" in listed.stdout, listed.stderr
    empty = os.environ | worker_env(kafka_bootstrap, redis_url)
    nothing = subprocess.run([sys.executable, "-m", "segmenter", "models"], env=empty, capture_output=True, text=True)
    assert nothing.returncode == 2 and "no model published" in nothing.stderr

    pinned = command(env, command="pin", version=2)
    assert (pinned.type, pinned.restored_from) == ("pinned", 2)
    for worker in workers:
        worker.stop()
    restarted = Worker(env, tmp_path).start()
    status = command(env, command="status").status
    assert isinstance(status, StatusReport) and status.pinned == status.served_version == pinned.version
    refused = command(env, command="rollback")
    assert refused.type == "error" and "pinned" in refused.reasons[0]
    assert command(env, command="unpin").type == "unpinned"
    back = subprocess.run([sys.executable, "-m", "segmenter", "rollback"], env=env, capture_output=True, text=True)
    assert back.returncode == 0, back.stderr
    assert re.fullmatch(r"rolled back: serving the content of version 1 as version \d+ \(K=5\)\n", back.stdout)
    listed = subprocess.run([sys.executable, "-m", "segmenter", "models"], env=env, capture_output=True, text=True)
    assert "pin of the content of 2" in listed.stdout and listed.stdout.count("rollback to the content of 1") == 2
    restarted.stop()


def test_a_command_no_worker_took_in_time_expires_and_changes_nothing(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = two_models(kafka_bootstrap, redis_url, tmp_path)
    unanswered = subprocess.run(
        [sys.executable, "-m", "segmenter", "rollback", "--timeout", "1"], env=env, capture_output=True, text=True
    )
    assert unanswered.returncode == 1 and "no worker will carry it out later" in unanswered.stderr, unanswered.stderr
    # As kcat sends it: no sent_at, so the record's own time (here two minutes ago) is its age.
    asyncio.run(
        send_dated(kafka_bootstrap, env["SEGMENTER_CONTROL_TOPIC"], b'{"command": "rollback", "request_id": "bare"}')
    )
    with Worker(env, tmp_path):
        replies: list[dict[str, Any]] = []

        def expired_replies() -> bool:
            replies[:] = [o.json() for o in drain(kafka_bootstrap, env["SEGMENTER_MODELS_TOPIC"], timeout=10)]
            return len([r for r in replies if r["type"] == "expired"]) == 2

        wait_for(expired_replies, 60, lambda: f"an expired reply to each rollback sent before the worker: {replies}")
        late, bare = [r for r in replies if r["type"] == "expired"]
        assert (late["cause"], late["version"]) == ("rollback", 2)
        assert late["age_seconds"] >= 1 and "past its deadline" in late["reasons"][0]
        assert (bare["request_id"], bare["version"]) == ("bare", 2) and bare["age_seconds"] >= 120
        assert "more than SEGMENTER_COMMAND_TTL_SECONDS (60s)" in bare["reasons"][0]
        assert not [r for r in replies if r["type"] == "rolled_back"]
        status = command(env, command="status").status
        assert isinstance(status, StatusReport) and (status.served_version, status.history) == (2, [1, 2])
        shown = subprocess.run([sys.executable, "-m", "segmenter", "status"], env=env, capture_output=True, text=True)
        assert shown.returncode == 0, shown.stderr
        assert "served model:      version 2, K=4 segments (current in Redis: 2)" in shown.stdout, shown.stdout
        assert "K of later refits: auto (chosen again by each refit)" in shown.stdout
        raw = subprocess.run(
            [sys.executable, "-m", "segmenter", "status", "--json"], env=env, capture_output=True, text=True
        )
        reply = ModelEvent.model_validate_json(raw.stdout)
        assert raw.returncode == 0 and reply.type == "status" and len(raw.stdout.splitlines()) == 1
