"""Drift on a real broker and Redis (issue 14): the population the model was fitted on is steady and asks for
nothing; a shifted one (a new kind of lead) makes the leader ask for a refit whose reply on the models topic says
drift and why, and `status` carries the figures."""

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from models.control import ModelEvent
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmenter.leads_io import LeadTable, lead_records
from tests.integration.harness import Worker, drain, model_file, produce, publish, stored_model, worker_env
from tests.integration.test_control import command
from tests.integration.test_population_change import CHURN_RISK, SMB, ids, new_kind, planted, send
from tests.integration.traffic import Record
from tests.populations import with_a_sixth_group
from tests.waiting import wait_for


def records(X: np.ndarray, prefix: str, lead_ids: list[str] | None = None) -> list[Record]:
    lead_ids = lead_ids or [f"{prefix}{i:06d}" for i in range(len(X))]
    return list(lead_records(LeadTable(lead_ids, X, {}, Counter())))


def model_events(env: dict[str, str]) -> list[ModelEvent]:
    return [
        ModelEvent.model_validate_json(o.value)
        for o in drain(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_MODELS_TOPIC"])
    ]


def assigned(env: dict[str, str], n: int) -> bool:
    return len(drain(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_SEGMENTS_TOPIC"])) >= n


def drift_env(kafka: str, redis_url: str, **overrides: str) -> dict[str, str]:
    """A worker that judges drift every 0.5 s on a window of 2,000 leads and refits on it at most hourly."""
    return os.environ | worker_env(
        kafka,
        redis_url,
        SEGMENTER_DRIFT_CHECK_SECONDS="0.5",
        SEGMENTER_DRIFT_WINDOW_LEADS="2000",
        SEGMENTER_DRIFT_MIN_LEADS="1000",
        SEGMENTER_DRIFT_ROWS_PER_BATCH="10000",
        SEGMENTER_DRIFT_REFIT_MIN_SECONDS="3600",
        SEGMENTER_REFIT_MIN_LEADS="1000",
        **overrides,
    )


def test_a_shifted_stream_makes_the_leader_refit_on_drift_with_its_reason(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = drift_env(kafka_bootstrap, redis_url)
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


def test_after_a_real_change_the_leader_refits_on_drift_keeps_the_survivors_and_moves_only_the_changed_leads(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    """Issue 23's story end to end: after 3,000 leads like the training ones, Churn Risk leads stop coming and a new
    kind of lead appears in the next 24,000. The shared sample holds old and new traffic (about a tenth old), drift
    is judged, the leader refits on its own, and the candidate is promoted with every surviving group under its
    served id, Churn Risk named as changed and the new kind as new; leads sent again get a transition only if they
    were Churn Risk's. The new traffic waits in Kafka while no worker runs, so that the refit sees all of it."""
    env = drift_env(kafka_bootstrap, redis_url, SEGMENTER_REFIT_SAMPLE_SIZE="10000")
    _, before = fit_model(planted(3_000, seed=0)[0], config=StrategyConfig(), k=5, version=1, random_state=0)
    path = tmp_path / "model-1.json"
    path.write_text(before.model_dump_json())
    publish(env, path)
    churn = next(s.id for s in before.segments if s.name == "Churn Risk")
    old, old_groups = planted(3_000, seed=1)
    new, new_groups = planted(24_000, seed=2)
    gone = new_groups == CHURN_RISK  # replaced by as many leads of a new kind
    donors, donor_groups = planted(48_000, seed=3)
    new[gone] = new_kind(donors[donor_groups == SMB][: gone.sum()])
    old_ids = ids("A", len(old))
    with Worker(env, tmp_path) as worker:
        first = {key: o["segment_id"] for key, o in send(env, old_ids, old).items()}
        wait_for(lambda: worker.logged_at("drift: steady (score") is not None, 60, "drift judged steady")
    produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records(new, "B"))
    later = env | {"SEGMENTER_DRIFT_CHECK_SECONDS": "5"}  # its first judgement after the backlog is routed
    with Worker(later, tmp_path) as worker:

        def replied() -> list[ModelEvent]:
            return [e for e in model_events(env) if e.cause.startswith("drift: ")]

        wait_for(lambda: bool(replied()), 300, "the reply to the refit the leader asked for on drift", interval=1)
        (reply,) = replied()
        assert reply.type == "promoted" and reply.lineage is not None and reply.gate is not None, reply
        steps = {e.segment_id: e for e in reply.lineage}
        survivors = [s for s in before.segments if s.id != churn]
        assert all(steps[s.id].kind == "kept" for s in survivors), reply.lineage
        assert steps[churn].kind in ("retired", "merged"), reply.lineage
        assert len([e for e in reply.lineage if e.kind == "new"]) == 1, reply.lineage
        assert (reply.gate.moved_unexplained_share or 0) < 0.05, reply.gate
        now = {s.id: s for s in stored_model(env, reply.version or 0).segments}
        assert all((now[s.id].name, now[s.id].strategy) == (s.name, s.strategy) for s in survivors)
        wait_for(lambda: worker.logged_at(f"serving model version {reply.version}") is not None, 60, "the new model")

        stayers = np.flatnonzero(old_groups != CHURN_RISK)[:200]
        churned = np.flatnonzero(old_groups == CHURN_RISK)[:40]
        rows = [*stayers, *churned]
        produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], records(old[rows], "A", [old_ids[i] for i in rows]))
        again: dict[bytes, dict[str, Any]] = {}

        def routed_again() -> bool:  # each lead's output under the new model (its first one is under version 1)
            outputs = drain(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"])
            again.update({o.key: o.json() for o in outputs if o.json()["model_version"] == reply.version})
            return len(again) == len(rows)

        wait_for(routed_again, 120, "the leads sent again, routed by the new model")
        assert all(again[old_ids[i].encode()]["segment_id"] == first[old_ids[i].encode()] for i in stayers)
        transitions = [o.json() for o in drain(kafka_bootstrap, env["SEGMENTER_TRANSITIONS_TOPIC"])]
        assert sorted(t["lead_id"] for t in transitions) == sorted(old_ids[i] for i in churned)
        assert {t["from_segment_id"] for t in transitions} == {churn}
        assert {t["reason"] for t in transitions} <= {"segment_retired", "segment_merged"}, transitions
