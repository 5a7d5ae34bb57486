"""Operator commands (topic `segmenter-control`) and model events (topic `segmenter-models`): plain JSON,
so that any Kafka client can steer the workers and follow what they decided."""

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, TypeAdapter, ValidationError, field_serializer

from models.drift import DriftReport
from models.exceptions import ConfigError
from models.snapshot_parts import GateReport, LineageEntry

__all__ = [
    "COMMAND_NAMES",
    "EVENT_TYPES",
    "Command",
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
    "parse_command",
    "request_id_of",
]

MAX_K = 30
_Command = ConfigDict(frozen=True, extra="forbid", strict=True)
RequestId = Annotated[str, Field(min_length=1, max_length=200)]


class Refit(BaseModel):
    """Refit on the sampled leads; the candidate is promoted only if the gate passes."""

    model_config = _Command
    command: Literal["refit"]
    request_id: RequestId | None = None


class Rollback(BaseModel):
    """Serve the content served before the current one (or `to_version`'s) again, under a new version."""

    model_config = _Command
    command: Literal["rollback"]
    to_version: int | None = Field(default=None, ge=1)
    request_id: RequestId | None = None


class Pin(BaseModel):
    """Serve `version`'s content and promote nothing until unpinned (refits still run and report)."""

    model_config = _Command
    command: Literal["pin"]
    version: int = Field(ge=1)
    request_id: RequestId | None = None


class Unpin(BaseModel):
    model_config = _Command
    command: Literal["unpin"]
    request_id: RequestId | None = None


class SetK(BaseModel):
    """The K of later refits: a number, or "auto" to choose it again each time."""

    model_config = _Command
    command: Literal["set_k"]
    k: Annotated[int, Field(ge=2, le=MAX_K)] | Literal["auto"]
    request_id: RequestId | None = None


class Status(BaseModel):
    model_config = _Command
    command: Literal["status"]
    request_id: RequestId | None = None


Command = Annotated[Refit | Rollback | Pin | Unpin | SetK | Status, Field(discriminator="command")]
COMMAND_NAMES = ("refit", "rollback", "pin", "unpin", "set_k", "status")
EVENT_TYPES = ("promoted", "rejected", "rolled_back", "pinned", "unpinned", "k_set", "status", "error")
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


class KSetting(BaseModel):
    """The `k_set` reply's status: the K of later refits now set."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    k: int | Literal["auto"]


class ModelEvent(BaseModel):
    """One message on `segmenter-models`: the reply to a command (`request_id` echoed), or a model promoted by
    the timer or `segmenter publish`. `version` is the version served after the event."""

    model_config = ConfigDict(frozen=True)
    type: Literal["promoted", "rejected", "rolled_back", "pinned", "unpinned", "k_set", "status", "error"]
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
    at: datetime

    @field_serializer("status")
    def _status_with_nulls(self, status: StatusReport | KSetting | None) -> dict[str, Any] | None:
        """A status says "not pinned" as `null` even where events leave empty fields out (`exclude_none`)."""
        return None if status is None else status.model_dump(mode="json")


def parse_command(value: bytes | None) -> Refit | Rollback | Pin | Unpin | SetK | Status:
    """The command in a control message; `ConfigError` says what is wrong with any other message.

    Examples:
        >>> parse_command(b'{"command": "set_k", "k": 6, "request_id": "r1"}')
        SetK(command='set_k', k=6, request_id='r1')
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
            raise ConfigError(f'k: a whole number from 2 to {MAX_K}, or "auto"') from None
        raise ConfigError(f"{field}: {first['msg']}") from None


def request_id_of(value: bytes | None) -> str | None:
    """The `request_id` of a message that may not be a valid command, so that its error reply can echo it."""
    try:
        found = json.loads(value or b"").get("request_id")
    except (ValueError, AttributeError, RecursionError):
        return None
    return found[:200] if isinstance(found, str) else None
