"""The operations surface of a real worker: probes tell up from ready, Prometheus scrapes it, and the dashboard,
opened in headless Chromium, shows the counts the test sent, segment by segment. The screenshot is kept in
`test-artifacts/` (or `SEGMENTER_TEST_ARTIFACTS`)."""

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Worker, consume, leads, model_file, produce, publish, worker_env
from tests.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("SEGMENTER_TEST_ARTIFACTS") or ROOT / "test-artifacts")
CHROMIUM = next(
    (found for name in ("chromium", "chromium-browser", "google-chrome") if (found := shutil.which(name))), None
)
SENT, BAD = 600, 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def get(url: str, token: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


def chromium(*args: str) -> str:
    """Headless Chromium with `args`; its stdout (the DOM, with --dump-dom)."""
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def shown(dom: str, key: str) -> int | None:
    match = re.search(rf'id="{key}">([0-9]+)<', dom)
    return int(match[1]) if match else None


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine: `apt-get install chromium` (.ci/run does)")
@pytest.mark.parametrize("engine", ["batch", "agent"])
def test_the_dashboard_in_a_browser_shows_what_was_sent(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path, engine: str
) -> None:
    port, token = free_port(), secrets.token_urlsafe(16)
    env = os.environ | worker_env(
        kafka_bootstrap, redis_url, SEGMENTER_WEB_PORT=str(port), SEGMENTER_WEB_TOKEN=token, SEGMENTER_ENGINE=engine
    )
    base = f"http://127.0.0.1:{port}"
    path, snapshot = model_file(tmp_path, k=5, version=1)
    _, records = leads(SENT, seed=5)
    with Worker(env, tmp_path) as worker:
        # Up, not ready: no model yet. The probes need no token; everything else does.
        wait_for(lambda: get(f"{base}/healthz")[0] == 200, 30, "/healthz")
        status, body = get(f"{base}/readyz")
        assert status == 503 and "model" in json.loads(body)["missing"], body
        assert get(f"{base}/metrics")[0] == 401 and get(f"{base}/")[0] == 401
        publish(env, path)
        wait_for(lambda: get(f"{base}/readyz")[0] == 200, 60, "/readyz to say ready")

        produce(kafka_bootstrap, env["SEGMENTER_LEADS_TOPIC"], [*records, *[(b"bad", b"{not json")] * BAD])
        outputs = consume(kafka_bootstrap, env["SEGMENTER_SEGMENTS_TOPIC"], SENT)
        assert len(outputs) == SENT
        per_segment = Counter(o.json()["segment_id"] for o in outputs)

        url = f"{base}/?token={token}"
        dom = ""

        def page_shows_everything() -> bool:
            nonlocal dom
            dom = chromium("--virtual-time-budget=3000", "--dump-dom", url)
            return shown(dom, "total-assigned") == SENT and shown(dom, "total-dead-lettered") == BAD

        wait_for(page_shows_everything, 90, "the page to show every lead sent", interval=1)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        screenshot = ARTIFACTS / f"dashboard-{engine}.png"
        chromium("--window-size=1400,1500", "--virtual-time-budget=3000", f"--screenshot={screenshot}", url)

        scraped = get(f"{base}/metrics", token)[1]
        state: dict[str, Any] = json.loads(get(f"{base}/dashboard/state.json", token)[1])
        log = worker.log()

    # The page: the totals and each segment's count equal what the segments topic received.
    assert shown(dom, "total-received") == SENT + BAD
    on_page = {int(i): int(n) for i, n in re.findall(r'data-segment-id="(\d+)".*?data-assigned="(\d+)"', dom)}
    assert {i: n for i, n in on_page.items() if n} == dict(per_segment)
    assert f"v{snapshot.version} · K=5" in dom
    assert dom.count("not_json") == BAD and "{not json" not in dom  # the class, never the payload
    assert re.search(r'<svg id="scatter" data-points="\d+"', dom)
    assert screenshot.stat().st_size > 10_000
    # Prometheus and the JSON state agree with the page.
    assert f"segmenter_leads_received_total {float(SENT + BAD)}" in scraped
    assert f'segmenter_leads_dead_lettered_total{{error_class="not_json"}} {float(BAD)}' in scraped
    assert sum(float(n) for n in re.findall(r"segmenter_leads_assigned_total\{[^}]*\} (\S+)", scraped)) == SENT
    assert "segmenter_consumer_lag_records" in scraped and "segmenter_model_version 1.0" in scraped
    assert state["totals"]["assigned"] == SENT
    # The log: quiet, one line per event, never the token.
    assert token not in log
    assert "[^Worker]: Ready" in log and f"dashboard at http://127.0.0.1:{port}/" in log
    assert len(log.splitlines()) < 40, log
