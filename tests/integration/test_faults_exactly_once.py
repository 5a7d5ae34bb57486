"""exactly_once (issue 20, items 1 and 3), from outside on Apache Kafka: a read_committed reader sees every lead's
output once, and each transition once, through kill -9 at random points under load, a zombie worker (SIGSTOP past
the session timeout, then SIGCONT) and a broker restart mid-transaction. Each lead is sent twice (the second time
with other features), so that a lost or doubled transition shows."""

import asyncio
import os
import random
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.integration.apache import KafkaNode
from tests.integration.figures import Figures
from tests.integration.harness import ENGINE_ENV, Output, Worker, leads, model_file, partitions, publish, worker_env
from tests.integration.traffic import Probe, Stream
from tests.waiting import wait_for

pytestmark = [
    pytest.mark.faults,
    pytest.mark.skipif(
        os.environ.get(ENGINE_ENV) == "agent",
        reason="exactly_once is the batch engine's; the agent run tests it is refused",
    ),
]

SEED = 20
KILLS = 3


def eos_env(kafka: str, redis_url: str) -> dict[str, str]:
    return os.environ | worker_env(
        kafka, redis_url, SEGMENTER_ENGINE="batch", SEGMENTER_PROCESSING_GUARANTEE="exactly_once"
    )


def twice(n: int) -> tuple[list[str], list[tuple[bytes, bytes]]]:
    """`n` leads, each sent twice with different features."""
    table, first = leads(n, seed=SEED)
    _, second = leads(n, seed=SEED + 1)
    return table.ids, first + second


