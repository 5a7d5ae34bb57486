"""Every message of the dead-letter topic is built here: the input's bytes, cut to a limit and marked
`truncated` when cut, and the reason in headers (`DeadLetter`)."""

from dataclasses import dataclass

from models.events import MAX_REASON_LENGTH, DeadLetter
from streams.clients import Outgoing, RawLead

__all__ = ["DeadLetters", "Rejected", "undeliverable"]

# A dead letter the broker refused is sent again with at most this many bytes of its input.
REFUSED_LETTER_BYTES = 1024
_TRUNCATED = ("truncated", b"true")


@dataclass(frozen=True)
class Rejected:
    """A message that cannot be assigned, and why."""

    raw: RawLead
    error_class: str
    reason: str


def undeliverable(output: Outgoing, error: BaseException) -> Rejected:
    """The input of an output the broker will never accept, rejected so that its dead letter replaces the output."""
    return Rejected(output.source, "undeliverable", f"{type(error).__name__}: the broker refused the output")


class DeadLetters:
    """Dead letters for the topic `topic`, each carrying at most `max_bytes` of its input."""

    def __init__(self, topic: str, max_bytes: int) -> None:
        self.topic = topic
        self._max_bytes = max_bytes

    def of(self, rejected: Rejected, model_version: int | None) -> Outgoing:
        """The dead letter of a rejected input (an oversize event is cut: it may be too large to produce at all)."""
        raw = rejected.raw
        headers = DeadLetter(
            source_topic=raw.topic,
            source_partition=raw.partition,
            source_offset=raw.offset,
            error_class=rejected.error_class,
            reason=rejected.reason[:MAX_REASON_LENGTH],
            model_version=model_version,
        ).headers()
        return _cut(Outgoing(self.topic, raw.key, raw.value, headers, raw), self._max_bytes)

    def shortened(self, letter: Outgoing) -> Outgoing | None:
        """A refused dead letter cut to `REFUSED_LETTER_BYTES`; None if it is no longer than that already."""
        if letter.value is None or len(letter.value) <= REFUSED_LETTER_BYTES:
            return None
        return _cut(letter, REFUSED_LETTER_BYTES)


def _cut(letter: Outgoing, limit: int) -> Outgoing:
    """`letter` with at most `limit` bytes of value, marked `truncated` if any were cut."""
    if letter.value is None or len(letter.value) <= limit:
        return letter
    headers = letter.headers if _TRUNCATED in letter.headers else [*letter.headers, _TRUNCATED]
    return letter._replace(value=letter.value[:limit], headers=headers)
