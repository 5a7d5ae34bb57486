"""The worker's HTTP port without a broker: probes with JSON and 200/503, Prometheus text, the dashboard (never a
payload), the token on every path but the probes, loopback by default; and the worker's log filter."""

import asyncio
import json
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from streams.model_plane.serving import ModelHolder, ServingModel
from streams.model_plane.store import InMemoryModelStore
from streams.operations.activity import Activity
from streams.operations.logs import JsonFormatter, QuietFrameworks, logging_config, stop_message
from streams.operations.web import Check, WebServer, web_app
from tests.streams.test_metrics import batch, route

TOKEN = "s3cret-token-value"


@pytest.fixture(scope="module")
def snapshot() -> ModelSnapshot:
    return fit_model(generate_leads(800, random_state=1).X, config=StrategyConfig(), k=4, version=3)[1]


def serve(
    holder: ModelHolder,
    activity: Activity,
    test: Callable[[TestClient[Any, Any]], Awaitable[None]],
    checks: dict[str, Check] | None = None,
    token: str | None = None,
) -> None:
    async def run() -> None:
        app = web_app(holder, activity, checks or {}, token)
        async with TestClient(TestServer(app)) as client:
            await test(client)

    asyncio.run(run())


def holder_of(snapshot: ModelSnapshot | None) -> ModelHolder:
    holder = ModelHolder(InMemoryModelStore(), poll_seconds=3600)
    holder.model = ServingModel(snapshot) if snapshot else None
    return holder


def test_readyz_says_what_is_missing_with_503_and_healthz_answers(snapshot: ModelSnapshot) -> None:
    state = {"model": False, "redis": True}
    checks: dict[str, Check] = {
        "model": lambda: (state["model"], "version 3" if state["model"] else "no model published yet"),
        "redis": lambda: (state["redis"], "answering"),
    }

    async def test(client: TestClient[Any, Any]) -> None:
        health = await client.get("/healthz")
        assert health.status == 200 and (await health.json())["status"] == "ok"
        not_ready = await client.get("/readyz")
        body = await not_ready.json()
        assert not_ready.status == 503
        assert body["missing"] == ["model"] and body["checks"]["model"]["detail"] == "no model published yet"
        state["model"] = True
        ready = await client.get("/readyz")
        assert ready.status == 200 and (await ready.json())["missing"] == []

    serve(holder_of(None), Activity(), test, checks)


def test_metrics_and_the_dashboard_show_what_was_routed_and_never_a_payload(snapshot: ModelSnapshot) -> None:
    activity = Activity()
    route(snapshot, activity, batch(120, bad=2))

    async def test(client: TestClient[Any, Any]) -> None:
        scraped = await client.get("/metrics")
        assert scraped.status == 200 and scraped.headers["Content-Type"].startswith("text/plain")
        assert "segmenter_leads_received_total" in await scraped.text()
        page = await (await client.get("/")).text()
        panel = await (await client.get("/dashboard/panel")).text()
        state = await (await client.get("/dashboard/state.json")).json()
        for shown in (page, panel):
            assert '<div class="value" id="total-assigned">120</div>' in shown
            assert '<div class="value" id="total-dead-lettered">2</div>' in shown
            assert "<svg" in shown and "PRIVATE-42" not in shown
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing from elsewhere
        assert state["totals"] == {"received": 122, "assigned": 120, "dead_lettered": 2, "transitions": 0}
        assert sum(s["assigned"] for s in state["segments"]) == 120
        assert state["model"]["version"] == 3 and state["model"]["k"] == 4
        assert len(state["scatter"]["x"]) == 32
        letters = state["recent_dead_letters"]
        assert [d["error_class"] for d in letters] == ["invalid", "invalid"] and letters[0]["offset"] == 121
        assert "PRIVATE-42" not in json.dumps(state)

    serve(holder_of(snapshot), activity, test)


