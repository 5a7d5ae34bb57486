"""Operator commands from the control topic: each gets exactly one reply on the models topic, and nothing an
operator sends can stop a worker (a bad command gets an `error` reply and changes nothing, an expired one an
`expired` reply and changes nothing)."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from models.control import (
    ImpactSummary,
    KSetting,
    ModelEvent,
    Pin,
    Refit,
    Rollback,
    SetK,
    Status,
    StatusReport,
    Unpin,
    command_age,
    expiry,
    parse_command,
    request_id_of,
)
from models.drift import DriftReport
from models.exceptions import ConfigError
from models.snapshot import ModelSnapshot
from segmentation.exceptions import SegmenterError
from streams.exceptions import ServiceUnavailableError
from streams.model_plane.events import promote, reply, served
from streams.model_plane.publishing import next_version
from streams.model_plane.refit import Refitter
from streams.model_plane.serving import ModelHolder
from streams.model_plane.store import Controls, ModelStore

__all__ = ["Controller"]

log = logging.getLogger(__name__)


class Controller:
    """Carries out control commands against the model store, and announces each reply."""

    def __init__(
        self,
        store: ModelStore,
        holder: ModelHolder,
        refitter: Refitter,
        announce: Callable[[ModelEvent], Awaitable[None]],
        drift: Callable[[], DriftReport] | None = None,
        *,
        impact: Callable[[int], Awaitable[ImpactSummary | None]] | None = None,
        ttl_seconds: float = 60,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._store = store
        self._holder = holder
        self._refitter = refitter
        self._announce = announce
        self._drift = drift
        self._impact = impact

    async def handle(self, value: bytes | None, record_time: datetime | None = None) -> None:
        """Carry out the command in `value` and announce its reply (a refit's reply comes when it ends); a command
        past its deadline or older than the TTL (from its `sent_at`, else `record_time`, the Kafka record's) gets
        an `expired` reply instead."""
        request_id, cause = request_id_of(value), "invalid"
        try:
            command = parse_command(value)
            cause = command.command
            now = self._clock()
            if (why := expiry(command, now, self._ttl_seconds, record_time)) is not None:
                age = command_age(command, now, record_time)
                event: ModelEvent | None = reply(
                    "expired", self._holder, cause=cause, request_id=request_id, reasons=(why,),
                    age_seconds=None if age is None else round(age, 3),
                )  # fmt: skip
            else:
                event = await self._carry_out(command)
        except SegmenterError as error:  # a malformed command, one that cannot be carried out, Redis down
            event = self._error(request_id, cause, str(error))
        except Exception as error:  # noqa: BLE001 - an operator's message must never stop a worker
            log.exception("control message failed: %.200r", value)
            event = self._error(request_id, cause, f"internal error: {type(error).__name__}: {error}")
        if event is None:
            return
        if event.type in ("error", "expired"):
            log.warning("control message %s: %s", "refused" if event.type == "error" else "expired", event.reasons[0])
        try:
            await self._announce(event)
        except ServiceUnavailableError as error:
            log.warning("reply (%s) not announced: %s", event.type, error)

    async def _carry_out(self, command: Refit | Rollback | Pin | Unpin | SetK | Status) -> ModelEvent | None:
        rid = command.request_id
        match command:
            case Refit():
                if not self._refitter.request("refit", rid):
                    return self._error(rid, "refit", "a refit is already running: wait for its reply")
                return None  # the refitter announces the outcome
            case Rollback(to_version=to_version):
                return await self._rollback(to_version, rid)
            case Pin(version=version):
                return await self._pin(version, rid)
            case Unpin():
                controls = await self._store.controls()
                await self._store.set_controls(Controls(None, controls.k))
                reasons = () if controls.pinned else ("no version was pinned",)
                return reply("unpinned", self._holder, cause="unpin", request_id=rid, reasons=reasons)
            case SetK(k=k):
                controls = await self._store.controls()
                await self._store.set_controls(Controls(controls.pinned, None if k == "auto" else k))
                event = reply("k_set", self._holder, cause="set_k", request_id=rid, status=KSetting(k=k))
                return event.model_copy(update={"k": None if k == "auto" else k})
            case Status():
                drift = self._drift() if self._drift else None
                return reply(
                    "status", self._holder, cause="status", request_id=rid, status=await self._status(), drift=drift
                )

    async def _rollback(self, to_version: int | None, rid: str | None) -> ModelEvent:
        current_version = await self._store.current_version()
        if current_version is None:
            raise ConfigError("no model is published: nothing to roll back")
        if (pinned := (await self._store.controls()).pinned) is not None:
            raise ConfigError(f"version {pinned} is pinned: `unpin` first")
        current = await self._store.load(current_version)
        target = await self._store.load(to_version) if to_version else await self._before(current)
        if target.content_version == current.content_version:
            raise ConfigError(
                f"version {target.version} is what is served already (content of {current.content_version})"
            )
        back = target.restored(next_version(current_version), current, "rollback")
        event = await promote(
            self._store, self._holder, back, kind="rolled_back", cause="rollback", request_id=rid,
            previous_version=current_version,
        )  # fmt: skip
        log.info("rolled back to the content of version %d as version %d", back.content_version, back.version)
        return event

    async def _before(self, current: ModelSnapshot) -> ModelSnapshot:
        """The model served before `current` with other content."""
        for version in reversed(await self._store.history()):
            candidate = await self._store.load(version)
            if candidate.content_version != current.content_version:
                return candidate
        raise ConfigError(f"no model with other content was served before version {current.version}")

    async def _pin(self, version: int, rid: str | None) -> ModelEvent:
        target = await self._store.load(version)
        current_version = await self._store.current_version()
        controls = await self._store.controls()
        current = await self._store.load(current_version) if current_version is not None else None
        pinned = target if current is None else current
        event = served(pinned, kind="pinned", cause="pin", request_id=rid, previous_version=current_version)
        if current is not None and current.content_version != target.content_version:
            pinned = target.restored(next_version(current_version), current, "pin")
            event = await promote(
                self._store, self._holder, pinned, kind="pinned", cause="pin", request_id=rid,
                previous_version=current_version, despite_pin=True,
            )  # fmt: skip
        await self._store.set_controls(Controls(pinned.version, controls.k))
        log.info("pinned version %d (content of %d)", pinned.version, pinned.content_version)
        return event

    async def _status(self) -> StatusReport:
        controls = await self._store.controls()
        last = self._refitter.last
        return StatusReport(
            served_version=self._holder.version,
            current_version=await self._store.current_version(),
            pinned=controls.pinned,
            k=controls.k or "auto",
            refit_running=self._refitter.running,
            sampled_leads=self._refitter.sampled,
            last_refit=last,
            history=(await self._store.history())[-10:],
            impact=await self._impact(version) if self._impact and (version := self._holder.version) else None,
        )

    def _error(self, request_id: str | None, cause: str, reason: str) -> ModelEvent:
        return reply("error", self._holder, cause=cause, request_id=request_id, reasons=(reason,))
