"""`streams/` is grouped by role, and the arrows between the groups point one way: `app` → `operations` →
`outcomes` → `routing` → `model_plane` → `clients`, with `local` apart. Others use a group through its door (the
names its `__init__` lists), never its modules; the hot path takes only the served model from the model plane."""

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STREAMS = ROOT / "streams"
LAYERS = ["clients", "model_plane", "routing", "outcomes", "operations"]  # each may import only those before it
PACKAGES = [*LAYERS, "local"]
SHARED = {"exceptions", "metrics"}  # leaves every group may import
MAX_MODULES = 12


def streams_imports(path: Path) -> list[tuple[int, str, set[str]]]:
    """(line, module, names) of each `from streams... import names` in `path`."""
    return [
        (node.lineno, node.module, {alias.name for alias in node.names})
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "streams"
    ]


@cache
def door(package: str) -> frozenset[str]:
    """The names `streams/<package>/__init__.py` lists in `__all__`."""
    for node in ast.parse((STREAMS / package / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "__all__":
            return frozenset(ast.literal_eval(node.value))
    return frozenset()


def group_of(path: Path) -> str | None:
    parts = path.relative_to(STREAMS).parts
    return parts[0] if len(parts) == 2 else None


def modules(package: str) -> list[Path]:
    return sorted(p for p in (STREAMS / package).glob("*.py") if p.name != "__init__.py")


def test_streams_holds_only_the_groups_the_composition_root_and_the_shared_leaves() -> None:
    loose = {p.stem for p in STREAMS.glob("*.py")} - {"__init__"}
    folders = {p.name for p in STREAMS.iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert loose == {"app", *SHARED}
    assert folders == set(PACKAGES)


@pytest.mark.parametrize("package", PACKAGES)
def test_each_group_opens_with_what_lives_there_and_what_it_may_import(package: str) -> None:
    docstring = ast.get_docstring(ast.parse((STREAMS / package / "__init__.py").read_text()))
    assert docstring and "import" in docstring.lower()
    assert 0 < len(modules(package)) <= MAX_MODULES


@pytest.mark.parametrize("package", PACKAGES)
def test_the_groups_import_one_way(package: str) -> None:
    allowed = set(LAYERS[: LAYERS.index(package)]) if package in LAYERS else set()
    for path in modules(package):
        for line, module, _ in streams_imports(path):
            parts = module.split(".")
            if len(parts) == 1 or parts[1] in SHARED or parts[1] == package:
                continue
            assert parts[1] in allowed, f"streams/{package}/{path.name}:{line} imports {module}"


def test_the_shared_leaves_import_no_group() -> None:
    for name in SHARED:
        assert streams_imports(STREAMS / f"{name}.py") == []


def outside_users() -> list[Path]:
    """Every module that uses the groups from outside them: the app, the shared leaves, the CLI."""
    return [
        STREAMS / "app.py",
        *(STREAMS / f"{n}.py" for n in sorted(SHARED)),
        *sorted((ROOT / "segmenter").glob("*.py")),
    ]


@pytest.mark.parametrize(
    "path", [*outside_users(), *(p for pkg in PACKAGES for p in modules(pkg))], ids=lambda p: str(p.relative_to(ROOT))
)
def test_a_group_is_used_through_its_door_only(path: Path) -> None:
    own = group_of(path) if path.is_relative_to(STREAMS) else None
    for line, module, names in streams_imports(path):
        parts = module.split(".")
        if len(parts) == 1 or parts[1] in {*SHARED, "app"} or parts[1] == own:
            if own is not None and parts[1:] == [own]:
                pytest.fail(f"{path.relative_to(ROOT)}:{line} imports its own group's door")
            continue
        assert len(parts) == 2, f"{path.relative_to(ROOT)}:{line} reaches into {module}"
        assert names <= door(parts[1]), f"{path.relative_to(ROOT)}:{line} imports {sorted(names - door(parts[1]))}"


def test_the_hot_path_takes_only_the_served_model_from_the_model_plane() -> None:
    """Nothing on the hot path imports the refitter or the controls: the sample and drift are fed by callback."""
    for path in modules("routing"):
        for line, module, names in streams_imports(path):
            if module == "streams.model_plane":
                assert names <= {"ModelHolder", "ServingModel"}, f"routing/{path.name}:{line} imports {names}"


def test_records_and_dead_letters_stand_on_their_own() -> None:
    assert streams_imports(STREAMS / "clients" / "records.py") == []
    assert {m for _, m, _ in streams_imports(STREAMS / "routing" / "dead_letters.py")} == {"streams.clients"}
