"""Control commands against the in-memory store: one reply each, rollback and pin without versions going back,
and nothing an operator sends changes anything unless it is a valid command."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from models.control import ModelEvent, StatusReport
from models.settings import Settings
from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.features import FEATURES
from segmentation.synthetic import generate_leads
from streams.exceptions import PinnedError
from streams.model_plane.control import Controller
from streams.model_plane.drift import DriftMonitor
from streams.model_plane.refit import Refitter
from streams.model_plane.serving import ModelHolder
from streams.model_plane.store import Controls, InMemoryModelStore
from tests.waiting import eventually

NEVER = 3600.0


class NoLeads:
    """A refit sample with nothing in it."""

    size = 0

    async def rows(self) -> np.ndarray:
        return np.empty((0, len(FEATURES)))


@pytest.fixture(scope="module")
def models() -> tuple[ModelSnapshot, ModelSnapshot]:
    """Two models with different content (K=3 and K=4)."""
    X = generate_leads(600, random_state=8).X
    return (
        fit_model(X, config=StrategyConfig(), k=3, version=1)[1],
        fit_model(X, config=StrategyConfig(), k=4, version=2)[1],
    )


class Operator:
    """A controller over an in-memory store, and the replies it announced."""

    def __init__(self, store: InMemoryModelStore) -> None:
        self.store = store
        self.replies: list[ModelEvent] = []
        self.holder = ModelHolder(store, poll_seconds=NEVER)

        refitter = Refitter(Settings(), self.holder, store, NoLeads(), self.announce)
        drift = DriftMonitor(Settings(), lambda: self.holder.model, refitter)
        self.controller = Controller(store, self.holder, refitter, self.announce, drift.report)

    async def announce(self, event: ModelEvent) -> None:
        self.replies.append(event)

    async def send(self, command: dict[str, object] | bytes) -> ModelEvent:
        before = len(self.replies)
        await self.controller.handle(command if isinstance(command, bytes) else json.dumps(command).encode())
        assert len(self.replies) == before + 1, "exactly one reply per command"
        return self.replies[-1]


def run(models: tuple[ModelSnapshot, ...], body: Callable[[Operator], Awaitable[None]]) -> None:
    async def main() -> None:
        store = InMemoryModelStore()
        for snapshot in models:
            await store.publish(snapshot)
        operator = Operator(store)
        await operator.holder.refresh()
        await body(operator)

    asyncio.run(main())


def test_rollback_serves_the_previous_content_under_a_newer_version(
    models: tuple[ModelSnapshot, ModelSnapshot],
) -> None:
    async def body(op: Operator) -> None:
        reply = await op.send({"command": "rollback", "request_id": "r1"})
        assert (reply.type, reply.request_id) == ("rolled_back", "r1")
        assert (reply.previous_version, reply.restored_from) == (2, 1)
        assert reply.version is not None and reply.version > 2
        assert op.holder.model is not None and op.holder.model.version == reply.version
        assert len(op.holder.model.snapshot.segments) == 3  # the content of version 1
        assert op.holder.model.snapshot.high_water == 3  # id 3 of version 2 is never given out again
        again = await op.send({"command": "rollback"})  # undoes the rollback: the content of version 2
        assert again.restored_from == 2 and again.version is not None and again.version > reply.version

    run(models, body)


def test_rollback_to_a_version_and_to_one_that_does_not_exist(models: tuple[ModelSnapshot, ModelSnapshot]) -> None:
    async def body(op: Operator) -> None:
        assert (await op.send({"command": "rollback", "to_version": 1})).restored_from == 1
        missing = await op.send({"command": "rollback", "to_version": 99, "request_id": "x"})
        assert (missing.type, missing.request_id) == ("error", "x") and "99" in missing.reasons[0]

    run(models, body)


def test_a_pin_serves_its_version_and_blocks_promotion_until_unpinned(
    models: tuple[ModelSnapshot, ModelSnapshot],
) -> None:
    first, second = models

    async def body(op: Operator) -> None:
        pinned = await op.send({"command": "pin", "version": 1})
        assert pinned.type == "pinned" and pinned.restored_from == 1
        assert (await op.store.controls()).pinned == pinned.version
        with pytest.raises(PinnedError):  # what a refit or `segmenter publish` meets
            await op.store.publish(second.model_copy(update={"version": 10**13}))
        refused = await op.send({"command": "rollback"})
        assert refused.type == "error" and "pinned" in refused.reasons[0]
        assert (await op.send({"command": "unpin"})).type == "unpinned"
        await op.store.publish(second.model_copy(update={"version": 10**13}))
        assert (await op.store.controls()).pinned is None

    run(models, body)


def test_pinning_the_served_content_publishes_nothing_new(models: tuple[ModelSnapshot, ModelSnapshot]) -> None:
    async def body(op: Operator) -> None:
        reply = await op.send({"command": "pin", "version": 2})
        assert (reply.type, reply.version, reply.restored_from) == ("pinned", 2, None)
        assert await op.store.history() == [1, 2]

    run(models, body)


def test_set_k_and_status(models: tuple[ModelSnapshot, ModelSnapshot]) -> None:
    async def body(op: Operator) -> None:
        assert (await op.send({"command": "set_k", "k": 6})).k == 6
        assert await op.store.controls() == Controls(None, 6)
        status = await op.send({"command": "status", "request_id": "s"})
        assert isinstance(status.status, StatusReport)
        assert (status.status.k, status.status.served_version, status.status.history) == (6, 2, [1, 2])
        assert status.drift is not None and (status.drift.state, status.drift.model_version) == ("filling", 2)
        await op.send({"command": "set_k", "k": "auto"})
        assert await op.store.controls() == Controls(None, None)

    run(models, body)


def test_a_refit_with_too_few_leads_is_rejected_with_the_reason(models: tuple[ModelSnapshot, ModelSnapshot]) -> None:
    async def body(op: Operator) -> None:
        await op.controller.handle(b'{"command": "refit", "request_id": "f"}')
        await eventually(lambda: op.replies, "a reply to the refit")
        (reply,) = op.replies
        assert (reply.type, reply.request_id, reply.version) == ("rejected", "f", 2)
        assert "leads sampled" in reply.reasons[0]

    run(models, body)


@given(
    st.one_of(
        st.binary(max_size=60),
        st.dictionaries(
            st.sampled_from(["command", "k", "version", "to_version", "request_id", "x"]),
            st.one_of(st.none(), st.booleans(), st.integers(-5, 40), st.text(max_size=8), st.lists(st.integers())),
            max_size=4,
        ).map(lambda d: json.dumps(d).encode()),
    )
)
def test_whatever_an_operator_sends_gets_one_reply_and_a_malformed_one_changes_nothing(value: bytes) -> None:
    assume(b'"refit"' not in value)  # a refit's reply comes when it ends (the test above)
    first = fit_model(generate_leads(300, random_state=9).X, config=StrategyConfig(), k=3, version=1)[1]

    async def body(op: Operator) -> None:
        reply = await op.send(value)
        if reply.type == "error":
            assert await op.store.history() == [1] and await op.store.controls() == Controls()
            assert op.holder.model is not None and op.holder.model.version == 1

    run((first,), body)


def test_an_expired_command_gets_one_expired_reply_with_its_age_and_changes_nothing(
    models: tuple[ModelSnapshot, ModelSnapshot],
) -> None:
    now = datetime.now(UTC)

    async def body(op: Operator) -> None:
        old = (now - timedelta(seconds=75)).isoformat()
        reply = await op.send({"command": "rollback", "request_id": "r1", "sent_at": old})
        assert (reply.type, reply.request_id, reply.cause, reply.version) == ("expired", "r1", "rollback", 2)
        assert reply.age_seconds is not None and 75 <= reply.age_seconds < 80
        assert "SEGMENTER_COMMAND_TTL_SECONDS (60s)" in reply.reasons[0]
        late = await op.send({"command": "pin", "version": 1, "deadline": (now - timedelta(seconds=3)).isoformat()})
        assert late.type == "expired" and "past its deadline" in late.reasons[0]
        # a command without sent_at (kcat) is aged by the time of the record that carried it
        await op.controller.handle(b'{"command": "set_k", "k": 5}', now - timedelta(seconds=61))
        assert op.replies[-1].type == "expired" and op.replies[-1].age_seconds is not None
        assert await op.store.history() == [1, 2] and await op.store.controls() == Controls()
        assert op.holder.model is not None and op.holder.model.version == 2
        soon = (now + timedelta(seconds=30)).isoformat()
        fresh = await op.send({"command": "rollback", "sent_at": now.isoformat(), "deadline": soon})
        assert fresh.type == "rolled_back"  # within the TTL and before the deadline: carried out

    run(models, body)


def test_the_ttl_is_the_setting(models: tuple[ModelSnapshot, ModelSnapshot]) -> None:
    async def body(op: Operator) -> None:
        sent = (datetime.now(UTC) - timedelta(seconds=30)).isoformat()
        assert (await op.send({"command": "status", "sent_at": sent})).type == "status"
        refitter = Refitter(Settings(), op.holder, op.store, NoLeads(), op.announce)
        strict = Controller(op.store, op.holder, refitter, op.announce, ttl_seconds=10)
        await strict.handle(json.dumps({"command": "status", "sent_at": sent}).encode())
        assert op.replies[-1].type == "expired" and "(10s)" in op.replies[-1].reasons[0]

    run(models, body)
