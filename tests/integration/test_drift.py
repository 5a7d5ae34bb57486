"""Drift on a real broker and Redis (issue 14): the population the model was fitted on is steady and asks for
nothing; a shifted one (a new kind of lead) makes the leader ask for a refit whose reply on the models topic says
drift and why, and `status` carries the figures."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from models.control import ModelEvent
from segmentation.synthetic import generate_leads
from segmenter.leads_io import LeadTable, lead_records
from tests.integration.harness import Worker, drain, model_file, produce, publish, worker_env
from tests.integration.test_control import command
from tests.integration.traffic import Record
from tests.populations import with_a_sixth_group
from tests.waiting import wait_for


def records(X: np.ndarray, prefix: str) -> list[Record]:
    return list(lead_records(LeadTable([f"{prefix}{i:06d}" for i in range(len(X))], X, {}, Counter())))


def model_events(env: dict[str, str]) -> list[ModelEvent]:
    return [
        ModelEvent.model_validate_json(o.value)
        for o in drain(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_MODELS_TOPIC"])
    ]


def assigned(env: dict[str, str], n: int) -> bool:
    return len(drain(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_SEGMENTS_TOPIC"])) >= n


def test_a_shifted_stream_makes_the_leader_refit_on_drift_with_its_reason(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(
        kafka_bootstrap,
        redis_url,
        SEGMENTER_DRIFT_CHECK_SECONDS="0.5",
        SEGMENTER_DRIFT_WINDOW_LEADS="2000",
        SEGMENTER_DRIFT_MIN_LEADS="1000",
        SEGMENTER_DRIFT_ROWS_PER_BATCH="10000",
        SEGMENTER_DRIFT_REFIT_MIN_SECONDS="3600",
        SEGMENTER_REFIT_MIN_LEADS="1000",
    )
    publish(env, model_file(tmp_path, k=5, version=1, seed=0)[0])  # fitted on generate_leads(3000, random_state=0)
    kafka, leads_topic = env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_LEADS_TOPIC"]
    with Worker(env, tmp_path) as worker:
        produce(kafka, leads_topic, records(generate_leads(2500, random_state=41).X, "F"))
        wait_for(lambda: assigned(env, 2500), 120, "the fit population's assignments")

        # The timer's judgement, not a `status` reply (which judges on its own): on a fast broker the shifted leads
        # below could otherwise be routed before the timer ever saw the fit population alone.
        wait_for(
            lambda: worker.logged_at("drift: steady (score") is not None,
            60,
            "drift judged steady on the fit population",
        )
        steady = command(env, command="status").drift
        assert steady is not None and steady.model_version == 1 and steady.reasons == []
        assert steady.leads == 2000 and steady.score is not None and steady.score < 1
        assert [s.segment_id for s in steady.segments] == [0, 1, 2, 3, 4]
        assert all(s.fit_mean_distance > 0 and s.mean_distance is not None for s in steady.segments)

        shifted = with_a_sixth_group(2500, seed=42)
        produce(kafka, leads_topic, records(shifted, "S"))
        wait_for(lambda: worker.logged_at("refit (drift: ") is not None, 120, "a refit asked for on drift")
        drifting = command(env, command="status").drift
        assert drifting is not None and drifting.state == "drifting" and drifting.score is not None
        assert drifting.score >= 1 and drifting.last_refit_request is not None
        assert any("beyond every radius" in reason for reason in drifting.reasons), drifting.reasons
        assert drifting.beyond_radius_share is not None and drifting.fit_beyond_radius_share is not None
        assert drifting.beyond_radius_share >= drifting.fit_beyond_radius_share + 0.1
        shown = subprocess.run([sys.executable, "-m", "segmenter", "status"], env=env, capture_output=True, text=True)
        assert shown.returncode == 0 and "drift: drifting (score" in shown.stdout, shown.stdout + shown.stderr
        log = worker.log(current_run=True)  # each change of state once, however many checks ran
        assert log.count("drift: steady (score") == 1 and log.count("drift: drifting (score") == 1, log[-3000:]

        def replied() -> list[ModelEvent]:
            return [e for e in model_events(env) if e.cause.startswith("drift: ")]

        wait_for(lambda: bool(replied()), 300, "the reply to the refit asked for on drift", interval=1)
        (reply,) = replied()
        assert reply.type in ("promoted", "rejected") and reply.gate is not None, reply
        assert "beyond every radius" in reply.cause, reply.cause
