"""Any Kafka client can steer the workers: Debian's kcat sends `status` and `rollback` as plain JSON on the control
topic and reads the replies on the models topic. On Apache Kafka only: Debian 12's kcat (librdkafka 2.0) cannot
speak to the embedded Tansu broker (its handshake fails with "Read underflow" whatever the protocol settings)."""

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Worker, model_file, publish, worker_env
from tests.waiting import wait_for

KCAT = shutil.which("kcat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed (.ci/services.sh installs it)")


def kcat_send(bootstrap: str, topic: str, command: dict[str, Any]) -> None:
    assert KCAT is not None
    sent = subprocess.run(
        [KCAT, "-P", "-b", bootstrap, "-t", topic], input=json.dumps(command).encode(), capture_output=True, timeout=30
    )
    assert sent.returncode == 0, sent.stderr


def kcat_reply(bootstrap: str, topic: str, request_id: str) -> dict[str, Any]:
    """The reply to `request_id`, read from the start of the models topic with kcat."""
    assert KCAT is not None
    found: dict[str, Any] = {}

    def replied() -> bool:
        read = subprocess.run(
            [KCAT, "-C", "-b", bootstrap, "-t", topic, "-o", "beginning", "-e", "-q"], capture_output=True, timeout=30
        )
        events = [json.loads(line) for line in read.stdout.splitlines() if line.strip()]
        found.update(next((e for e in events if e.get("request_id") == request_id), {}))
        return bool(found)

    wait_for(replied, 30, f"kcat reading the reply to {request_id} on {topic}", 0.5)
    return found


def test_kcat_asks_for_the_status_and_rolls_back(apache_kafka: str, redis_url: str, tmp_path: Path) -> None:
    env = os.environ | worker_env(apache_kafka, redis_url)
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    publish(env, model_file(tmp_path, k=4, version=2)[0])
    control, models = env["SEGMENTER_CONTROL_TOPIC"], env["SEGMENTER_MODELS_TOPIC"]
    with Worker(env, tmp_path):
        kcat_send(apache_kafka, control, {"command": "status", "request_id": "kcat-status"})
        status = kcat_reply(apache_kafka, models, "kcat-status")
        assert status["type"] == "status" and status["version"] == 2
        assert (status["status"]["served_version"], status["status"]["current_version"]) == (2, 2)

        kcat_send(apache_kafka, control, {"command": "rollback", "request_id": "kcat-rollback"})
        rolled = kcat_reply(apache_kafka, models, "kcat-rollback")
        assert (rolled["type"], rolled["restored_from"], rolled["previous_version"], rolled["k"]) == (
            "rolled_back", 1, 2, 5
        )  # fmt: skip
        assert rolled["version"] > 2
