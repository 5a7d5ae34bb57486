"""The decision between Redis and the registry topic (streams/model_plane/restore.py): each side only ever moves
forward, to the other's newer version or to its controls of a higher revision; and how the topic is read."""

import itertools

import orjson
import pytest

from streams.model_plane.registry import RegistryLog, controls_record
from streams.model_plane.restore import Copy, Plan, plan
from streams.model_plane.store import HISTORY_KEPT, Controls, StoredControls

VERSIONS = [None, 1, 2, 3]


@pytest.mark.parametrize(
    ("redis", "registry", "served", "expected"),
    [
        (Copy(None, None), Copy(None, None), None, Plan()),  # nothing anywhere: nothing to do
        (Copy(None, None), Copy(7, 5), 7, Plan(restore_pointer=True, restore_history=True, restore_controls=True)),
        (Copy(5, 4), Copy(7, 5), 7, Plan(restore_pointer=True, restore_history=True, restore_controls=True)),
        (Copy(7, 5), Copy(7, 5), 7, Plan()),  # in step
        (Copy(8, 6), Copy(7, 5), 7, Plan(copy_models=True, copy_controls=True)),  # a write to the topic failed
        (Copy(7, None), Copy(7, None), 9, Plan(copy_served=True)),  # the worker holds a version both lack
        (Copy(None, None), Copy(7, None), 9, Plan(restore_pointer=True, restore_history=True, copy_served=True)),
        (Copy(7, 0), Copy(None, None), None, Plan(copy_models=True, copy_controls=True)),  # controls before revisions
    ],
)
def test_each_case_moves_the_side_behind_to_the_side_ahead(
    redis: Copy, registry: Copy, served: int | None, expected: Plan
) -> None:
    assert plan(redis, registry, served=served) == expected


def test_a_history_shorter_than_the_registry_is_merged_without_moving_the_pointer() -> None:
    # Redis flushed, then a version published before any worker restored: the pointer is ahead, the history not.
    assert plan(Copy(8, None), Copy(7, None), history_complete=False) == Plan(restore_history=True, copy_models=True)


@pytest.mark.parametrize(("redis", "registry", "served"), list(itertools.product(VERSIONS, VERSIONS, VERSIONS)))
def test_no_plan_ever_moves_a_side_back_or_acts_both_ways(
    redis: int | None, registry: int | None, served: int | None
) -> None:
    todo = plan(Copy(redis, redis), Copy(registry, registry), served=served)
    assert not (todo.restore_pointer and todo.copy_models)
    assert not (todo.restore_controls and todo.copy_controls)
    if todo.restore_pointer:
        assert registry is not None and (redis is None or registry > redis)
    if todo.copy_models:
        assert redis is not None and (registry is None or redis > registry)
    if todo.copy_served:
        assert served is not None and (registry is None or served > registry)
    if redis == registry and served in (None, registry):
        assert todo == Plan()


def test_the_log_keeps_every_version_and_the_controls_of_the_highest_revision() -> None:
    log = RegistryLog()
    for version in (3, 1, 2):
        log.apply(f"model:{version}".encode(), b"{}")
    log.apply(*controls_record(StoredControls(Controls(pinned=2, k=None), revision=20)))
    log.apply(*controls_record(StoredControls(Controls(pinned=None, k=4), revision=10)))  # an older copy, written late
    log.apply(b"something-else", b"x")  # skipped, said in the log
    log.apply(b"controls", orjson.dumps({"pinned": 1}))  # no revision: skipped
    assert (log.newest, sorted(log.models)) == (3, [1, 2, 3])
    assert log.controls == StoredControls(Controls(pinned=2, k=None), revision=20)


def test_the_log_keeps_the_newest_versions_the_history_keeps() -> None:
    log = RegistryLog()
    for version in range(1, 2 * HISTORY_KEPT + 2):
        log.apply(f"model:{version}".encode(), b"{}")
    assert min(log.models) > HISTORY_KEPT and log.newest == 2 * HISTORY_KEPT + 1
    assert len(log.models) <= 2 * HISTORY_KEPT
