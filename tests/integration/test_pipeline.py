"""The streaming pipeline end to end on a real broker and Redis: `segmenter worker` as users run it."""

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

from models.events import SegmentAssigned
from streams.local.services import start_redis
from tests.integration.harness import Worker, consume, leads, model_file, produce, publish, worker_env
from tests.integration.traffic import holds_for
from tests.waiting import wait_for

POLL_SECONDS = 1  # SEGMENTER_MODEL_POLL_SECONDS of the tests' workers (harness.worker_env)


@pytest.fixture
def env(kafka_bootstrap: str, redis_url: str) -> dict[str, str]:
    return os.environ | worker_env(kafka_bootstrap, redis_url)


def test_every_lead_gets_its_models_segment_exactly_once(env: dict[str, str], tmp_path: Path) -> None:
    path, snapshot = model_file(tmp_path, k=5, version=1)
    table, records = leads(5000, seed=11)
    with Worker(env, tmp_path):
        publish(env, path)
        produce(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_LEADS_TOPIC"], records)
        outputs = consume(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_SEGMENTS_TOPIC"], 5000)
    events = [SegmentAssigned.model_validate_json(o.value) for o in outputs]
    assert len(events) == 5000
    assert {e.lead_id for e in events} == set(table.ids)
    expected = snapshot.to_segmenter().predict(table.X)
    by_lead = {e.lead_id: e for e in events}
    assert all(
        by_lead[lead].segment_id == snapshot.segments[int(s)].id for lead, s in zip(table.ids, expected, strict=True)
    )
    assert {e.model_version for e in events} == {1}
    assert all(o.key == by_lead[o.json()["lead_id"]].lead_id.encode() for o in outputs)
    assert len({e.event_id for e in events}) == 5000
    first = events[0]
    assert first.strategy == snapshot.segments[first.segment_id].strategy
    assert first.previous_segment_id is None and 0 <= first.confidence <= 1 and len(first.top_features) == 3


def test_bad_events_are_dead_lettered_with_reasons_and_good_ones_assigned(env: dict[str, str], tmp_path: Path) -> None:
    path, _ = model_file(tmp_path, k=5, version=1)
    env = env | {"SEGMENTER_MAX_EVENT_BYTES": "2048"}
    _, good = leads(300, seed=5)
    template = json.loads(good[0][1])
    bad: list[tuple[bytes | None, bytes]] = [
        (b"b1", b"not json at all"),
        (b"b2", b"\xff\xfe\x00garbage"),
        (b"b3", json.dumps({k: v for k, v in template.items() if k != "company_size"}).encode()),
        (b"b4", json.dumps(template | {"company_size": -5}).encode()),
        (b"b5", json.dumps(template | {"email_open_rate": 1.5}).encode()),
        (b"b6", json.dumps(template).replace('"engagement_score": ', '"engagement_score": NaN, "x": ').encode()),
        (b"b7", json.dumps(template | {"pad": "x" * 3000}).encode()),
        (b"b8", b"[1, 2, 3]"),
        (b"b9", b""),
        (b"b10", json.dumps(template | {"decision_maker_level": "high"}).encode()),
        (None, json.dumps(template | {"lead_id": ""}).encode()),
    ]
    mixed = list(good)
    for i, record in enumerate(bad):
        mixed.insert(i * 20, record)
    with Worker(env, tmp_path):
        publish(env, path)
        produce(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_LEADS_TOPIC"], mixed)
        assigned = consume(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_SEGMENTS_TOPIC"], len(good))
        dead = consume(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_DLQ_TOPIC"], len(bad))
    assert sorted(o.json()["lead_id"] for o in assigned) == sorted(json.loads(v)["lead_id"] for _, v in good)
    assert len(dead) == len(bad)
    by_key = {o.key: o for o in dead}
    # An oversize event is dead-lettered with its first SEGMENTER_MAX_EVENT_BYTES bytes; others whole.
    assert {o.value for o in dead} == {value[:2048] for _, value in bad}
    assert by_key[b"b1"].headers["error_class"] == "not_json"
    assert by_key[b"b2"].headers["error_class"] == "not_utf8"
    assert by_key[b"b7"].headers["error_class"] == "oversize"
    assert "company_size" in by_key[b"b3"].headers["reason"]
    assert "greater than or equal to 0" in by_key[b"b4"].headers["reason"]
    assert "email_open_rate" in by_key[b"b5"].headers["reason"]
    for o in dead:
        assert o.headers["source_topic"] == env["SEGMENTER_LEADS_TOPIC"]
        assert int(o.headers["source_offset"]) >= 0 and o.headers["model_version"] == "1"


def test_a_model_published_mid_stream_takes_over_and_never_goes_back(env: dict[str, str], tmp_path: Path) -> None:
    first, _ = model_file(tmp_path, k=5, version=1)
    second, _ = model_file(tmp_path, k=4, version=2, seed=1)
    _, records = leads(6000, seed=3)
    bootstrap = env["SEGMENTER_KAFKA_BOOTSTRAP"]
    with Worker(env, tmp_path) as worker:
        publish(env, first)
        produce(bootstrap, env["SEGMENTER_LEADS_TOPIC"], records[:3000])
        consume(bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 3000, settle=0)
        publish(env, second)
        # pub/sub, or the 1 s poll, brings it to the worker
        wait_for(lambda: "serving model version 2" in worker.log(), 30, "model 2 at the worker")
        produce(bootstrap, env["SEGMENTER_LEADS_TOPIC"], records[3000:])
        outputs = consume(bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], 6000)
    assert len({o.json()["lead_id"] for o in outputs}) == 6000
    versions_by_partition: dict[int, list[int]] = defaultdict(list)
    for o in sorted(outputs, key=lambda o: (o.partition, o.offset)):
        versions_by_partition[o.partition].append(o.json()["model_version"])
    for versions in versions_by_partition.values():
        assert versions == sorted(versions)
    late = [o.json() for o in outputs if int(o.json()["lead_id"][1:]) >= 3000]
    assert {e["model_version"] for e in late} == {2}
    assert {e["segment_id"] for e in late} <= {0, 1, 2, 3}


def test_assignments_continue_while_redis_is_down(kafka_bootstrap: str, tmp_path: Path) -> None:
    redis = start_redis(tmp_path / "redis")
    port = redis.port
    env = os.environ | worker_env(kafka_bootstrap, redis.url)
    path, _ = model_file(tmp_path, k=5, version=1)
    newer, _ = model_file(tmp_path, k=4, version=2, seed=1)
    _, records = leads(3000, seed=8)
    topic, out = env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    try:
        with Worker(env, tmp_path) as worker:
            publish(env, path)
            produce(kafka_bootstrap, topic, records[:1000])
            consume(kafka_bootstrap, out, 1000, settle=0)
            redis.stop()
            produce(kafka_bootstrap, topic, records[1000:2000])
            during = consume(kafka_bootstrap, out, 2000, settle=0)
            assert len({o.json()["lead_id"] for o in during}) == 2000
            wait_for(lambda: "model store unreachable" in worker.log(), 30, "the outage logged")
            # Redis stays down for three more polls: the outage is still logged once
            holds_for(
                lambda: worker.log().count("model store unreachable") == 1, 3 * POLL_SECONDS, "the outage logged once"
            )
            redis = start_redis(tmp_path / "redis2", port=port)
            publish(env, newer)
            wait_for(lambda: "serving model version 2" in worker.log(), 30, "model 2 at the worker")
            produce(kafka_bootstrap, topic, records[2000:])
            outputs = consume(kafka_bootstrap, out, 3000)
            log = worker.log()
    finally:
        redis.stop()
    assert len({o.json()["lead_id"] for o in outputs}) == 3000
    assert {o.json()["model_version"] for o in outputs if int(o.json()["lead_id"][1:]) >= 2000} == {2}
    assert log.count("model store unreachable") == 1  # once per outage, not per retry


def test_a_restarted_worker_remembers_previous_segments_and_loses_nothing(env: dict[str, str], tmp_path: Path) -> None:
    path, snapshot = model_file(tmp_path, k=5, version=1)
    table, records = leads(1000, seed=21)
    bootstrap, topic, out = (
        env["SEGMENTER_KAFKA_BOOTSTRAP"],
        env["SEGMENTER_LEADS_TOPIC"],
        env["SEGMENTER_SEGMENTS_TOPIC"],
    )
    with Worker(env, tmp_path):
        publish(env, path)
        produce(bootstrap, topic, records)
        first = consume(bootstrap, out, 1000, settle=0)
    produce(bootstrap, topic, records)  # while no worker runs
    with Worker(env, tmp_path):
        outputs = consume(bootstrap, out, 2000)
    # At-least-once: a replayed input carries the same event_id, so distinct event ids count the leads.
    assert len({o.json()["event_id"] for o in outputs}) == 2000
    segment_of = {o.json()["lead_id"]: o.json()["segment_id"] for o in first}
    first_ids = {o.json()["event_id"] for o in first}
    again = [o.json() for o in outputs if o.json()["event_id"] not in first_ids]
    assert {e["lead_id"] for e in again} == set(table.ids)
    assert all(e["previous_segment_id"] == segment_of[e["lead_id"]] for e in again)
    transitions = consume(bootstrap, env["SEGMENTER_TRANSITIONS_TOPIC"], 0, timeout=3)
    assert transitions == []  # same model, same leads: nobody changed segment
