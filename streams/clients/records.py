"""Kafka records as the hot path sees them: a message in (`RawLead`) and a message out (`Outgoing`)."""

from typing import NamedTuple, Protocol

__all__ = ["LeadMessage", "Outgoing", "RawLead"]


class RawLead(Protocol):
    """One message as the transport delivered it (aiokafka's `ConsumerRecord` is one, as is `LeadMessage`)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


class LeadMessage(NamedTuple):
    """A `RawLead` built from another transport's message (a Faust event, a test)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


class Outgoing(NamedTuple):
    """One message to produce, and the input it answers (for dead-lettering it if it cannot be sent)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    source: RawLead
