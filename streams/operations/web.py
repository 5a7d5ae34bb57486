"""The worker's one HTTP port: `/metrics` (Prometheus text), `/healthz` and `/readyz` (JSON, 200 or 503),
and the live dashboard at `/`. It binds `SEGMENTER_WEB_HOST`; with `SEGMENTER_WEB_TOKEN` set, every path but
the two probes asks for the token (`Authorization: Bearer TOKEN`, or `?token=TOKEN` for a browser)."""

import asyncio
import hmac
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import mode
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from models.drift import DriftReport
from models.impact_report import ImpactReport
from models.settings import Settings
from streams import metrics
from streams.model_plane import ModelHolder
from streams.operations.activity import Activity
from streams.operations.dashboard import state
from streams.operations.dashboard_page import PAGE, panel

__all__ = ["Check", "WebServer", "web_app"]

log = logging.getLogger(__name__)

# A readiness check: (ready, what it saw).
Check = Callable[[], tuple[bool, str]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_OPEN_PATHS = frozenset({"/healthz", "/readyz"})
_LOOP_TICK = 0.5


def web_app(
    holder: ModelHolder,
    activity: Activity,
    checks: Mapping[str, Check],
    token: str | None = None,
    drift: Callable[[], DriftReport | None] = lambda: None,
    impact: Callable[[], ImpactReport | None] = lambda: None,
) -> web.Application:
    """The routes, with the token guard when `token` is given; `drift` gives the drift timer's last judgement,
    `impact` the measured impact last read."""

    def now() -> dict[str, Any]:
        return state(holder, activity, drift(), impact())

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        if token is None or request.path in _OPEN_PATHS:
            return await handler(request)
        given = request.query.get("token", "")
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ")
        if hmac.compare_digest(given.encode(), token.encode()):
            return await handler(request)
        return web.json_response(
            {"error": "a token is required: Authorization: Bearer TOKEN, or ?token=TOKEN"},
            status=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    async def healthz(request: web.Request) -> web.Response:
        # Answered by the event loop itself: if this arrives, the process and its loop are alive.
        lag = metrics.value(metrics.EVENT_LOOP_LAG)
        return web.json_response({"status": "ok", "event_loop_lag_seconds": round(lag, 4)})

    async def readyz(request: web.Request) -> web.Response:
        results = {name: check() for name, check in checks.items()}
        missing = [name for name, (ok, _) in results.items() if not ok]
        body = {
            "status": "not ready" if missing else "ready",
            "missing": missing,
            "checks": {name: {"ok": ok, "detail": detail} for name, (ok, detail) in results.items()},
        }
        return web.json_response(body, status=503 if missing else 200)

    async def prometheus(request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(metrics.REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE.replace("<!--panel-->", panel(now())), content_type="text/html")

    async def dashboard_panel(request: web.Request) -> web.Response:
        return web.Response(text=panel(now()), content_type="text/html")

    async def dashboard_state(request: web.Request) -> web.Response:
        return web.json_response(now())

    app = web.Application(middlewares=[guard])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    app.router.add_get("/", page)
    app.router.add_get("/dashboard/panel", dashboard_panel)
    app.router.add_get("/dashboard/state.json", dashboard_state)
    return app


class WebServer(mode.Service):
    """Serves `web_app` on `SEGMENTER_WEB_HOST:SEGMENTER_WEB_PORT` and measures the event loop's lag. A port
    already taken is logged and the worker routes on without it."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        activity: Activity,
        checks: Mapping[str, Check],
        drift: Callable[[], DriftReport | None] = lambda: None,
        impact: Callable[[], ImpactReport | None] = lambda: None,
    ) -> None:
        super().__init__()
        token = settings.web_token.get_secret_value() if settings.web_token else ""
        # An empty token (compose's default) is none.
        self._app = web_app(holder, activity, checks, token or None, drift, impact)
        self._host, self._port = settings.web_host, settings.web_port
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as error:
            log.error(
                "web server not started on %s:%s (%s): no metrics, probes or dashboard", self._host, self._port, error
            )
            await runner.cleanup()
            return
        self._runner = runner
        log.info(
            "dashboard at http://%s:%s/ (metrics at /metrics, probes at /healthz and /readyz)", self._host, self._port
        )

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @mode.Service.task
    async def _measure_loop_lag(self) -> None:
        while not self.should_stop:
            started = time.monotonic()
            await asyncio.sleep(_LOOP_TICK)
            metrics.EVENT_LOOP_LAG.set(max(time.monotonic() - started - _LOOP_TICK, 0.0))
