"""Outcomes through a real worker, broker and Redis, on both engines: leads routed, then outcomes drawn from planted
close rates and deal sizes (with duplicates, reopened deals, unknown leads and malformed events) give exact
tallies; a worker killed with -9 mid-stream of outcomes leaves them exact once another has caught up."""

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import orjson
import pytest

from segmenter.control_cli import ask
from segmenter.impact_online import online_impact
from streams.clients.redis_client import redis_client
from streams.clients.redis_health import RedisHealth
from streams.outcomes import Attribution, Tallies
from tests.integration.harness import Worker, consume, leads, model_file, produce, publish, settings_of, worker_env
from tests.integration.test_dashboard import free_port, get
from tests.integration.traffic import Probe, Record
from tests.waiting import wait_for

# Per segment of the k=3 model: the planted close rate and mean deal size; the holdout's (the baseline campaign).
TRUTH = {0: (0.6, 5_000.0), 1: (0.3, 20_000.0), 2: (0.1, 80_000.0), "holdout": (0.15, 10_000.0)}
MALFORMED = [b"not json", b'{"outcome_id": "m1", "lead_id": "L1", "outcome": "won"}', b"\xff\xfe",
             b'{"outcome_id": "m2", "lead_id": "L1", "outcome": "won", "amount": -5}',
             b'{"lead_id": "L1", "outcome": "lost"}']  # fmt: skip

Exposure = tuple[int, str]  # segment id, arm
Expected = dict[Exposure, list[float]]  # [exposed, won, lost, open, revenue]


def counted(port: int, metric: str, labels: str = "") -> float:
    """The worker's `metric` (with `labels`, as `/metrics` writes them) summed over its series."""
    _, text = get(f"http://127.0.0.1:{port}/metrics")
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(metric) and labels in line)


def tallies(env: dict[str, str]) -> Tallies:
    async def read() -> Tallies:
        settings = settings_of(env)
        client = redis_client(settings)
        try:
            health = RedisHealth(client, timeout=10)
            window = settings.attribution_window_seconds
            return await Attribution(client, health, settings.redis_key_prefix, window).tallies()
        finally:
            await client.aclose()

    return asyncio.run(read())


def observed(env: dict[str, str]) -> tuple[Expected, int]:
    found = tallies(env)
    cells = {(c.segment_id, c.arm): [c.exposed, c.won, c.lost, c.open, round(c.revenue, 2)] for c in found.cells}
    return cells, found.unattributed


