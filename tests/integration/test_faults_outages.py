"""Kafka or Redis going away under a running worker (issue 5, tests 3 and 4; issue 11: Redis hung). Each test
stops a broker or server of its own (tests/integration/apache.py), never the shared CI services."""

import os
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.integration.apache import KafkaNode, RedisNode
from tests.integration.figures import Figures
from tests.integration.harness import (
    Output,
    Worker,
    drain,
    leads,
    model_file,
    previous_segments,
    produce,
    publish,
    publish_snapshot,
    worker_env,
)
from tests.integration.traffic import Probe, Stream
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

SEED = 7
KAFKA_OUTAGE_SECONDS = 15
BACKLOG = 200_000
REDIS_OUTAGE_SECONDS = 30
REDIS_HANG_SECONDS = 20
GAP_LIMIT_SECONDS = 2.0


def test_after_a_broker_outage_the_worker_resumes_without_a_restart_and_loses_nothing(
    own_kafka: KafkaNode, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    kafka = own_kafka.bootstrap
    env = os.environ | worker_env(kafka, redis_url)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    path, _ = model_file(tmp_path, k=5, version=1)
    # A backlog sent before the model is published (the worker waits for one, committing nothing), so that
    # routing starts on all of it and the broker stops mid-backlog; the leads sent after the outage make
    # sure there is work to resume however fast the worker was.
    table, records = leads(BACKLOG + 2_000, seed=SEED)
    worker = Worker(env, tmp_path).start()
    produce(kafka, topic, records[:BACKLOG])
    publish(env, path)
    with Probe(kafka) as probe:
        wait_for(lambda: sum(probe.end_offsets(out).values()) >= 2_000, 120, "the first assignments", interval=0.1)
    own_kafka.stop()
    time.sleep(KAFKA_OUTAGE_SECONDS)
    own_kafka.start()
    back = time.monotonic()
    with Probe(kafka) as probe:
        outputs_when_back = sum(probe.end_offsets(out).values())
        produce(kafka, topic, records[BACKLOG:])
        wait_for(
            lambda: sum(probe.end_offsets(out).values()) > outputs_when_back, 120, "a new assignment", interval=0.1
        )
        resumed_in = time.monotonic() - back
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 180, "consumer lag back to 0")
        caught_up_in = time.monotonic() - back
    never_restarted = worker.alive
    worker.stop()
    assigned = {o.json()["lead_id"] for o in drain(kafka, out)}
    figures.record(
        "broker_outage",
        outage_s=KAFKA_OUTAGE_SECONDS,
        assigned_before_outage=outputs_when_back,
        backlog_when_broker_stopped=max(BACKLOG - outputs_when_back, 0),
        resume_after_broker_back_s=round(resumed_in, 1),
        caught_up_after_broker_back_s=round(caught_up_in, 1),
    )
    assert never_restarted
    assert assigned == set(table.ids)
    assert worker.log().count("[^Worker]: Ready") == 1  # started once, never restarted


def test_during_a_redis_outage_every_lead_is_assigned_and_a_model_published_after_it_reaches_the_worker(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path, figures: Figures
) -> None:
    n, rate = 33_000, 900.0  # about 37 s of leads: 30 s of them during the outage
    env = os.environ | worker_env(kafka_bootstrap, own_redis.url)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    first, _ = model_file(tmp_path, k=5, version=1)
    _, second = model_file(tmp_path, k=4, version=2, seed=1)
    table, records = leads(n, seed=SEED + 1)
    worker = Worker(env, tmp_path).start()
    publish(env, first)
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records, rate=rate).start()
        wait_for(lambda: sum(probe.end_offsets(out).values()) >= 2 * rate, 60, "the first assignments", interval=0.1)
        own_redis.stop()
        down_at = time.time()
        time.sleep(REDIS_OUTAGE_SECONDS)
        own_redis.start()
        up_at = published_at = time.time()
        publish_snapshot(env, second)
        wait_for(lambda: worker.logged_at("serving model version 2") is not None, 30, "model 2 at the worker")
        served_at = worker.logged_at("serving model version 2")
        assert served_at is not None
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 180, "consumer lag back to 0")
    worker.stop()
    outputs = [(o.timestamp_ms / 1000, o.json()) for o in drain(kafka_bootstrap, out)]
    dead = drain(kafka_bootstrap, env["SEGMENTER_DLQ_TOPIC"])
    during = [e for at, e in outputs if down_at <= at <= up_at]
    figures.record(
        "redis_outage",
        outage_s=REDIS_OUTAGE_SECONDS,
        assigned_during_outage=len(during),
        failed_assignments=len(dead),
        new_model_served_after_publish_s=round(max(served_at - published_at, 0.0), 2),
    )
    assert dead == []
    assert {e["lead_id"] for _, e in outputs} == set(table.ids)
    assert len(during) > 0.5 * rate * REDIS_OUTAGE_SECONDS  # the in-memory model kept serving
    assert {e["model_version"] for e in during} == {1}
    assert {e["model_version"] for at, e in outputs if at > served_at + 1} == {2}
    assert set(previous_segments(env)) == set(table.ids)  # writes queued during the outage reached Redis


