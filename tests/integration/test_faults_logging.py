"""A broker stopped under a routing worker (issue 15): the outage is said once when delivery fails and once
when it recovers, not a line per retry (aiokafka alone logged about 3,000 a second), and the worker does not
spin while nothing can be sent. Stops a broker of its own (tests/integration/apache.py)."""

import os
import time
from pathlib import Path

import pytest

from tests.integration.apache import KafkaNode
from tests.integration.figures import Figures
from tests.integration.harness import Worker, leads, model_file, produce, publish, worker_env
from tests.integration.traffic import Probe
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

OUTAGE_SECONDS = 12
LEADS = 150_000
MAX_LINES_DURING_OUTAGE = 25
MAX_CORES_DURING_OUTAGE = 0.5


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_a_broker_outage_is_logged_once_each_way_and_burns_no_core(
    own_kafka: KafkaNode, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    kafka = own_kafka.bootstrap
    env = os.environ | worker_env(kafka, redis_url, SEGMENTER_WEB_PORT="0")
    topic, out = env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    path, _ = model_file(tmp_path, k=5, version=1)
    _, records = leads(LEADS, seed=3)
    worker = Worker(env, tmp_path).start()
    assert worker.process is not None
    produce(kafka, topic, records)
    publish(env, path)
    with Probe(kafka) as probe:
        wait_for(lambda: sum(probe.end_offsets(out).values()) >= 2_000, 120, "the first assignments", interval=0.1)
    lines_before = len(worker.log().splitlines())
    own_kafka.stop()
    cpu_before, stopped_at = cpu_seconds(worker.process.pid), time.monotonic()
    time.sleep(OUTAGE_SECONDS)  # the window whose log lines and CPU are measured
    cores = (cpu_seconds(worker.process.pid) - cpu_before) / (time.monotonic() - stopped_at)
    during = worker.log().splitlines()[lines_before:]
    own_kafka.start()
    with Probe(kafka) as probe:
        wait_for(lambda: sum(probe.end_offsets(out).values()) >= LEADS, 240, "every lead assigned after the outage")
    log = worker.log()
    worker.stop()
    figures.record(
        "broker_outage_logs",
        outage_s=OUTAGE_SECONDS,
        lines_logged_during_outage=len(during),
        cores_used_during_outage=round(cores, 2),
    )

    assert len(during) <= MAX_LINES_DURING_OUTAGE, "\n".join(during)
    assert cores <= MAX_CORES_DURING_OUTAGE, f"{cores:.2f} of a core used while the broker was down"
    assert log.count("messages not delivered: retrying") <= 1
    if "messages not delivered: retrying" in log:
        assert log.count("delivery recovered after") == 1
    assert log.count("[^Worker]: Ready") == 1