def route(env: dict[str, str], n: int, seed: int) -> dict[str, Exposure]:
    """Send `n` leads and wait for their segments: lead id to segment id and arm."""
    _, records = leads(n, seed=seed)
    produce(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_LEADS_TOPIC"], records)
    outputs = consume(env["SEGMENTER_KAFKA_BOOTSTRAP"], env["SEGMENTER_SEGMENTS_TOPIC"], n, settle=0)
    return {e["lead_id"]: (e["segment_id"], e["arm"]) for e in (o.json() for o in outputs)}


def planted(segments: dict[str, Exposure], seed: int) -> tuple[list[Record], Expected]:
    """One outcome per lead drawn from its segment's truth (a fifth left open), some deals won, reopened and lost
    again, and every outcome's first copy sent once more at the end."""
    rng = random.Random(seed)
    records: list[Record] = []
    expected: Expected = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    for lead, (segment, arm) in sorted(segments.items()):
        rate, size = TRUTH[segment if arm == "segmented" else arm]
        tally = expected[segment, arm]
        tally[0] += 1
        if rng.random() < 0.2:
            tally[3] += 1
            continue
        amount = round(rng.expovariate(1 / size), 2)
        events = [("won", amount) if rng.random() < rate else ("lost", None)]
        if rng.random() < 0.1:  # reopened, then the other way
            events += [("reopened", None), ("lost", None) if events[0][0] == "won" else ("won", amount)]
        for i, (outcome, value) in enumerate(events):
            event = {"outcome_id": f"{lead}-{i}", "lead_id": lead, "outcome": outcome, "crm": "hubspot"}
            records.append((lead.encode(), orjson.dumps(event | ({"amount": value} if value is not None else {}))))
        final, value = events[-1]
        tally[1 if final == "won" else 2] += 1
        tally[4] = round(tally[4] + (value or 0.0), 2) if final == "won" else tally[4]
    return records + records[: len(records) // 3], dict(expected)


@pytest.mark.parametrize("engine", ["batch", "agent"])
def test_planted_outcomes_give_exact_tallies_and_bad_ones_are_dead_lettered(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, engine: str
) -> None:
    port = free_port()
    env = os.environ | worker_env(
        kafka_bootstrap, redis_url, SEGMENTER_ENGINE=engine, SEGMENTER_HOLDOUT_SHARE="0.2", SEGMENTER_WEB_PORT=str(port)
    )
    path, _ = model_file(tmp_path, k=3, version=1)
    publish(env, path)
    with Worker(env, tmp_path):
        segments = route(env, 400, seed=19)
        records, expected = planted(segments, seed=19)
        assert {arm for _, arm in expected} == {"segmented", "holdout"}
        strangers = [(b"ghost", orjson.dumps({"outcome_id": f"g{i}", "lead_id": "ghost", "outcome": "lost"}))
                     for i in range(3)]  # fmt: skip
        produce(kafka_bootstrap, env["SEGMENTER_OUTCOMES_TOPIC"], records + strangers + [(b"L1", m) for m in MALFORMED])
        wait_for(lambda: observed(env) == (expected, 3), 60, lambda: f"tallies {observed(env)} != {(expected, 3)}")
        letters = consume(kafka_bootstrap, env["SEGMENTER_DLQ_TOPIC"], len(MALFORMED), settle=0.5)
        reply = asyncio.run(ask(settings_of(env), {"command": "status"}, 30))
        duplicates = len(records) - len({value for _, value in records})
        for status, n in {"duplicate": duplicates, "unattributed": 3, "dead_lettered": len(MALFORMED)}.items():
            assert counted(port, "segmenter_outcomes_total", f'status="{status}"') == n
        won, lost = expected[0, "segmented"][1:3]
        rate = 'segmenter_observed_close_rate{arm="segmented",segment_id="0"}'
        wait_for(lambda: counted(port, rate) == won / (won + lost), 30, f"{rate} at {won / (won + lost)}")
    shown = subprocess.run([sys.executable, "-m", "segmenter", "impact", "--json"], env=env, capture_output=True)
    assert shown.returncode == 0, shown.stderr
    assert {(r["segment_id"], r["arm"]): r["exposed"] for r in json.loads(shown.stdout)["rows"]} == {
        cell: tally[0] for cell, tally in expected.items()
    }
    report = asyncio.run(online_impact(settings_of(env))).report
    assert report.model_version == 1 and report.unattributed == 3
    assert {(r.segment_id, r.arm): [r.exposed, r.won, r.lost, r.open] for r in report.rows} == {
        cell: tally[:4] for cell, tally in expected.items()
    }
    summary = reply.status.impact if reply and reply.status else None
    assert summary is not None and summary.model_version == 1 and summary.unattributed == 3
    for arm in ("segmented", "holdout"):
        assert summary.won[arm] == sum(t[1] for (_, a), t in expected.items() if a == arm)
    assert sorted(letter.value for letter in letters) == sorted(MALFORMED)
    assert {letter.headers["source_topic"] for letter in letters} == {env["SEGMENTER_OUTCOMES_TOPIC"]}
    assert sorted(letter.headers["error_class"] for letter in letters) == [
        "invalid", "invalid", "invalid", "not_json", "not_utf8"
    ]  # fmt: skip


@pytest.mark.faults
def test_a_worker_killed_mid_stream_of_outcomes_leaves_the_tallies_exact(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
) -> None:
    env = os.environ | worker_env(kafka_bootstrap, redis_url)
    path, _ = model_file(tmp_path, k=3, version=1)
    publish(env, path)
    worker = Worker(env, tmp_path).start()
    segments = route(env, 6_000, seed=7)
    records, expected = planted(segments, seed=7)
    topic, group = env["SEGMENTER_OUTCOMES_TOPIC"], env["SEGMENTER_APP_ID"]
    produce(kafka_bootstrap, topic, records)
    counted = lambda: sum(sum(t[1:3]) for t in observed(env)[0].values())  # noqa: E731
    wait_for(lambda: counted() > 1_000, 60, "a thousand outcomes counted")
    worker.stop(signal.SIGKILL)
    with Probe(kafka_bootstrap) as probe:
        behind = sum(probe.lag(group, topic).values())
        worker.start()
        wait_for(lambda: observed(env) == (expected, 0), 120, lambda: f"tallies {observed(env)} != {(expected, 0)}")
    worker.stop()
    assert behind > 0  # the kill left outcomes uncommitted: read again, counted once
