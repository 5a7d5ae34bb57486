"""FLUSHALL on Redis under load (issue 20, item 4): the workers keep routing with the model they hold, put the
model registry back from the registry topic, and never serve an older version. The Redis is the test's own."""

import time
from pathlib import Path

import pytest

from models.events import SegmentAssigned
from tests.integration.apache import RedisNode
from tests.integration.figures import Figures
from tests.integration.harness import Worker, drain, leads
from tests.integration.test_control import command
from tests.integration.test_faults_outages import longest_gap
from tests.integration.test_registry import key, plain, two_models
from tests.integration.traffic import Probe, Stream
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

GAP_LIMIT_SECONDS = 2.0
RESTORE_LIMIT_SECONDS = 10.0


def test_flushall_under_load_keeps_outputs_flowing_and_puts_the_pointer_back_without_going_back(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path, figures: Figures
) -> None:
    n, rate = 20_000, 1000.0
    env = two_models(kafka_bootstrap, own_redis.url, tmp_path)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    workers = [Worker(env, tmp_path).launch() for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    assert command(env, command="set_k", k=4).type == "k_set"
    store = plain(env)
    table, records = leads(n, seed=5)
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records, rate=rate).start()
        wait_for(lambda: min(probe.end_offsets(out).values()) >= n // 8, 60, "outputs on both partitions", interval=0.1)
        store.flushall()
        flushed = time.time()
        wait_for(lambda: store.get(key(env, "model", "current")) is not None, 30, "the pointer back")
        restored = time.time() - flushed
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 120, "consumer lag back to 0")
    for worker in workers:
        worker.stop()
    outputs = drain(kafka_bootstrap, out)
    events = [SegmentAssigned.model_validate_json(o.value) for o in outputs]
    gap, partition, gap_from = longest_gap(outputs, since=flushed)
    figures.record(
        "registry_flushall", leads=n, rate_per_s=int(rate), pointer_back_s=round(restored, 3),
        max_output_gap_s=round(gap, 2),
    )  # fmt: skip
    assert {e.lead_id for e in events} == set(table.ids)
    assert {e.model_version for e in events} == {2}  # never an older version
    assert store.get(key(env, "model", "current")) == "2"
    assert store.lrange(key(env, "model", "history"), 0, -1) == ["1", "2"]
    assert store.hget(key(env, "controls"), "k") == "4"
    assert restored <= RESTORE_LIMIT_SECONDS
    assert gap <= GAP_LIMIT_SECONDS, (
        f"no output on partition {partition} for {gap:.2f} s from {gap_from - flushed:+.2f} s after the FLUSHALL"
    )
    assert any("put back from" in w.log() for w in workers)
