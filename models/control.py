"""Operator commands (topic `segmenter-control`) and model events (topic `segmenter-models`): plain JSON,
so that any Kafka client can steer the workers and follow what they decided."""

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    TypeAdapter,
    ValidationError,
    field_serializer,
)

from models.drift import DriftReport
from models.exceptions import ConfigError
from models.k_range import MAX_K, MIN_K
from models.snapshot_parts import GateReport, LineageEntry

__all__ = [
    "COMMAND_NAMES",
    "EVENT_TYPES",
    "Command",
    "ImpactSummary",
    "KSetting",
    "LastRefit",
    "ModelEvent",
    "Pin",
    "Refit",
    "Rollback",
    "SetK",
    "Status",
    "StatusReport",
    "Unpin",
    "command_age",
    "expiry",
    "parse_command",
    "request_id_of",
]

RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class _Command(BaseModel):
    """What every command may carry: a `request_id` its reply echoes, when it was sent and until when the sender
    waits. A worker carries out a command only if it is younger than `SEGMENTER_COMMAND_TTL_SECONDS` and not past
    its `deadline` (see `expiry`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    request_id: RequestId | None = None
    sent_at: AwareDatetime | None = Field(
        default=None, description="when the command was sent (RFC 3339 with an offset); absent: the record's time"
    )
    deadline: AwareDatetime | None = Field(
        default=None, description="the sender waits until then: not carried out later (RFC 3339 with an offset)"
    )


class Refit(_Command):
    """Refit on the sampled leads; the candidate is promoted only if the gate passes."""

    command: Literal["refit"]


class Rollback(_Command):
    """Serve the content served before the current one (or `to_version`'s) again, under a new version."""

    command: Literal["rollback"]
    to_version: int | None = Field(default=None, ge=1)


class Pin(_Command):
    """Serve `version`'s content and promote nothing until unpinned (refits still run and report)."""

    command: Literal["pin"]
    version: int = Field(ge=1)


class Unpin(_Command):
    command: Literal["unpin"]


class SetK(_Command):
    """The K of later refits: a number, or "auto" to choose it again each time."""

    command: Literal["set_k"]
    k: Annotated[int, Field(ge=MIN_K, le=MAX_K)] | Literal["auto"]


class Status(_Command):
    command: Literal["status"]


Command = Annotated[Refit | Rollback | Pin | Unpin | SetK | Status, Field(discriminator="command")]
COMMAND_NAMES = ("refit", "rollback", "pin", "unpin", "set_k", "status")
EVENT_TYPES = ("promoted", "rejected", "rolled_back", "pinned", "unpinned", "k_set", "status", "error", "expired")
_commands: TypeAdapter[Refit | Rollback | Pin | Unpin | SetK | Status] = TypeAdapter(Command)


IsoTime = Annotated[datetime, PlainSerializer(lambda at: at.isoformat(), return_type=str)]


class LastRefit(BaseModel):
    """The last refit a worker ran: what caused it, what became of it, when, the version served after it."""

    model_config = ConfigDict(frozen=True)
    cause: str
    outcome: str
    at: IsoTime
    version: int | None
    reasons: list[str]


class ImpactSummary(BaseModel):
    """The `status` reply's short word on measured impact: the served version's leads by what became of them, per
    arm (`segmenter impact` has the intervals and verdicts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    model_version: int
    exposed: dict[str, int] = Field(description="leads first exposed, per arm (segmented, holdout)")
    won: dict[str, int]
    lost: dict[str, int] = Field(description="lost, or no result when the attribution window closed")
    open: dict[str, int] = Field(description="no result yet, still inside the window: left out of rates")
    close_rate: dict[str, float | None] = Field(description="won / (won + lost) per arm; null: none matured")
    unattributed: int = Field(description="outcomes for leads never routed or after their window, all versions")


class StatusReport(BaseModel):
    """The `status` reply: what the replying worker serves, what Redis holds, and its refits."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    served_version: int | None = Field(description="the version this worker serves")
    current_version: int | None = Field(description="the current version in Redis")
    pinned: int | None
    k: int | Literal["auto"] = Field(description="the K of later refits")
    refit_running: bool
    sampled_leads: int = Field(description="leads in the shared refit sample")
    last_refit: LastRefit | None
    history: list[int] = Field(description="the last versions made current, oldest first")
    impact: ImpactSummary | None = Field(default=None, description="null: no outcome tallies for the served version")


class KSetting(BaseModel):
    """The `k_set` reply's status: the K of later refits now set."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    k: int | Literal["auto"]


class ModelEvent(BaseModel):
    """One message on `segmenter-models`: the reply to a command (`request_id` echoed), or a model promoted by
    the timer or `segmenter publish`. `version` is the version served after the event."""

    model_config = ConfigDict(frozen=True)
    type: Literal["promoted", "rejected", "rolled_back", "pinned", "unpinned", "k_set", "status", "error", "expired"]
    request_id: str | None = None
    cause: str = Field(description="what led to it: a command's name, schedule, publish")
    version: int | None = None
    previous_version: int | None = None
    restored_from: int | None = None
    k: int | None = None
    segments: int | None = None
    reasons: list[str] = []
    gate: GateReport | None = None
    lineage: list[LineageEntry] | None = Field(
        default=None,
        description="on a promotion by a refit, or a rejection (what the candidate would have changed): each segment "
        "kept, new, retired, split or merged",
    )
    status: StatusReport | KSetting | None = Field(
        default=None, description="in a status reply: the worker's report; in a k_set reply: the K set"
    )
    drift: DriftReport | None = Field(
        default=None, description="in a status reply: the replying worker's recent leads against the served model"
    )
    age_seconds: float | None = Field(
        default=None, description="in an expired reply: how long before the reply the command was sent"
    )
    at: datetime

    @field_serializer("status")
    def _status_with_nulls(self, status: StatusReport | KSetting | None) -> dict[str, Any] | None:
        """A status says "not pinned" as `null` even where events leave empty fields out (`exclude_none`)."""
        return None if status is None else status.model_dump(mode="json")


def parse_command(value: bytes | None) -> Refit | Rollback | Pin | Unpin | SetK | Status:
    """The command in a control message; `ConfigError` says what is wrong with any other message.

    Examples:
        >>> parse_command(b'{"command": "set_k", "k": 6, "request_id": "r1"}')
        SetK(request_id='r1', sent_at=None, deadline=None, command='set_k', k=6)
        >>> parse_command(b'{"command": "reboot"}')
        Traceback (most recent call last):
        ...
        models.exceptions.ConfigError: unknown command 'reboot' (known: refit, rollback, pin, unpin, set_k, status)
    """
    try:
        return _commands.validate_json(value or b"")
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        if first["type"] == "union_tag_invalid":
            raise ConfigError(
                f"unknown command {first['input']['command']!r} (known: {', '.join(COMMAND_NAMES)})"
            ) from None
        if first["type"] == "union_tag_not_found":
            raise ConfigError('not a control message: a JSON object with "command" is expected') from None
        if first["type"] == "json_invalid" or len(first["loc"]) < 2:
            raise ConfigError(f"not a control message, a JSON object is expected: {first['msg']}") from None
        field = str(first["loc"][1])
        if field == "k":
            raise ConfigError(f'k: a whole number from {MIN_K} to {MAX_K}, or "auto"') from None
        raise ConfigError(f"{field}: {first['msg']}") from None


def request_id_of(value: bytes | None) -> str | None:
    """The `request_id` of a message that may not be a valid command, so that its error reply can echo it."""
    try:
        found = json.loads(value or b"").get("request_id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return found[:200] if isinstance(found, str) else None


def command_age(command: _Command, now: datetime, record_time: datetime | None) -> float | None:
    """Seconds since `command` was sent: from its `sent_at`, else from the time of the Kafka record that carried
    it (a command written by hand, e.g. with kcat); None if neither is known. A clock ahead of ours gives 0.

    Examples:
        >>> from datetime import UTC
        >>> sent = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        >>> command_age(parse_command(b'{"command": "status", "sent_at": "2026-01-01T11:59:30Z"}'), sent, None)
        30.0
        >>> command_age(parse_command(b'{"command": "status"}'), sent, datetime(2026, 1, 1, 11, 58, tzinfo=UTC))
        120.0
    """
    sent = command.sent_at or record_time
    return None if sent is None else max((now - sent).total_seconds(), 0.0)


def expiry(command: _Command, now: datetime, ttl_seconds: float, record_time: datetime | None) -> str | None:
    """Why `command` must not be carried out any more (past the deadline its sender gave, or older than
    `ttl_seconds`), or None if it may.

    Examples:
        >>> from datetime import UTC
        >>> now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
        >>> late = parse_command(b'{"command": "rollback", "deadline": "2026-01-01T11:59:57+00:00"}')
        >>> expiry(late, now, 60, None)
        'past its deadline by 3.0s (the sender stopped waiting then): not carried out'
        >>> old = parse_command(b'{"command": "rollback", "sent_at": "2026-01-01T11:58:00Z"}')
        >>> expiry(old, now, 60, None)
        'sent 120.0s ago, more than SEGMENTER_COMMAND_TTL_SECONDS (60s): not carried out'
        >>> expiry(old, now, 300, None) is None
        True
    """
    if command.deadline is not None and now > command.deadline:
        late = (now - command.deadline).total_seconds()
        return f"past its deadline by {late:.1f}s (the sender stopped waiting then): not carried out"
    age = command_age(command, now, record_time)
    if age is not None and age > ttl_seconds:
        return f"sent {age:.1f}s ago, more than SEGMENTER_COMMAND_TTL_SECONDS ({ttl_seconds:g}s): not carried out"
    return None
