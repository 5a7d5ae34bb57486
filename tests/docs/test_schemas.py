"""schemas/ holds every topic's JSON Schema as the models make it, and no change breaks a consumer: each schema
is backward compatible with the one checked in before it (docs/events.md, Schemas)."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from models.settings import Settings
from scripts.schema_compat import incompatibilities
from scripts.write_schemas import DEFAULT_DIR, expected_files, topic_schemas

ROOT = Path(__file__).parents[2]
REGENERATE = "run `make schemas` (python scripts/write_schemas.py) and commit schemas/"


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return expected_files()


def test_every_topic_has_its_value_schema(generated: dict[str, str]) -> None:
    topics = {str(field.default) for name, field in Settings.model_fields.items() if name.endswith("_topic")}
    assert {f"{topic}-value.json" for topic in topics} <= set(generated)
    assert {"leads-value.json", "lead-segments-value.json", "segmenter-control-value.json"} <= set(generated)


def test_the_checked_in_schemas_are_those_of_the_models(generated: dict[str, str]) -> None:
    on_disk = {path.name: path.read_text() for path in DEFAULT_DIR.glob("*.json")}
    missing = sorted(set(generated) - set(on_disk))
    stale = sorted(name for name in set(generated) & set(on_disk) if on_disk[name] != generated[name])
    extra = sorted(set(on_disk) - set(generated))
    assert not (missing or stale or extra), (
        f"schemas/ is out of date with the models (missing {missing}, changed {stale}, not made by the script "
        f"{extra}): {REGENERATE}"
    )


def test_the_models_are_backward_compatible_with_the_checked_in_schemas() -> None:
    problems = {
        name: found
        for name, schema in topic_schemas().items()
        if (DEFAULT_DIR / name).is_file()
        and (found := incompatibilities(json.loads((DEFAULT_DIR / name).read_text()), schema))
    }
    assert not problems, (
        f"not backward compatible with the checked-in schemas (a consumer on the new schema could not read old "
        f"messages): {problems}; make the change compatible (add fields as optional), or put it on a new topic"
    )


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout


def test_each_committed_version_reads_the_one_before() -> None:
    """What a registry in BACKWARD mode would have checked at each registration: every version of each file in
    git history (and the working copy) against the version before it. Regenerating cannot wave a break through."""
    if shutil.which("git") is None or subprocess.run(["git", "-C", str(ROOT), "rev-parse"]).returncode != 0:
        pytest.skip("not a git checkout")
    problems = []
    for path in sorted(DEFAULT_DIR.glob("*.json")):
        relative = path.relative_to(ROOT).as_posix()
        commits = _git("log", "--reverse", "--format=%H", "--", relative).split()
        versions = [(commit[:10], _git("show", f"{commit}:{relative}")) for commit in commits]
        versions.append(("working copy", path.read_text()))
        for (_, before), (label, after) in zip(versions, versions[1:], strict=False):
            if before != after and (found := incompatibilities(json.loads(before), json.loads(after))):
                problems.append(f"{relative} at {label}: {found}")
    assert not problems, problems


def test_the_script_refuses_to_write_a_breaking_change(tmp_path: Path) -> None:
    from scripts.write_schemas import main

    assert main([str(tmp_path)]) == 0
    leads = tmp_path / "leads-value.json"
    old = json.loads(leads.read_text())
    old["properties"]["campaign"] = {"type": "string"}  # a field the models do not have: regenerating removes it
    leads.write_text(json.dumps(old))
    assert main([str(tmp_path)]) == 1
    assert "campaign" in leads.read_text()
    assert main([str(tmp_path), "--check"]) == 1
    assert main([str(tmp_path), "--allow-breaking"]) == 0 and main([str(tmp_path), "--check"]) == 0