def longest_gap(outputs: Sequence[Output], since: float) -> tuple[float, int, float]:
    """The longest time (s) between two consecutive outputs of one partition produced after `since` (epoch s),
    counting from the last output before it; with the partition and when (epoch s) the gap began."""
    times: dict[int, list[float]] = defaultdict(list)
    for o in outputs:
        times[o.partition].append(o.timestamp_ms / 1000)
    gaps = [(0.0, -1, since)]
    for partition, stamps in times.items():
        stamps.sort()
        first = max(0, next((i for i, at in enumerate(stamps) if at >= since), len(stamps)) - 1)
        gaps += [(b - a, partition, a) for a, b in zip(stamps[first:], stamps[first + 1 :], strict=False)]
    return max(gaps)


def test_while_redis_hangs_outputs_never_stop_for_more_than_two_seconds_and_nothing_is_lost(
    kafka_bootstrap: str, own_redis: RedisNode, tmp_path: Path, figures: Figures
) -> None:
    n, rate = 18_000, 600.0  # 30 s of leads: the hang starts once both partitions have outputs
    env = os.environ | worker_env(kafka_bootstrap, own_redis.url)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    path, _ = model_file(tmp_path, k=5, version=1)
    table, records = leads(n, seed=SEED + 2)
    workers = [Worker(env, tmp_path).launch(), Worker(env, tmp_path).launch()]
    for worker in workers:
        worker.wait_ready()
    publish(env, path)
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records, rate=rate).start()
        wait_for(lambda: min(probe.end_offsets(out).values()) >= 300, 60, "outputs on both partitions", interval=0.1)
        hung_at = time.time()
        with own_redis.hung():  # SIGCONT when the block ends, also when it fails
            time.sleep(REDIS_HANG_SECONDS)  # the fault's length, not a wait for a condition
        resumed_at = time.time()
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 180, "consumer lag back to 0")
    for worker in workers:
        worker.stop()
    outputs = drain(kafka_bootstrap, out)
    dead = drain(kafka_bootstrap, env["SEGMENTER_DLQ_TOPIC"])
    gap, partition, gap_from = longest_gap(outputs, since=hung_at)
    figures.record(
        "redis_hang",
        hang_s=REDIS_HANG_SECONDS,
        leads=n,
        rate_per_s=int(rate),
        assigned_during_hang=sum(hung_at <= o.timestamp_ms / 1000 <= resumed_at for o in outputs),
        max_output_gap_s=round(gap, 2),
    )
    assert dead == []
    assert {o.json()["lead_id"] for o in outputs} == set(table.ids)
    assert gap <= GAP_LIMIT_SECONDS, (
        f"no output on partition {partition} for {gap:.2f} s from {gap_from - hung_at:+.2f} s after Redis hung "
        f"(limit {GAP_LIMIT_SECONDS} s)"
    )
    # the writes made while Redis hung reach it once it answers again
    wait_for(lambda: set(previous_segments(env)) == set(table.ids), 30, "every lead's previous segment in Redis")
    assert previous_segments(env) == {o.json()["lead_id"]: o.json()["segment_id"] for o in outputs}
