"""Model swaps under load (issue 5, test 6): 20 versions published while 50,000 leads stream through two
workers. Each output carries one version, versions never go back on a partition, and every worker serves the
last version within a second of its publication."""

import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

from models.events import SegmentAssigned
from tests.integration.figures import Figures
from tests.integration.harness import Worker, drain, leads, model_file, publish_snapshot, worker_env
from tests.integration.traffic import Probe, Stream
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

SEED = 13
VERSIONS = 20
SWAP_LIMIT_SECONDS = 1.0


def test_model_swaps_under_load_never_mix_or_go_back_and_reach_every_worker_within_a_second(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    n, rate = 50_000, 4000.0
    env = os.environ | worker_env(kafka_bootstrap, redis_url, SEGMENTER_PARTITIONS="4")
    group, topic, out = env["SEGMENTER_APP_ID"], env["SEGMENTER_LEADS_TOPIC"], env["SEGMENTER_SEGMENTS_TOPIC"]
    _, five = model_file(tmp_path, k=5, version=1)
    _, four = model_file(tmp_path, k=4, version=2, seed=1)
    snapshots = [(five if v % 2 else four).model_copy(update={"version": v}) for v in range(1, VERSIONS + 1)]
    table, records = leads(n, seed=SEED)
    workers = [Worker(env, tmp_path).launch() for _ in range(2)]
    for worker in workers:
        worker.wait_ready()
    publish_snapshot(env, snapshots[0])
    serving = [f"serving model version {v}" for v in range(1, VERSIONS + 1)]
    wait_for(lambda: all(w.logged_at(serving[0]) for w in workers), 30, "model 1 at both workers")
    with Probe(kafka_bootstrap) as probe:
        stream = Stream(kafka_bootstrap, topic, records, rate=rate).start()
        pause = 0.8 * n / rate / VERSIONS  # every version published while leads still flow
        for snapshot in snapshots[1:]:
            time.sleep(pause)
            last_published_at = time.time()
            publish_snapshot(env, snapshot)
        wait_for(lambda: all(w.logged_at(serving[-1]) for w in workers), 30, f"model {VERSIONS} at both workers")
        swap_lags = [(w.logged_at(serving[-1]) or 0.0) - last_published_at for w in workers]
        stream.join()
        wait_for(lambda: sum(probe.lag(group, topic).values()) == 0, 120, "consumer lag back to 0")
    for worker in workers:
        worker.stop()
    outputs = drain(kafka_bootstrap, out)
    events = [SegmentAssigned.model_validate_json(o.value) for o in outputs]
    by_partition: dict[int, list[int]] = defaultdict(list)
    for output, event in sorted(zip(outputs, events, strict=True), key=lambda pair: pair[0].offset):
        by_partition[output.partition].append(event.model_version)
    late = {
        e.model_version for o, e in zip(outputs, events, strict=True) if o.timestamp_ms / 1000 > last_published_at + 1
    }
    figures.record(
        "model_swaps",
        leads=n,
        versions_published=VERSIONS,
        versions_in_outputs=len({e.model_version for e in events}),
        worst_swap_lag_s=round(max(swap_lags), 3),
    )
    assert {e.lead_id for e in events} == set(table.ids)
    assert {e.model_version for e in events} <= set(range(1, VERSIONS + 1))
    assert all(versions == sorted(versions) for versions in by_partition.values())
    assert late <= {VERSIONS}
    assert max(swap_lags) <= SWAP_LIMIT_SECONDS
