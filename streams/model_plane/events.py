"""Every event on the models topic is built here: a reply stamped with the model served when it is sent, the
event of a model now served, and `promote`, the one way a snapshot becomes the served model (publish it, swap the
holder to it, say so)."""

from datetime import UTC, datetime
from typing import Any, Literal

from models.control import ModelEvent
from models.snapshot import ModelSnapshot
from streams.model_plane.serving import ModelHolder
from streams.model_plane.store import ModelStore

__all__ = ["promote", "reply", "served"]

Reply = Literal["rejected", "unpinned", "k_set", "status", "error", "expired"]
Served = Literal["promoted", "rolled_back", "pinned"]


def reply(
    kind: Reply,
    holder: ModelHolder,
    *,
    cause: str,
    request_id: str | None,
    reasons: tuple[str, ...] = (),
    **fields: Any,
) -> ModelEvent:
    """A reply that changes no model: its version and K are those the worker serves as it replies."""
    return ModelEvent(
        type=kind,
        request_id=request_id,
        cause=cause,
        version=holder.version,
        k=holder.k,
        reasons=list(reasons),
        at=datetime.now(UTC),
        **fields,
    )


def served(
    snapshot: ModelSnapshot,
    *,
    kind: Served = "promoted",
    cause: str,
    request_id: str | None = None,
    previous_version: int | None = None,
) -> ModelEvent:
    """The event saying `snapshot` is now served (promoted by a refit or `publish`, or put back by an operator)."""
    return ModelEvent(
        type=kind,
        request_id=request_id,
        cause=cause,
        version=snapshot.version,
        previous_version=previous_version,
        restored_from=snapshot.restored_from,
        k=len(snapshot.segments),
        segments=len(snapshot.segments),
        gate=snapshot.gate,
        lineage=snapshot.lineage,
        at=datetime.now(UTC),
    )


async def promote(
    store: ModelStore,
    holder: ModelHolder | None,
    snapshot: ModelSnapshot,
    *,
    kind: Served = "promoted",
    cause: str,
    request_id: str | None = None,
    previous_version: int | None = None,
    despite_pin: bool = False,
) -> ModelEvent:
    """Publish `snapshot` as the current model (refused while a version is pinned unless `despite_pin`: the pin
    itself), swap `holder` to it if this worker has one, and return the event that says so. A promoted snapshot
    records that `segmenter publish` or a refit made it (a rollback's or pin's says so already)."""
    if kind == "promoted":
        snapshot = snapshot.model_copy(update={"made_by": "publish" if cause == "publish" else "refit"})
    await store.publish(snapshot, despite_pin=despite_pin)
    if holder is not None:
        await holder.refresh()
    return served(snapshot, kind=kind, cause=cause, request_id=request_id, previous_version=previous_version)
