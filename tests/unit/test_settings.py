"""Settings whose default depends on another: the batch size under exactly_once."""

import pytest

from models.settings import EXACTLY_ONCE_BATCH_SIZE, Settings


@pytest.mark.parametrize(
    ("env", "batch_size"),
    [
        ({}, 1000),
        ({"SEGMENTER_PROCESSING_GUARANTEE": "exactly_once"}, EXACTLY_ONCE_BATCH_SIZE),
        ({"SEGMENTER_PROCESSING_GUARANTEE": "exactly_once", "SEGMENTER_BATCH_SIZE": "1500"}, 1500),
        ({"SEGMENTER_PROCESSING_GUARANTEE": "at_least_once"}, 1000),
    ],
)
def test_exactly_once_batches_are_larger_unless_the_size_is_set(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], batch_size: int
) -> None:
    for name in ("SEGMENTER_PROCESSING_GUARANTEE", "SEGMENTER_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert Settings().batch_size == batch_size
    assert Settings(batch_size=7).batch_size == 7  # given in code, it wins too


@pytest.mark.parametrize(
    "given",
    [
        {"processing_guarantee": "exactly_once"},
        {"processing_guarantee": "exactly_once", "batch_size": 1000},
        {"processing_guarantee": "at_least_once", "batch_size": EXACTLY_ONCE_BATCH_SIZE},
    ],
)
def test_the_variables_of_as_env_rebuild_the_same_batch_size(
    monkeypatch: pytest.MonkeyPatch, given: dict[str, object]
) -> None:
    for name in ("SEGMENTER_PROCESSING_GUARANTEE", "SEGMENTER_BATCH_SIZE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(**given)  # type: ignore[arg-type]
    for name, value in settings.as_env().items():  # as a child worker gets them
        monkeypatch.setenv(name, value)
    assert Settings().batch_size == settings.batch_size
