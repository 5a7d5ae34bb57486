"""A slow refit does not stall the group (issue 5, test 7): while the worker refits on 1,000,000 sampled leads,
leads keep flowing at a steady rate, no rebalance happens and no lead waits on the fit. The refit is the scheduled
one (the leader's timer), as it runs in production.

Latency is a figure here, not a target (targets live in benchmarks): the p99 before and during the refit are
recorded side by side for docs/reliability.md. What is asserted is the failure this guards against, a fit on the
event loop, where leads would wait out the whole fit: no lead waits half as long as the refit took. A fit in a
thread of the worker no longer shows in these figures (tried: p99 102 ms), so tests/streams/test_refit.py checks by
structure that the fit runs in a niced child process. A bound on the p99 turned one CI stall of about 1.4 s (median
unchanged, cause not found) into a failure; docs/reliability.md has the figures."""

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest

from segmentation.synthetic import generate_leads
from segmenter.leads_io import write_leads
from tests.integration.figures import Figures
from tests.integration.harness import Worker, drain, leads, model_file, publish, worker_env
from tests.integration.traffic import Stream
from tests.waiting import wait_for

pytestmark = pytest.mark.faults

SAMPLE = 1_000_000
RATE = 300.0  # leads per second while the refit runs
WARM_UP_SECONDS = 4.0
REFIT_AFTER_SECONDS = 25  # the first scheduled refit: some time after the worker is ready and leads flow
REBALANCE = re.compile(r"revok|rebalanc|assigned partitions", re.IGNORECASE)


def test_a_refit_of_a_million_leads_keeps_heartbeats_and_latency(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, figures: Figures
) -> None:
    seed_file = tmp_path / "sample.csv"
    sample = generate_leads(SAMPLE, random_state=21)
    write_leads(seed_file, [f"S{i:07d}" for i in range(SAMPLE)], sample.X, {})
    env = os.environ | worker_env(
        kafka_bootstrap,
        redis_url,
        SEGMENTER_REFIT_SEED_FILE=str(seed_file),
        SEGMENTER_REFIT_SAMPLE_SIZE=str(SAMPLE),
        SEGMENTER_REFIT_INTERVAL_SECONDS=str(REFIT_AFTER_SECONDS),
    )
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    worker = Worker(env, tmp_path).start(timeout=240)  # reading the seed file comes first
    ready_log = len(worker.log(current_run=True))
    table, records = leads(int(RATE * 60), seed=22)
    stream = Stream(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records, rate=RATE).start()
    steady = time.time() + WARM_UP_SECONDS  # the consumer joins its group first
    # K is chosen again and the candidate judged by the gate: same leads, so it is promoted.
    wait_for(lambda: worker.logged_at("refit (schedule) ended: promoted") is not None, 300, "the refit to publish")
    started, published = worker.logged_at("refit (schedule) started"), worker.logged_at("refit (schedule) ended")
    assert started is not None and published is not None
    assert started > steady + WARM_UP_SECONDS, "the refit began before latency could be measured without it"
    stream.join()
    inputs = {o.key: o.timestamp_ms for o in drain(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"])}
    wait_for(lambda: len(drain(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"])) >= len(records), 60, "all routed")
    worker.stop()
    outputs = drain(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"])
    latency = {o.key: o.timestamp_ms - inputs[o.key] for o in outputs}
    before = np.array([ms for key, ms in latency.items() if steady <= inputs[key] / 1000 < started])
    during = np.array([ms for key, ms in latency.items() if started <= inputs[key] / 1000 <= published])
    rebalances = REBALANCE.findall(worker.log(current_run=True)[ready_log:])
    figures.record(
        "slow_refit",
        refit_leads=SAMPLE,
        refit_s=round(published - started, 1),
        leads_during_refit=len(during),
        p99_before_ms=round(float(np.percentile(before, 99)), 1),
        p50_ms=round(float(np.percentile(during, 50)), 1),
        p99_ms=round(float(np.percentile(during, 99)), 1),
        max_ms=int(during.max()),
        rebalances=len(rebalances),
    )
    assert {o.key.decode() for o in outputs if o.key} == set(table.ids)
    assert len(during) > RATE * 5, "too few leads arrived while the refit ran to measure it"
    assert rebalances == []
    assert during.max() < (published - started) * 1000 / 2, "leads waited out the fit"