def test_the_dashboard_shows_the_gate_scores_and_lineage_of_a_refitted_model(snapshot: ModelSnapshot) -> None:
    gate = GateReport(
        decision="promoted", reasons=["not worse beyond the tolerances"], served_version=2, k=4, served_k=4,
        held_out=500, moved_share=0.04, candidate={"silhouette": 0.41}, served={"silhouette": 0.39},
    )  # fmt: skip
    lineage = [
        LineageEntry(segment_id=0, kind="kept", **{"from": [0]}, into=[0]),
        LineageEntry(segment_id=7, kind="split", **{"from": [1]}, into=[7, 8]),
    ]
    refitted = snapshot.model_copy(update={"gate": gate, "lineage": lineage})

    async def test(client: TestClient[Any, Any]) -> None:
        page = await (await client.get("/")).text()
        state = await (await client.get("/dashboard/state.json")).json()
        assert "gate: promoted against version 2 on 500 held-out leads (4.0% moved)" in page
        assert "silhouette 0.41 (served 0.39)" in page and "split 7 from [1] into [7, 8]" in page
        assert state["model"]["lineage"][1] == {
            "segment_id": 7,
            "kind": "split",
            "from": [1],
            "into": [7, 8],
            "name": None,
        }

    serve(holder_of(refitted), Activity(), test)


def test_the_token_guards_every_path_but_the_probes(snapshot: ModelSnapshot) -> None:
    async def test(client: TestClient[Any, Any]) -> None:
        for path in ("/", "/metrics", "/dashboard/panel", "/dashboard/state.json"):
            refused = await client.get(path)
            assert refused.status == 401, path
            assert TOKEN not in await refused.text()
            assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status == 401
            assert (await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})).status == 200, path
            assert (await client.get(path, params={"token": TOKEN})).status == 200, path
        for path in ("/healthz", "/readyz"):
            assert (await client.get(path)).status == 200, path

    serve(holder_of(snapshot), Activity(), test, token=TOKEN)


def test_the_server_binds_loopback_by_default_and_a_taken_port_does_not_stop_the_worker(
    snapshot: ModelSnapshot, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(web_port=port)
    assert settings.web_host == "127.0.0.1"

    async def run() -> None:
        server = WebServer(settings, holder_of(snapshot), Activity(), {})
        await server.on_start()
        try:
            assert server._runner is not None
            assert [address[0] for address in server._runner.addresses] == ["127.0.0.1"]
            second = WebServer(settings, holder_of(snapshot), Activity(), {})
            await second.on_start()  # the port is taken: logged, not raised
            assert second._runner is None
        finally:
            await server.on_stop()

    asyncio.run(run())
    assert any("web server not started" in r.getMessage() for r in caplog.records)


def record(name: str, level: int, message: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


def test_frameworks_are_quiet_and_a_repeated_error_is_said_once_a_minute() -> None:
    quiet = QuietFrameworks(every=60)
    assert not quiet.filter(record("faust.transport", logging.INFO, "[^--Consumer]: Starting..."))
    assert quiet.filter(record("mode.worker", logging.INFO, "[^Worker]: Ready"))
    assert quiet.filter(record("streams.routing.router", logging.INFO, "serving model version 3"))
    assert not quiet.filter(record("streams.model_plane.serving", logging.INFO, "[^-ModelHolder]: Starting..."))
    said = [
        quiet.filter(record("aiokafka.client", logging.ERROR, "Unable connect to node with id %s", 1))
        for _ in range(3000)
    ]
    assert said.count(True) == 1
    assert QuietFrameworks(debug=True).filter(record("aiokafka.conn", logging.DEBUG, "sending"))


def test_json_logs_are_one_object_per_line_and_settings_carry_no_secret() -> None:
    line = JsonFormatter().format(record("streams.routing.delivery", logging.WARNING, "%d of %d not delivered", 3, 7))
    entry = json.loads(line)
    assert entry["level"] == "WARNING" and entry["message"] == "3 of 7 not delivered" and "\n" not in line
    config = logging_config(Settings(log_format="json", web_token=TOKEN, kafka_sasl_password="pw"))
    assert config["formatters"]["default"] == {"()": JsonFormatter}
    assert TOKEN not in repr(config) and "pw" not in repr(config["handlers"])


def test_the_worker_says_why_it_stopped_and_what_it_left_uncommitted() -> None:
    assert stop_message("SIGTERM", None, 0) == (
        logging.INFO, "worker stopped on signal SIGTERM; every lead it read is committed"
    )  # fmt: skip
    level, message = stop_message(None, ConnectionError("broker gone"), 250)
    assert level == logging.ERROR and message.startswith("worker stopped by an error (ConnectionError('broker gone'))")
    assert "250 leads read and not committed: the next owner of their partitions routes them again" in message
    assert stop_message(None, None, 3)[1].startswith("worker stopped on its app stopping; 3 leads read")
