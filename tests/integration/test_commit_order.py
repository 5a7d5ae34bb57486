"""Offsets are never committed ahead of acknowledged output, with either engine: while no assignment can be
delivered (the segments topic was deleted under the worker), the worker retries and commits nothing; once
the topic is back, every lead is routed and the offsets follow."""

import asyncio
import os
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from tests.integration.harness import Worker, drain, leads, model_file, produce, publish, worker_env
from tests.integration.traffic import Probe, holds_for
from tests.waiting import wait_for

N = 500
UNDELIVERED_SECONDS = 8


def _topic(kafka: str, topic: str, *, exists: bool) -> None:
    async def run() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
        await admin.start()
        try:
            if exists:
                await admin.create_topics([NewTopic(topic, 2, 1)])
            else:
                await admin.delete_topics([topic])
        finally:
            await admin.close()

    asyncio.run(run())


def test_offsets_wait_for_the_outputs(apache_kafka: str, redis_url: str, tmp_path: Path) -> None:
    env = os.environ | worker_env(apache_kafka, redis_url)
    group, leads_topic, segments = (
        env["SEGMENTER_APP_ID"],
        env["SEGMENTER_LEADS_TOPIC"],
        env["SEGMENTER_SEGMENTS_TOPIC"],
    )
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    table, records = leads(N, seed=31)
    with Worker(env, tmp_path) as worker, Probe(apache_kafka) as probe:
        _topic(apache_kafka, segments, exists=False)
        wait_for(lambda: segments not in probe.topics(), 30, "the deletion in the broker's metadata")
        produce(apache_kafka, leads_topic, records)
        wait_for(lambda: "not delivered: retrying" in worker.log(), 90, "a failed delivery")
        holds_for(
            lambda: sum(probe.committed(group, leads_topic).values()) <= 0,
            UNDELIVERED_SECONDS,
            "nothing committed while no output was delivered",
            interval=0.5,
        )
        _topic(apache_kafka, segments, exists=True)
        wait_for(lambda: sum(probe.lag(group, leads_topic).values()) == 0, 120, "the offsets to follow the outputs")
    routed = {o.key.decode() for o in drain(apache_kafka, segments) if o.key}
    assert routed == set(table.ids)
