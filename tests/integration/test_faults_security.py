"""Security settings (issue 5, test 8): Kafka SASL/SCRAM and SSL, and a Redis ACL user with a password, as
CI's services require them. They work through the settings, wrong credentials give a clear error, and no
secret reaches a log."""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from models.snapshot import ModelSnapshot
from tests.integration.figures import Figures
from tests.integration.harness import (
    Worker,
    consume,
    leads,
    model_file,
    produce,
    publish,
    publish_snapshot,
    worker_env,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

SASL_ENV, SSL_ENV = "SEGMENTER_TEST_KAFKA_SASL", "SEGMENTER_TEST_KAFKA_SSL"
LEADS = 300


def listener_settings() -> tuple[dict[str, str], dict[str, str]]:
    """Worker settings for CI's SASL_PLAINTEXT and SSL listeners, from `.ci/services.sh`'s exports."""
    needed = [
        SASL_ENV,
        f"{SASL_ENV}_USER",
        f"{SASL_ENV}_PASSWORD",
        f"{SASL_ENV}_MECHANISM",
        SSL_ENV,
        f"{SSL_ENV}_CAFILE",
    ]
    if missing := [name for name in needed if not os.environ.get(name)]:
        pytest.skip(f"needs CI's SASL and SSL listeners (`.ci/services.sh start`): {', '.join(missing)} unset")
    sasl = {
        "SEGMENTER_KAFKA_BOOTSTRAP": os.environ[SASL_ENV],
        "SEGMENTER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "SEGMENTER_KAFKA_SASL_MECHANISM": os.environ[f"{SASL_ENV}_MECHANISM"],
        "SEGMENTER_KAFKA_SASL_USERNAME": os.environ[f"{SASL_ENV}_USER"],
        "SEGMENTER_KAFKA_SASL_PASSWORD": os.environ[f"{SASL_ENV}_PASSWORD"],
    }
    ssl = {
        "SEGMENTER_KAFKA_BOOTSTRAP": os.environ[SSL_ENV],
        "SEGMENTER_KAFKA_SECURITY_PROTOCOL": "SSL",
        "SEGMENTER_KAFKA_SSL_CAFILE": os.environ[f"{SSL_ENV}_CAFILE"],
    }
    return sasl, ssl


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.username}:{password}@{parts.hostname}:{parts.port}").geturl()


def segmenter(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "segmenter", *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def route_leads(kafka: str, workers: list[Worker], snapshot: ModelSnapshot, path: Path) -> list[set[str]]:
    """Publish a model for each worker (the first through `segmenter publish`), send each its leads, and
    return the lead ids each assigned."""
    for worker in workers:
        worker.launch()
    for worker in workers:
        worker.wait_ready()
    publish(workers[0].env, path)
    for worker in workers[1:]:
        publish_snapshot(worker.env, snapshot)
    table, records = leads(LEADS, seed=17)
    for worker in workers:
        produce(kafka, worker.env["SEGMENTER_LEADS_TOPIC"], records)
    assigned = [
        {o.json()["lead_id"] for o in consume(kafka, w.env["SEGMENTER_SEGMENTS_TOPIC"], LEADS)} for w in workers
    ]
    for worker in workers:
        worker.stop()
    assert all(ids == set(table.ids) for ids in assigned)
    return assigned


def test_sasl_ssl_and_a_redis_acl_user_work_wrong_credentials_fail_clearly_and_no_secret_is_logged(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    sasl, ssl = listener_settings()
    redis_password = urlsplit(redis_url).password
    assert urlsplit(redis_url).username and redis_password, "CI's Redis has an ACL user with a password"
    debug = {"SEGMENTER_LOG_LEVEL": "DEBUG"}  # the most a log ever says
    sasl_env = os.environ | worker_env(kafka_bootstrap, redis_url) | sasl | debug
    ssl_env = os.environ | worker_env(kafka_bootstrap, redis_url) | ssl | debug
    wrong_kafka, wrong_redis = secrets.token_hex(12), secrets.token_hex(12)
    path, snapshot = model_file(tmp_path, k=5, version=1)

    # The right credentials: a worker over SASL/SCRAM and one over SSL, both using Redis as its ACL user.
    good = [Worker(sasl_env, tmp_path), Worker(ssl_env, tmp_path)]
    assigned = route_leads(kafka_bootstrap, good, snapshot, path)

    # The wrong ones, side by side: a bad SASL password, a CA that did not sign the broker, a bad Redis password.
    wrong_redis_env = sasl_env | {"SEGMENTER_REDIS_URL": with_password(redis_url, wrong_redis)}
    locked_out = Worker(wrong_redis_env, tmp_path).launch()
    refusals = {
        "kafka password": segmenter(sasl_env | {"SEGMENTER_KAFKA_SASL_PASSWORD": wrong_kafka}, "worker"),
        "untrusted broker": segmenter(ssl_env | {"SEGMENTER_KAFKA_SSL_CAFILE": ""}, "worker"),
        "redis password": segmenter(wrong_redis_env, "publish", str(path)),
    }
    outcomes = {what: (run.wait(120), run.communicate()[1]) for what, run in refusals.items()}
    locked_out.wait_ready()
    wait_for(lambda: "model store unreachable" in locked_out.log(), 30, "the worker reporting that Redis refused it")
    locked_out.stop()

    logs = [worker.log() for worker in [*good, locked_out]] + [stderr for _, stderr in outcomes.values()]
    leaked = [
        s
        for s in (sasl["SEGMENTER_KAFKA_SASL_PASSWORD"], redis_password, wrong_kafka, wrong_redis)
        if any(s in log for log in logs)
    ]
    figures.record(
        "security",
        kafka="SASL_PLAINTEXT SCRAM-SHA-256 and SSL",
        redis="ACL user with password",
        leads_assigned=sum(len(ids) for ids in assigned),
        wrong_credentials_exit_codes=", ".join(f"{what} {code}" for what, (code, _) in outcomes.items()),
        secrets_in_logs=len(leaked),
    )
    assert {code for code, _ in outcomes.values()} == {2}
    assert all("Traceback" not in stderr for _, stderr in outcomes.values())
    assert "invalid credentials" in outcomes["kafka password"][1]
    assert "CERTIFICATE_VERIFY_FAILED" in outcomes["untrusted broker"][1]
    assert "invalid username-password pair" in outcomes["redis password"][1]
    assert "invalid username-password pair" in locked_out.log()
    assert leaked == []
