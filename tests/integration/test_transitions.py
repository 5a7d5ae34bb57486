"""Transitions mean a real move (issue 14, item 2), on a real broker and Redis: a population routed, refitted on the
same population (every segment kept), then sent again, emits no transition, though the refit moved boundaries;
leads re-sent with another group's features emit exactly one `lead_changed` transition each."""

import os
from pathlib import Path
from typing import Any

import numpy as np

from segmentation.synthetic import generate_leads
from segmenter.leads_io import LeadTable, lead_records, write_leads
from streams.model_plane.serving import ServingModel
from tests.integration.harness import (
    Worker,
    consume,
    leads,
    model_file,
    previous_segments,
    produce,
    publish,
    stored_model,
    worker_env,
)
from tests.integration.test_control import command
from tests.integration.test_dashboard import free_port, get
from tests.waiting import wait_for

ASSIGNED, MOVED = "segmenter_leads_assigned_total", "segmenter_transitions_total"
N = 4000  # leads routed, then sent again
MOVERS = 60  # of them, sent again with the features of a lead deep in another segment
SEED_LEADS = 6000  # more of the same population in the refit sample


def counted(port: int, metric: str) -> float:
    """A counter of the worker's, over all its labels; a batch is counted once all its outputs are acknowledged."""
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith((f"{metric}{{", f"{metric} ")))


def read(env: dict[str, str], topic: str, count: int) -> list[dict[str, Any]]:
    """The JSON of the first `count` messages on `topic` (from the start, not up to the end offsets Tansu reports)."""
    found = consume(env["SEGMENTER_KAFKA_BOOTSTRAP"], env[topic], count, timeout=120, settle=0)
    assert len(found) >= count, f"{len(found)} of {count} messages on {topic}"
    return [o.json() for o in found]


def routed(env: dict[str, str], records: list[tuple[bytes, bytes]], version: int, ids: list[str]) -> dict[str, Any]:
    """Send `records`, wait until the worker has delivered all their outputs (transitions included), and return
    each of `ids`'s assignment by `version`."""
    port = int(env["SEGMENTER_WEB_PORT"])
    before = counted(port, ASSIGNED)
    produce(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_LEADS_TOPIC"], records)
    wait_for(lambda: counted(port, ASSIGNED) >= before + len(records), 180, "every lead's outputs delivered")
    found = {o["lead_id"]: o for o in read(env, "SEGMENTER_SEGMENTS_TOPIC", int(before) + len(records))}
    assert all(found[i]["model_version"] == version for i in ids)
    return found


def test_the_same_leads_after_a_refit_that_kept_every_segment_emit_no_transition_and_movers_one_each(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    seed_file = tmp_path / "sample.csv"
    write_leads(seed_file, [f"S{i:06d}" for i in range(SEED_LEADS)], generate_leads(SEED_LEADS, random_state=42).X, {})
    env = os.environ | worker_env(
        kafka_bootstrap,
        redis_url,
        SEGMENTER_REFIT_SEED_FILE=str(seed_file),
        SEGMENTER_REFIT_MIN_LEADS="1000",
        SEGMENTER_WEB_PORT=str(free_port()),
    )
    assert "SEGMENTER_TRANSITION_MARGIN" not in env  # the default margin is what is tested
    publish(env, model_file(tmp_path, k=5, version=1)[0])
    table, records = leads(N, seed=41, prefix="P")
    ids = list(table.ids)
    with Worker(env, tmp_path) as worker:
        first = routed(env, records, 1, ids)
        wait_for(lambda: len(previous_segments(env)) == N, 30, "every lead's segment remembered")

        refit = command(env, command="refit", timeout=300)
        assert refit.type == "promoted", f"the gate refused a refit on the same population: {refit.reasons}"
        assert refit.lineage is not None and {e.kind for e in refit.lineage} == {"kept"}, refit.lineage
        assert refit.version is not None
        wait_for(lambda: worker.logged_at(f"serving model version {refit.version}") is not None, 30, "the swap")

        # Movers: the first MOVERS leads take the features of a lead well inside another segment.
        segment = np.array([first[i]["segment_id"] for i in ids])
        deep = np.array([first[i]["confidence"] > 0.5 for i in ids]) & (np.arange(N) >= MOVERS)  # not a mover
        rng = np.random.default_rng(7)
        target = [int(rng.choice(np.flatnonzero(deep & (segment != segment[m])))) for m in range(MOVERS)]
        X = table.X.copy()
        X[:MOVERS] = table.X[target]
        again = routed(env, lead_records(LeadTable(ids, X, {}, table.dropped)), refit.version, ids)

        assert counted(int(env["SEGMENTER_WEB_PORT"]), MOVED) == MOVERS  # every transition the worker sent
    transitions = read(env, "SEGMENTER_TRANSITIONS_TOPIC", MOVERS)
    movers = ids[:MOVERS]
    assert sorted(t["lead_id"] for t in transitions) == sorted(movers)
    for t in transitions:
        m = movers.index(t["lead_id"])
        assert t["reason"] == "lead_changed"
        assert (t["from_segment_id"], t["to_segment_id"]) == (
            int(segment[m]),
            again[ids[target[m]]]["segment_id"],
        )
        assert (t["from_model_version"], t["to_model_version"]) == (refit.version, refit.version)
    changed = [i for i in ids[MOVERS:] if again[i]["segment_id"] != first[i]["segment_id"]]
    assert changed == []
    # The refit did move boundaries: without the margin, these leads would have changed segment.
    served = ServingModel(stored_model(env, refit.version))
    nearest = np.array(served.snapshot.segment_ids)[served.segmenter.predict(table.X[MOVERS:])]
    assert (nearest != segment[MOVERS:]).sum() > 0, "the refit moved no boundary: this run shows nothing"
