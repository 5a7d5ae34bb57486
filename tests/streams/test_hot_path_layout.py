"""The hot path's modules point one way: the transport knows nothing of decoding, and nothing on the hot path
imports the refitter (the reservoir is fed through a callback)."""

import ast
from functools import cache
from pathlib import Path

import pytest

STREAMS = Path(__file__).resolve().parents[2] / "streams"
HOT_PATH = ["records", "decode", "assign", "dead_letters", "delivery", "previous", "serving", "router"]
TRANSPORT = ["records", "outbox", "kafka"]


@cache
def imports_of(module: str) -> frozenset[str]:
    """The `streams` modules that `streams.<module>` imports, directly or through others."""
    tree = ast.parse((STREAMS / f"{module}.py").read_text())
    direct = {
        node.module.split(".")[1]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("streams.")
    }
    return frozenset(direct.union(*(imports_of(name) for name in direct)))


@pytest.mark.parametrize("module", HOT_PATH)
def test_the_hot_path_does_not_import_the_refitter_or_the_app(module: str) -> None:
    assert not imports_of(module) & {"refit", "app", "batch_engine"}


@pytest.mark.parametrize("module", TRANSPORT)
def test_the_transport_does_not_import_the_decoder_or_the_assignment(module: str) -> None:
    assert not imports_of(module) & {"decode", "assign"} - {module}


def test_records_and_dead_letters_stand_on_their_own() -> None:
    assert imports_of("records") == frozenset()
    assert imports_of("dead_letters") == {"records"}