def read_committed(
    kafka: str, topic: str, timeout: float = 120, isolation_level: str = "read_committed"
) -> list[Output]:
    """Everything committed in `topic` now, as a read_committed consumer sees it (aborted records and markers
    skipped), up to the last stable offset of each partition; with read_uncommitted, aborted records too."""

    count = partitions(kafka, [topic])[topic]

    async def run() -> list[Output]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=kafka, group_id=None, auto_offset_reset="earliest", isolation_level=isolation_level
        )
        await consumer.start()
        try:
            partitions = [TopicPartition(topic, p) for p in range(count)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            found: list[Output] = []
            deadline = time.monotonic() + timeout
            while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
                assert time.monotonic() < deadline, f"{topic} not read to its end within {timeout}s"
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    found += [Output(m.partition, m.offset, m.key, m.value, {}, m.timestamp) for m in records]
            return found
        finally:
            await consumer.stop()

    return asyncio.run(run())


def check_exactly_once(kafka: str, env: dict[str, str], ids: list[str]) -> dict[str, Any]:
    """Assert what a read_committed reader sees: two outputs per lead, in order, the second's previous segment the
    first's segment, one transition exactly where the segment changed, no dead letter. Returns the counts."""
    segments = [o.json() for o in sorted(read_committed(kafka, env["SEGMENTER_SEGMENTS_TOPIC"]), key=_order)]
    transitions = [o.json() for o in read_committed(kafka, env["SEGMENTER_TRANSITIONS_TOPIC"])]
    dead = read_committed(kafka, env["SEGMENTER_DLQ_TOPIC"])
    written = read_committed(kafka, env["SEGMENTER_SEGMENTS_TOPIC"], isolation_level="read_uncommitted")
    per_lead: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for output in segments:
        per_lead[output["lead_id"]].append(output)
    extra = len(segments) - 2 * len(ids)
    missing = sorted(set(ids) - set(per_lead))
    assert (extra, missing[:5], dead) == (0, [], [])
    assert len({o["event_id"] for o in segments}) == len(segments)
    assert all(len(outs) == 2 for outs in per_lead.values())
    assert all(
        first["previous_segment_id"] is None and second["previous_segment_id"] == first["segment_id"]
        for first, second in per_lead.values()
    )
    moved = sorted(lead for lead, (first, second) in per_lead.items() if first["segment_id"] != second["segment_id"])
    assert moved, "no lead moved: the transitions are not tested"
    assert sorted(t["lead_id"] for t in transitions) == moved  # each once: none lost, none doubled
    return {
        "outputs": len(segments),
        "aborted_outputs": len(written) - len(segments),  # what a read_uncommitted reader would also have seen
        "transitions": len(transitions),
        "dead_letters": len(dead),
    }


def _order(output: Output) -> tuple[int, int]:
    return output.partition, output.offset


def test_kill_9_at_random_points_under_load_leaves_every_output_exactly_once(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    n = 20_000
    env = eos_env(kafka_bootstrap, redis_url)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    ids, records = twice(n)
    path, _ = model_file(tmp_path, k=5, version=1)
    kill_points = sorted(random.Random(SEED).sample(range(len(records) // 10, 9 * len(records) // 10), KILLS))
    worker = Worker(env, tmp_path).start()
    publish(env, path)
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records).start()
        for point in kill_points:  # end offsets count aborted records too: the kill lands mid-transaction or near
            wait_for(lambda: sum(probe.end_offsets(out).values()) >= point, 240, f"{point} outputs")  # noqa: B023
            worker.stop(signal.SIGKILL)
            worker.start()
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 240, "the worker catching up")
    worker.stop()
    counts = check_exactly_once(kafka_bootstrap, env, ids)
    figures.record("eos_kill9", leads=n, events=len(records), kills=KILLS, **counts)


def test_a_zombie_worker_commits_nothing_after_its_partitions_moved(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    n = 40_000
    env = eos_env(kafka_bootstrap, redis_url)
    group, topic = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"]
    session = float(env["SEGMENTER_KAFKA_SESSION_TIMEOUT_SECONDS"])
    ids, records = twice(n)
    path, _ = model_file(tmp_path, k=5, version=1)
    zombie, other = Worker(env, tmp_path).start(), Worker(env, tmp_path).start()
    publish(env, path)
    assert zombie.process is not None
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records).start()  # a backlog: the zombie is stopped mid-batch
        wait_for(lambda: sum(probe.end_offsets(env["SEGMENTER_SEGMENTS_TOPIC"]).values()) >= 4_000, 120, "load")
        zombie.process.send_signal(signal.SIGSTOP)
        try:
            wait_for(lambda: probe.members(group) == 1, 3 * session + 30, "the group dropping the stopped worker")
            time.sleep(2)  # the other worker fences the partitions and routes them meanwhile
        finally:
            zombie.process.send_signal(signal.SIGCONT)
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 240, "the workers catching up")
    zombie.stop()
    other.stop()
    counts = check_exactly_once(kafka_bootstrap, env, ids)
    fenced = zombie.log().count("ProducerFenced")  # the zombie's transactions refused after it woke up
    figures.record("eos_zombie", leads=n, events=len(records), zombie_batches_fenced=fenced, **counts)


def test_a_broker_restart_mid_transaction_leaves_every_output_exactly_once(
    own_kafka: KafkaNode, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    n = 15_000
    kafka = own_kafka.bootstrap
    env = eos_env(kafka, redis_url)
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    ids, records = twice(n)
    path, _ = model_file(tmp_path, k=5, version=1)
    worker = Worker(env, tmp_path).start()
    publish(env, path)
    with Probe(kafka) as probe:
        stream = Stream(kafka, topic, records[:n]).start()  # the first pass, sent before the restart
        stream.join()
        wait_for(lambda: sum(probe.end_offsets(out).values()) >= n // 3, 120, "routing under way")
    own_kafka.stop()  # the worker has batches in open transactions: the backlog is far from done
    own_kafka.start()
    with Probe(kafka) as probe:
        stream = Stream(kafka, topic, records[n:]).start()
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 240, "the worker catching up")
    never_restarted = worker.alive
    worker.stop()
    counts = check_exactly_once(kafka, env, ids)
    figures.record("eos_broker_restart", leads=n, events=len(records), **counts)
    assert never_restarted
