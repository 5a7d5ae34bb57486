"""Operator commands from the control topic: each gets exactly one reply on the models topic, and nothing an
operator sends can stop a worker (a bad command gets an `error` reply and changes nothing)."""

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from models.control import ModelEvent, Pin, Refit, Rollback, SetK, Status, Unpin, parse_command, request_id_of
from models.drift import DriftReport
from models.exceptions import ConfigError
from models.snapshot import ModelSnapshot
from segmentation.exceptions import SegmenterError
from streams.exceptions import ServiceUnavailableError
from streams.publishing import next_version, served_event
from streams.refit import Refitter
from streams.serving import ModelHolder
from streams.store import Controls, ModelStore

__all__ = ["Controller", "restored"]

log = logging.getLogger(__name__)


def restored(snapshot: ModelSnapshot, version: int, current: ModelSnapshot) -> ModelSnapshot:
    """`snapshot`'s content under a new `version` that records where it came from (versions never go back). Its
    gate and lineage were about how it once replaced another model, so they are not carried; segment ids stay
    above every id `current` has used, so that no later refit reuses one."""
    return snapshot.model_copy(
        update={
            "version": version,
            "restored_from": snapshot.content_version,
            "created_at": datetime.now(UTC),
            "gate": None,
            "lineage": None,
            "segment_id_high_water": max(snapshot.high_water, current.high_water),
        }
    )


class Controller:
    """Carries out control commands against the model store, and announces each reply."""

    def __init__(
        self,
        store: ModelStore,
        holder: ModelHolder,
        refitter: Refitter,
        announce: Callable[[ModelEvent], Awaitable[None]],
        drift: Callable[[], DriftReport] | None = None,
    ) -> None:
        self._store = store
        self._holder = holder
        self._refitter = refitter
        self._announce = announce
        self._drift = drift

    async def handle(self, value: bytes | None) -> None:
        """Carry out the command in `value` and announce its reply (a refit's reply comes when it ends)."""
        request_id, cause = request_id_of(value), "invalid"
        try:
            command = parse_command(value)
            cause = command.command
            reply = await self._carry_out(command)
        except SegmenterError as error:  # a malformed command, one that cannot be carried out, Redis down
            reply = self._event("error", request_id, cause, str(error))
        except Exception as error:  # noqa: BLE001 - an operator's message must never stop a worker
            log.exception("control message failed: %.200r", value)
            reply = self._event("error", request_id, cause, f"internal error: {type(error).__name__}: {error}")
        if reply is None:
            return
        if reply.type == "error":
            log.warning("control message refused: %s", "; ".join(reply.reasons))
        try:
            await self._announce(reply)
        except ServiceUnavailableError as error:
            log.warning("reply (%s) not announced: %s", reply.type, error)

    async def _carry_out(self, command: Refit | Rollback | Pin | Unpin | SetK | Status) -> ModelEvent | None:
        rid = command.request_id
        match command:
            case Refit():
                if not self._refitter.request("refit", rid):
                    return self._event("error", rid, "refit", "a refit is already running: wait for its reply")
                return None  # the refitter announces the outcome
            case Rollback(to_version=to_version):
                return await self._rollback(to_version, rid)
            case Pin(version=version):
                return await self._pin(version, rid)
            case Unpin():
                controls = await self._store.controls()
                await self._store.set_controls(Controls(None, controls.k))
                reasons = [] if controls.pinned else ["no version was pinned"]
                return self._event("unpinned", rid, "unpin", *reasons)
            case SetK(k=k):
                controls = await self._store.controls()
                await self._store.set_controls(Controls(controls.pinned, None if k == "auto" else k))
                event = self._event("k_set", rid, "set_k")
                return event.model_copy(update={"k": None if k == "auto" else k, "status": {"k": k}})
            case Status():
                drift = self._drift() if self._drift else None
                return self._event("status", rid, "status").model_copy(
                    update={"status": await self._status(), "drift": drift}
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
        back = restored(target, next_version(current_version), current)
        await self._store.publish(back)
        await self._holder.refresh()
        log.info("rolled back to the content of version %d as version %d", back.content_version, back.version)
        return served_event(
            back, kind="rolled_back", cause="rollback", request_id=rid, previous_version=current_version
        )

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
        served = target
        if current_version is not None:
            current = await self._store.load(current_version)
            if current.content_version != target.content_version:
                served = restored(target, next_version(current_version), current)
                await self._store.publish(served, despite_pin=True)
                await self._holder.refresh()
            else:
                served = current
        await self._store.set_controls(Controls(served.version, controls.k))
        log.info("pinned version %d (content of %d)", served.version, served.content_version)
        return served_event(served, kind="pinned", cause="pin", request_id=rid, previous_version=current_version)

    async def _status(self) -> dict[str, Any]:
        controls = await self._store.controls()
        last = self._refitter.last
        return {
            "served_version": self._holder.model.version if self._holder.model else None,
            "current_version": await self._store.current_version(),
            "pinned": controls.pinned,
            "k": controls.k or "auto",
            "refit_running": self._refitter.running,
            "sampled_leads": self._refitter.sampled,
            "last_refit": None
            if last is None
            else {
                "cause": last.cause,
                "outcome": last.outcome,
                "at": last.at.isoformat(),
                "version": last.version,
                "reasons": list(last.reasons),
            },
            "history": (await self._store.history())[-10:],
        }

    def _event(self, kind: Any, rid: str | None, cause: str, *reasons: str) -> ModelEvent:
        served = self._holder.model
        return ModelEvent(
            type=kind,
            request_id=rid,
            cause=cause,
            version=served.version if served else None,
            k=len(served.snapshot.segments) if served else None,
            reasons=list(reasons),
            at=datetime.now(UTC),
        )
