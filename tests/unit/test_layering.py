"""The pure core loads no streaming, settings, CLI or plotting library; the schema layer no transport; the
worker (which shares the CLI) no fitting or plotting library."""

import ast
import json
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import segmentation

ROOT = Path(__file__).resolve().parents[2]
EDGE_LIBRARIES = ("faust", "aiokafka", "redis", "pydantic_settings", "typer", "rich", "matplotlib")

# Runs in a fresh interpreter: imports each group of modules in turn and, after each group, records
# every loaded top-level package and, for each watched one, the module whose import first loaded it.
PROBE = """
import importlib, json, sys

WATCHED = set(json.loads(sys.argv[2]))
first_importer = {}


def importer(frame):
    while frame and (frame.f_code.co_filename.startswith("<frozen") or frame.f_globals["__name__"] == "__main__"):
        frame = frame.f_back
    return frame.f_globals.get("__name__") if frame else None


class Watch:
    def find_spec(self, fullname, path=None, target=None):
        if fullname in WATCHED and fullname not in first_importer:
            first_importer[fullname] = importer(sys._getframe(1))
        return None


sys.meta_path.insert(0, Watch())
after = []
for group in json.loads(sys.argv[1]):
    for name in group:
        importlib.import_module(name)
    after.append({"loaded": sorted({m.split(".")[0] for m in sys.modules}), "first_importer": dict(first_importer)})
print(json.dumps(after))
"""

WATCHED = {*EDGE_LIBRARIES, "models", "streams", "segmenter", "pydantic"}
MODELS = ["models.snapshot", "models.strategies", "models.exceptions"]
SCHEMA_FORBIDDEN = {"faust", "aiokafka", "redis", "typer", "rich", "matplotlib", "streams", "segmenter"}


def core_modules() -> list[str]:
    return [f"segmentation.{m.name}" for m in pkgutil.iter_modules(segmentation.__path__)]


def probe(groups: list[list[str]]) -> list[dict[str, Any]]:
    """What a fresh interpreter loaded after importing each group of modules in turn."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(groups), json.dumps(sorted(WATCHED))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    after: list[dict[str, Any]] = json.loads(result.stdout)
    return after


@pytest.fixture(scope="module")
def imports() -> list[dict[str, Any]]:
    """What a fresh interpreter loaded after importing the core, then after also importing `models`."""
    return probe([["segmentation", *core_modules()], MODELS])


def unexpected(state: dict[str, Any], forbidden: set[str]) -> dict[str, str]:
    """Forbidden packages that got loaded, with their importer. scikit-learn >= 1.9 imports `rich`
    itself when it is installed (an optional progress bar in `sklearn.callback`); that one is not ours."""
    found = {name: state["first_importer"].get(name, "?") for name in forbidden & set(state["loaded"])}
    if found.get("rich", "").startswith("sklearn."):
        del found["rich"]
    return found


def test_the_core_has_the_modules_the_style_guide_names() -> None:
    names = {name.split(".")[1] for name in core_modules()}
    assert {"selection", "kmeans", "density", "projection", "profiling", "impact", "identity"} <= names


def test_importing_the_core_loads_no_edge_library(imports: list[dict[str, Any]]) -> None:
    core = imports[0]
    assert {"segmentation", "numpy"} <= set(core["loaded"])
    # Nor the project's outer layers, nor pydantic: the core is numpy, scipy and scikit-learn only.
    assert unexpected(core, WATCHED) == {}


def imported_roots(path: Path) -> list[tuple[int, set[str]]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.append((node.lineno, {alias.name.split(".")[0] for alias in node.names}))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, {node.module.split(".")[0]}))
    return found


def test_the_core_source_imports_only_numpy_scipy_sklearn_and_itself() -> None:
    allowed = {"numpy", "scipy", "sklearn", "segmentation"} | set(sys.stdlib_module_names)
    for path in sorted(Path(segmentation.__path__[0]).glob("*.py")):
        for line, roots in imported_roots(path):
            assert roots <= allowed, f"segmentation/{path.name}:{line} imports {sorted(roots - allowed)}"


def test_the_schema_source_imports_no_transport_cli_or_plots() -> None:
    for path in sorted((ROOT / "models").glob("*.py")):
        for line, roots in imported_roots(path):
            assert not roots & SCHEMA_FORBIDDEN, f"models/{path.name}:{line} imports {sorted(roots & SCHEMA_FORBIDDEN)}"


def test_the_core_does_no_io_of_its_own() -> None:
    banned = {"open", "print", "logging", "os", "socket", "pathlib", "urllib", "requests", "environ"}
    for path in sorted(Path(segmentation.__path__[0]).glob("*.py")):
        # Names read, not stored: a field called `open` (tallies.Cell) opens nothing.
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
        modules = {
            alias.name.split(".")[0]
            for n in ast.walk(ast.parse(path.read_text()))
            if isinstance(n, ast.Import)
            for alias in n.names
        }
        assert not (names | modules) & banned, f"{path.name} uses {sorted((names | modules) & banned)}"


def test_importing_the_model_artifact_and_strategies_loads_no_transport_cli_or_plots(
    imports: list[dict[str, Any]],
) -> None:
    schema = imports[1]
    assert {"models", "segmentation", "pydantic"} <= set(schema["loaded"])
    assert unexpected(schema, SCHEMA_FORBIDDEN) == {}


def test_the_worker_loads_no_fitting_or_plotting_library() -> None:
    """`segmenter worker` imports the whole CLI; scikit-learn, SciPy and matplotlib load only in the commands
    that fit or draw (and in the refit's child process), so the routing process stays small."""
    worker = probe([["segmenter.main", "streams.app"]])[0]
    assert {"faust", "aiokafka", "numpy"} <= set(worker["loaded"])
    assert not {"sklearn", "scipy", "matplotlib", "pyarrow"} & set(worker["loaded"])
