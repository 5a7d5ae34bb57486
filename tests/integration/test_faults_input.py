"""Fuzzed input (issue 5, test 5): 10,000 hostile payloads between good leads. Each hostile one lands in the
DLQ with a reason, the worker keeps running, and the good leads are all assigned as the model says."""

import asyncio
import json
import os
import random
from collections import Counter
from dataclasses import dataclass

import pytest
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from models.events import SegmentAssigned
from models.snapshot import ModelSnapshot
from segmenter.leads_io import LeadTable
from tests.integration.figures import Figures
from tests.integration.harness import Output, Worker, drain, leads, model_file, produce, publish, worker_env
from tests.integration.hostile import Hostile, hostile_events
from tests.integration.traffic import MAX_REQUEST_BYTES, Placement, Probe, Record
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

SEED = 11
HOSTILE, GOOD = 10_000, 3_000
MAX_EVENT_BYTES = 65_536  # the worker's default SEGMENTER_MAX_EVENT_BYTES
ERROR_CLASSES = {"not_utf8", "not_json", "invalid", "oversize"}


@dataclass(frozen=True)
class FuzzRun:
    hostile: list[tuple[Hostile, Placement]]
    good: LeadTable
    snapshot: ModelSnapshot
    assigned: list[SegmentAssigned]
    dead: dict[Placement, Output]  # by the source partition and offset in its headers
    worker_survived: bool

    def dead_letter_of(self, at: Placement) -> Output | None:
        return self.dead.get(at)


def create_leads_topic(kafka: str, name: str, partitions: int) -> None:
    """The leads topic made to take messages up to the test producer's limit, beyond the broker's default."""

    async def create() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            config = {"max.message.bytes": str(MAX_REQUEST_BYTES)}
            await admin.create_topics([NewTopic(name, partitions, 1, topic_configs=config)])
        finally:
            await admin.close()

    asyncio.run(create())


@pytest.fixture(scope="module")
def fuzz_run(apache_kafka: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> FuzzRun:
    """One worker run over the hostile and good events, shared by the tests of this module."""
    tmp = tmp_path_factory.mktemp("fuzz")
    env = os.environ | worker_env(apache_kafka, redis_url)
    group, topic = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"]
    create_leads_topic(apache_kafka, topic, int(env["SEGMENTER_PARTITIONS"]))
    path, snapshot = model_file(tmp, k=5, version=1)
    table, good = leads(GOOD, seed=SEED, prefix="G")
    hostile = hostile_events(HOSTILE, SEED, json.loads(good[0][1]))
    mixed: list[Record | Hostile] = [*good, *hostile]
    random.Random(SEED).shuffle(mixed)
    worker = Worker(env, tmp).start()
    publish(env, path)
    placements = produce(apache_kafka, topic, [(m.key, m.value) if isinstance(m, Hostile) else m for m in mixed])
    with Probe(apache_kafka) as probe:
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 240, "every event consumed")
    survived = worker.alive
    worker.stop()
    dead = drain(apache_kafka, env["SEGMENTER_DLQ_TOPIC"])
    assigned = drain(apache_kafka, env["SEGMENTER_SEGMENTS_TOPIC"])
    return FuzzRun(
        hostile=[(m, at) for m, at in zip(mixed, placements, strict=True) if isinstance(m, Hostile)],
        good=table,
        snapshot=snapshot,
        assigned=[SegmentAssigned.model_validate_json(o.value) for o in assigned],
        dead={(int(o.headers["source_partition"]), int(o.headers["source_offset"])): o for o in dead},
        worker_survived=survived,
    )


def test_hostile_payloads_are_dead_lettered_with_a_reason_and_good_leads_are_all_assigned(
    fuzz_run: FuzzRun, figures: Figures
) -> None:
    run = fuzz_run
    # Duplicate keys are judged by the test below: the product keeps the last value of a repeated key.
    checked = [(event, at) for event, at in run.hostile if event.kind != "duplicate_keys"]
    undead = Counter(event.kind for event, at in checked if run.dead_letter_of(at) is None)
    classes = Counter(o.headers["error_class"] for o in run.dead.values())
    hostile_assigned = {e.lead_id for e in run.assigned if e.lead_id.startswith("H")}
    duplicate_keys = {event.lead_id for event, _ in run.hostile if event.kind == "duplicate_keys"}
    figures.record(
        "fuzz",
        hostile=len(run.hostile),
        good=len(run.good.ids),
        dead_lettered=len(run.dead),
        largest_message_bytes=max(len(event.value or b"") for event, _ in run.hostile),
        error_classes=", ".join(f"{name} {count}" for name, count in sorted(classes.items())),
        duplicate_key_payloads_assigned=len(hostile_assigned),
    )
    assert run.worker_survived
    assert hostile_assigned <= duplicate_keys
    assert undead == Counter()
    assert set(classes) <= ERROR_CLASSES  # no `internal`: no bad value got as far as the model
    assert all(o.headers["reason"] for o in run.dead.values())
    for event, at in checked:
        letter = run.dead[at]
        expected = (event.value or b"")[:MAX_EVENT_BYTES] if event.value is not None else None
        assert (letter.value or None) == (expected or None), event.kind
        assert letter.key == event.key
    good = [e for e in run.assigned if e.lead_id.startswith("G")]
    assert sorted(e.lead_id for e in good) == sorted(run.good.ids)  # each exactly once
    expected_segments = run.snapshot.to_segmenter().predict(run.good.X)
    segment_of = {e.lead_id: e.segment_id for e in good}
    assert [segment_of[lead] for lead in run.good.ids] == [run.snapshot.segments[int(s)].id for s in expected_segments]


def test_payloads_with_duplicate_keys_are_dead_lettered(fuzz_run: FuzzRun) -> None:
    duplicated = [at for event, at in fuzz_run.hostile if event.kind == "duplicate_keys"]
    assert duplicated
    assert [at for at in duplicated if fuzz_run.dead_letter_of(at) is None] == []
