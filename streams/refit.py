"""Background refit: a uniform sample of the leads a worker routed, refitted off the event loop and
published as the next model version."""

import asyncio
import json
import logging
import multiprocessing
import multiprocessing.pool
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import mode
import numpy as np

from models.settings import Settings
from models.snapshot import ModelSnapshot
from segmentation.features import FEATURES
from streams.serving import ModelHolder

__all__ = ["LeadSample", "Refitter", "parse_command"]

log = logging.getLogger(__name__)

COMMANDS = ("refit",)


class LeadSample:
    """A uniform random sample of every lead added so far, at most `capacity` rows (reservoir sampling)."""

    def __init__(self, capacity: int, seed: int = 0) -> None:
        self._rows = np.empty((capacity, len(FEATURES)))
        self._seen = 0
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return min(self._seen, len(self._rows))

    def add(self, X: np.ndarray) -> None:
        filled = len(self)
        first = min(len(self._rows) - filled, len(X))
        self._rows[filled : filled + first] = X[:first]
        rest = X[first:]
        if len(rest):
            # row number t (1-based, over all rows ever added) replaces a random slot with probability capacity/t
            seen = self._seen + first + np.arange(1, len(rest) + 1)
            slots = (self._rng.random(len(rest)) * seen).astype(np.int64)
            kept = slots < len(self._rows)
            self._rows[slots[kept]] = rest[kept]
        self._seen += len(X)

    def rows(self) -> np.ndarray:
        return self._rows[: len(self)].copy()


def parse_command(value: bytes | None) -> str:
    """The command of a control message, `{"command": "refit"}`; raises ValueError on anything else."""
    try:
        command = json.loads(value or b"")["command"]
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"not a control message: {(value or b'')[:200]!r}") from None
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r} (known: {', '.join(COMMANDS)})")
    return str(command)


class Refitter(mode.Service):
    """Refits the served model on this worker's sample, on request or on the leader's timer. The fit
    runs in a child process limited to one BLAS/OpenMP thread, so routing and heartbeats keep a core."""

    def __init__(
        self,
        settings: Settings,
        holder: ModelHolder,
        sample: LeadSample,
        publish: Callable[[ModelSnapshot], Awaitable[None]],
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._settings = settings
        self._holder = holder
        self._sample = sample
        self._publish = publish
        self._running = False

    def request(self, why: str) -> None:
        """Start a refit in the background unless one is running."""
        if self._running:
            log.info("refit requested (%s) while one runs: ignored", why)
            return
        self._running = True
        self.add_future(self._refit(why))

    async def _refit(self, why: str) -> None:
        try:
            served = self._holder.model
            sampled = len(self._sample)
            if served is None or sampled < self._settings.refit_min_leads:
                log.info(
                    "refit (%s) skipped: %s, %d leads sampled (at least %d needed)",
                    why,
                    "no model served yet" if served is None else f"model {served.version} served",
                    sampled,
                    self._settings.refit_min_leads,
                )
                return
            version = max(int(time.time() * 1000), served.version + 1)
            log.info("refit (%s) started: %d leads, K=%d", why, sampled, len(served.snapshot.segments))
            started = time.monotonic()
            snapshot = await _fit_elsewhere(self._sample, served.snapshot, version)
            await self._publish(snapshot)
            log.info("refit published model version %d in %.1fs", version, time.monotonic() - started)
        except Exception:  # noqa: BLE001 - a failed refit must not stop the worker: the served model stays
            log.exception("refit (%s) failed: model %s stays", why, self._holder.model and self._holder.model.version)
        finally:
            self._running = False


async def _fit_elsewhere(sample: LeadSample, served: ModelSnapshot, version: int) -> ModelSnapshot:
    """Fit in a child process: in a thread of this one the fit holds the GIL for most of its time
    (measured: p99 assignment latency of 1.5 s during a refit of 1M leads), stalling routing and
    heartbeats. The sample goes through a file written off the event loop; the child is killed if
    the worker stops first."""
    loop = asyncio.get_running_loop()
    with tempfile.TemporaryDirectory(prefix="segmenter-refit-") as tmp:
        rows = Path(tmp) / "sample.npy"
        await loop.run_in_executor(None, lambda: np.save(rows, sample.rows()))
        # Started off the event loop too: spawning the child took tens of milliseconds, more on a busy machine.
        pool = await loop.run_in_executor(None, _niced_pool)
        try:
            result = pool.apply_async(_fit, (rows, served, version))
            while not result.ready():
                await asyncio.sleep(0.2)
            snapshot: ModelSnapshot = result.get()
        finally:
            pool.terminate()
    return snapshot


def _niced_pool() -> multiprocessing.pool.Pool:
    """One child process, niced: on a busy machine the fit yields the CPU to routing rather than delaying it."""
    return multiprocessing.get_context("spawn").Pool(1, initializer=os.nice, initargs=(19,))


def _fit(rows: Path, served: ModelSnapshot, version: int) -> ModelSnapshot:
    # Imported in the child only: the worker's routing process never loads scikit-learn.
    from threadpoolctl import threadpool_limits

    from models.training import refit_model

    with threadpool_limits(limits=1):
        return refit_model(np.load(rows), served, version=version)
