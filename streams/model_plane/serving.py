"""The model a worker serves, and the one place it is swapped: loaded at start, swapped on announcements,
polled as a fallback, never moved backwards."""

import asyncio
import logging
from collections.abc import Callable

import mode
import orjson

from models.exceptions import SnapshotError
from models.snapshot import ModelSnapshot
from segmentation.features import FEATURES
from segmentation.segmenter import LeadSegmenter
from streams import metrics
from streams.exceptions import ServiceUnavailableError, WorkerStoppingError
from streams.model_plane.store import ModelStore

__all__ = ["ModelHolder", "ServingModel"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 30.0


class ServingModel:
    """A model artifact made ready to assign: the fitted segmenter plus per-segment outputs."""

    def __init__(self, snapshot: ModelSnapshot) -> None:
        if tuple(snapshot.features) != FEATURES:
            raise SnapshotError(f"model {snapshot.version} has features {snapshot.features}, not {list(FEATURES)}")
        self.snapshot = snapshot
        self.version = snapshot.version
        self.segmenter: LeadSegmenter = snapshot.to_segmenter()
        # The parts of every output that repeat, serialized once per model rather than once per lead:
        # per segment (id, name, strategy), and each list of top features as it first occurs.
        self.segments = [(s.id, s.name, orjson.Fragment(s.strategy.model_dump_json())) for s in snapshot.segments]
        self.index_of = {s.id: i for i, s in enumerate(snapshot.segments)}  # segment id to its row in `segments`
        self._top_features: dict[tuple[int, ...], orjson.Fragment] = {}

    def top_features(self, indices: tuple[int, ...]) -> orjson.Fragment:
        """The JSON list of the features at `indices`."""
        if (names := self._top_features.get(indices)) is None:
            names = self._top_features[indices] = orjson.Fragment(orjson.dumps([FEATURES[i] for i in indices]))
        return names


class ModelHolder(mode.Service):
    """Holds the current `ServingModel`. Versions only move forward; a batch takes the model
    once, so no batch mixes versions. Redis outages are logged once and retried with backoff."""

    def __init__(self, store: ModelStore, *, poll_seconds: float) -> None:
        super().__init__()
        self._store = store
        self._poll_seconds = poll_seconds
        self.model: ServingModel | None = None
        self._loaded = asyncio.Event()
        self._outage = False
        self._rejected: int | None = None  # a version that failed to load is not loaded again
        self._problem: str | None = None
        self._refresh_lock = asyncio.Lock()

    @property
    def version(self) -> int | None:
        """The version served, None before the first model."""
        return self.model.version if self.model else None

    @property
    def k(self) -> int | None:
        """The number of segments served, None before the first model."""
        return len(self.model.snapshot.segments) if self.model else None

    async def wait_for_model(self, stopping: Callable[[], bool]) -> ServingModel:
        """The current model; without one, waits (saying so every 30 s) until one comes or the worker stops."""
        waited = 0.0
        while self.model is None:
            if stopping():
                raise WorkerStoppingError(
                    "stopping before any model was published: the waiting leads stay unacknowledged"
                )
            try:
                await asyncio.wait_for(self._loaded.wait(), timeout=1)
            except TimeoutError:
                waited += 1
                if waited % 30 == 0:
                    log.warning("no model published yet: waiting (publish one with `segmenter publish MODEL.json`)")
        return self.model

    async def refresh(self) -> bool:
        """Load the current version if it is newer than the one served; True if it swapped."""
        async with self._refresh_lock:
            version: int | None = None
            try:
                version = await self._store.current_version()
                if version is None or (self.model is not None and version <= self.model.version):
                    self._recovered()
                    return False
                if version == self._rejected:
                    return False
                snapshot = await self._store.load(version)
                model = ServingModel(snapshot)
            except ServiceUnavailableError as error:
                if not self._outage:
                    log.warning(
                        "model store unreachable (%s): serving model %s until it returns", error, self._served()
                    )
                self._outage = True
                return False
            except SnapshotError as error:
                if str(error) != self._problem:  # once per problem, not on every poll
                    log.error("current model cannot be served, keeping %s: %s", self._served(), error)
                self._problem, self._rejected = str(error), version
                return False
            self._recovered()
            self.model = model
            self._loaded.set()
            metrics.model_served(snapshot.version, snapshot.segment_ids, snapshot.created_at.timestamp())
            log.info("serving model version %s (%s segments)", snapshot.version, len(snapshot.segments))
            return True

    def _served(self) -> str:
        return "none" if self.version is None else f"version {self.version}"

    def _recovered(self) -> None:
        if self._outage:
            log.info("model store reachable again")
        self._outage = False

    async def on_start(self) -> None:
        await self.refresh()
        if self.model is None:
            log.warning("no model in the store yet: leads wait, uncommitted, until one is published")

    @mode.Service.task
    async def _poll(self) -> None:
        while not self.should_stop:
            await self.sleep(self._poll_seconds)
            await self.refresh()

    @mode.Service.task
    async def _listen(self) -> None:
        backoff = 1.0
        while not self.should_stop:
            try:
                async for _ in self._store.notices():
                    backoff = 1.0
                    await self.refresh()
            except ServiceUnavailableError:
                pass
            # The subscription dropped: wait, resubscribe, and catch up on what was missed.
            await self.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF)
            await self.refresh()
