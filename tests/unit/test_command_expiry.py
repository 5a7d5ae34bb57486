"""Commands expire: a command is carried out only before the deadline its sender gave and while it is younger
than the TTL, aged from its `sent_at` or, for a command written by hand without one, from its Kafka record."""

from datetime import UTC, datetime, timedelta

import pytest

from models.control import command_age, expiry, parse_command
from models.exceptions import ConfigError

NOW = datetime(2026, 12, 7, 3, 0, 0, tzinfo=UTC)


def command(**fields: str) -> bytes:
    stamps = ", ".join(f'"{name}": "{value}"' for name, value in fields.items())
    return ('{"command": "rollback"' + (", " + stamps if stamps else "") + "}").encode()


def test_the_age_is_from_sent_at_else_from_the_record_and_never_negative() -> None:
    sent = parse_command(command(sent_at="2026-12-07T02:59:15+00:00"))
    assert command_age(sent, NOW, NOW - timedelta(hours=1)) == 45.0  # sent_at wins over the record's time
    bare = parse_command(command())
    assert command_age(bare, NOW, NOW - timedelta(seconds=90)) == 90.0
    assert command_age(bare, NOW, None) is None
    ahead = parse_command(command(sent_at="2026-12-07T03:00:05+01:00"))  # another zone: an hour before NOW
    assert command_age(ahead, NOW, None) == pytest.approx(3600 - 5)
    future = parse_command(command(sent_at="2026-12-07T03:00:02Z"))  # the sender's clock runs ahead
    assert command_age(future, NOW, None) == 0.0


@pytest.mark.parametrize(
    ("fields", "record_age", "ttl", "expired"),
    [
        ({"sent_at": "2026-12-07T02:59:30Z"}, None, 60, None),
        ({"sent_at": "2026-12-07T02:58:59Z"}, None, 60, "sent 61.0s ago, more than SEGMENTER_COMMAND"),
        ({}, 59.0, 60, None),
        ({}, 75.0, 60, "sent 75.0s ago"),
        ({}, None, 60, None),  # nothing tells its age: carried out
        ({"sent_at": "2026-12-07T02:59:58Z", "deadline": "2026-12-07T03:00:01Z"}, None, 60, None),
        ({"sent_at": "2026-12-07T02:59:56Z", "deadline": "2026-12-07T02:59:59Z"}, None, 60, "past its deadline by"),
        ({"deadline": "2026-12-07T03:05:00Z"}, 120.0, 60, "sent 120.0s ago"),  # a far deadline does not lift the TTL
    ],
)
def test_a_command_expires_past_its_deadline_or_older_than_the_ttl(
    fields: dict[str, str], record_age: float | None, ttl: float, expired: str | None
) -> None:
    record_time = None if record_age is None else NOW - timedelta(seconds=record_age)
    why = expiry(parse_command(command(**fields)), NOW, ttl, record_time)
    if expired is None:
        assert why is None
    else:
        assert why is not None and why.startswith(expired) and why.endswith("not carried out")


@pytest.mark.parametrize("stamp", ['"sent_at": "2026-12-07T03:00:00"', '"deadline": "soon"', '"sent_at": 1765076400'])
def test_a_time_without_an_offset_or_not_a_time_is_refused_by_name(stamp: str) -> None:
    with pytest.raises(ConfigError, match=r"^(sent_at|deadline): "):
        parse_command(('{"command": "status", ' + stamp + "}").encode())
