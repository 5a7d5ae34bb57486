"""Background refit: the sample of leads every worker shares (streams/sample.py), refitted off the event loop,
judged by the quality gate against the served model, and published as the next model version if it passes."""

import asyncio
import logging
import multiprocessing
import multiprocessing.pool
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import mode
import numpy as np

from models.control import LastRefit, ModelEvent
from models.settings import Settings
from models.snapshot import ModelSnapshot
from segmentation.gate import Tolerances
from streams import metrics
from streams.exceptions import PinnedError, ServiceUnavailableError, StaleModelError
from streams.model_plane.events import promote, reply
from streams.model_plane.publishing import next_version
from streams.model_plane.sample import Sample
from streams.model_plane.serving import ModelHolder
from streams.model_plane.store import ModelStore

__all__ = ["Refitter"]

log = logging.getLogger(__name__)


class Refitter(mode.Service):
    """Refits the served model on the shared sample, on request or on the leader's timer, with K chosen
    again unless an operator set one. The candidate is promoted only if the quality gate passes and no
    version is pinned; either way the outcome is announced on the models topic (`promoted` or `rejected`,
    with the gate's scores). The fit runs in a child process limited to one BLAS/OpenMP thread, so routing
    and heartbeats keep a core."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        store: ModelStore,
        sample: Sample,
        announce: Callable[[ModelEvent], Awaitable[None]],
    ) -> None:
        super().__init__()
        self._settings = settings
        self._holder = holder
        self._store = store
        self._sample = sample
        self._announce = announce
        self.running = False
        self.last: LastRefit | None = None

    @property
    def sampled(self) -> int:
        """Leads in the shared sample, when last heard."""
        return self._sample.size

    def request(self, cause: str, request_id: str | None = None) -> bool:
        """Start a refit in the background; False (and nothing started) if one is running."""
        if self.running:
            log.info("refit requested (%s) while one runs: ignored", cause)
            return False
        self.running = True
        self.add_future(self._refit(cause, request_id))
        return True

    async def _refit(self, cause: str, request_id: str | None) -> None:
        started = time.monotonic()
        try:
            event = await self._outcome(cause, request_id)
        except Exception as error:  # noqa: BLE001 - a failed refit must not stop the worker: the served model stays
            if not isinstance(error, ServiceUnavailableError):  # an outage is said in one line, not a traceback
                log.exception("refit (%s) failed: the served model stays", cause)
            reason = f"refit failed: {type(error).__name__}: {error}"
            event = reply("error", self._holder, cause=cause, request_id=request_id, reasons=(reason,))
        finally:
            self.running = False
        self.last = LastRefit(
            cause=cause, outcome=event.type, at=event.at, version=event.version, reasons=event.reasons
        )
        metrics.refit_finished(event.type, time.monotonic() - started)
        log.info("refit (%s) ended: %s, version %s served%s", cause, event.type, event.version, _why(event.reasons))
        try:
            await self._announce(event)
        except ServiceUnavailableError as error:
            log.warning("refit outcome (%s) not announced: %s", event.type, error)

    async def _outcome(self, cause: str, request_id: str | None) -> ModelEvent:
        served, s = self._holder.model, self._settings

        def rejected(*reasons: str, **fields: Any) -> ModelEvent:
            return reply("rejected", self._holder, cause=cause, request_id=request_id, reasons=reasons, **fields)

        if served is None:
            return rejected("no model is served yet")
        rows = await self._sample.rows()
        sampled = len(rows)
        if sampled < s.refit_min_leads:
            return rejected(f"{sampled} leads sampled, at least {s.refit_min_leads} needed (SEGMENTER_REFIT_MIN_LEADS)")
        k = (await self._store.controls()).k
        version = next_version(served.version)
        log.info("refit (%s) started: %d leads, K %s", cause, sampled, k or f"chosen again (2..{s.refit_max_k})")
        candidate = await _fit_elsewhere(rows, served.snapshot, version, k, s)
        gate = candidate.gate
        assert gate is not None  # refit_model always judges
        if gate.decision == "rejected":  # with what the candidate would have changed
            return rejected(*gate.reasons, gate=gate, lineage=candidate.lineage)
        try:
            return await promote(
                self._store, self._holder, candidate, cause=cause, request_id=request_id,
                previous_version=served.version,
            )  # fmt: skip
        except (PinnedError, StaleModelError) as error:
            return rejected(str(error), gate=gate)


def _why(reasons: list[str]) -> str:
    return f": {'; '.join(reasons)}" if reasons else ""


async def _fit_elsewhere(
    rows: np.ndarray, served: ModelSnapshot, version: int, k: int | None, settings: Settings
) -> ModelSnapshot:
    """Fit in a child process: in a thread of this one the fit holds the GIL for most of its time
    (measured: p99 assignment latency of 1.5 s during a refit of 1M leads), stalling routing and
    heartbeats. The sample's rows go through a file written off the event loop; the child is killed if
    the worker stops first."""
    loop = asyncio.get_running_loop()
    tolerances = Tolerances(
        inertia=settings.gate_inertia_tolerance,
        silhouette=settings.gate_silhouette_tolerance,
        stability=settings.gate_stability_tolerance,
        min_share=settings.gate_min_share,
        min_stability=settings.gate_min_stability,
        moved_share=settings.gate_max_moved_share,
    )
    with tempfile.TemporaryDirectory(prefix="segmenter-refit-") as tmp:
        path = Path(tmp) / "sample.npy"
        await loop.run_in_executor(None, lambda: np.save(path, rows))
        # Started off the event loop too: spawning the child took tens of milliseconds, more on a busy machine.
        pool = await loop.run_in_executor(None, _niced_pool)
        try:
            result = pool.apply_async(_fit, (path, served, version, k, settings.refit_max_k, tolerances))
            while not result.ready():
                await asyncio.sleep(0.2)
            snapshot: ModelSnapshot = result.get()
        finally:
            pool.terminate()
    return snapshot


def _niced_pool() -> multiprocessing.pool.Pool:
    """One child process, niced: on a busy machine the fit yields the CPU to routing rather than delaying it."""
    return multiprocessing.get_context("spawn").Pool(1, initializer=os.nice, initargs=(19,))


def _fit(
    rows: Path, served: ModelSnapshot, version: int, k: int | None, max_k: int, tolerances: Tolerances
) -> ModelSnapshot:
    # Imported in the child only: the worker's routing process never loads scikit-learn.
    from threadpoolctl import threadpool_limits

    from models.training import refit_model

    with threadpool_limits(limits=1):
        return refit_model(np.load(rows), served, version=version, k=k, max_k=max_k, tolerances=tolerances)[0]
