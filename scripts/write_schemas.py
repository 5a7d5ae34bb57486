"""Write every topic's JSON Schema into schemas/ as `<topic>-value.json` (the Schema Registry's subject names).

    python scripts/write_schemas.py [--check] [--allow-breaking] [DIR]     (or `make schemas`)

The schemas are the ones `segmenter schema` prints, made from the pydantic models; this only files each under
its topic's default name. A schema that is not backward compatible with the file already there (see
`scripts/schema_compat.py`) is not written: the problems are printed and the exit status is 1, unless
`--allow-breaking` is given (a breaking change belongs on a new topic; see docs/events.md). `--check` writes
nothing and exits 1 if any file is missing or differs.
"""

import argparse
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

from models.settings import Settings  # noqa: E402
from scripts.schema_compat import incompatibilities  # noqa: E402

__all__ = ["DEFAULT_DIR", "expected_files", "main", "topic_schemas"]

DEFAULT_DIR = Path(__file__).parents[1] / "schemas"

# Which message kind of `segmenter schema` each topic carries, by the setting that names the topic.
VALUES = {
    "leads_topic": "LeadEvent",
    "outcomes_topic": "OutcomeEvent",
    "segments_topic": "SegmentAssigned",
    "transitions_topic": "SegmentTransition",
    "control_topic": "ControlCommand",
    "models_topic": "ModelEvent",
}
DLQ_VALUE = {
    "title": "DeadLetterValue",
    "description": (
        "The original bytes of the leads message, unchanged: whatever failed validation, so not necessarily JSON "
        "(cut to SEGMENTER_MAX_EVENT_BYTES, or to 1 KiB if the broker refused it, with the header truncated: true). "
        "Why it was rejected is in the message's headers, described by leads-dlq-headers.json."
    ),
}
REGISTRY_VALUE = {
    "title": "RegistryRecord",
    "description": (
        "Key model:<version>: that model version's JSON, as `segmenter publish` takes it and Redis holds it (the "
        "newest is the current version, all of them in version order the history). Key controls: the pin, the K "
        "of refits and their revision (milliseconds when set; the higher revision wins)."
    ),
    "anyOf": [
        {"type": "object", "title": "ModelSnapshot", "required": ["version"]},
        {
            "type": "object",
            "title": "Controls",
            "required": ["pinned", "k", "revision"],
            "properties": {
                "pinned": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "k": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
                "revision": {"type": "integer"},
            },
        },
    ],
}
DLQ_HEADERS_NOTE = (
    " Each header value is UTF-8 text: the numbers are written as decimal text, and a null model_version is left out."
    " A value that was cut carries one more header, truncated: true."
)


def _topic(setting: str) -> str:
    default = Settings.model_fields[setting].default
    assert isinstance(default, str)
    return default


@functools.cache
def _printed() -> str:
    """What `segmenter schema` prints (run once per process: it imports the whole worker)."""
    command = [sys.executable, "-m", "segmenter", "schema"]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def topic_schemas() -> dict[str, dict[str, Any]]:
    """File name to schema, for every topic: what `segmenter schema` prints, filed under the default topic names."""
    kinds: dict[str, dict[str, Any]] = json.loads(_printed())
    files = {f"{_topic(setting)}-value.json": kinds[kind] for setting, kind in VALUES.items()}
    dlq = _topic("dlq_topic")
    files[f"{dlq}-value.json"] = DLQ_VALUE
    headers = dict(kinds["DeadLetter"])
    headers["description"] = headers.get("description", "") + DLQ_HEADERS_NOTE
    files[f"{dlq}-headers.json"] = headers
    files[f"{_topic('registry_topic')}-value.json"] = REGISTRY_VALUE
    return dict(sorted(files.items()))


def render(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def expected_files() -> dict[str, str]:
    """File name to the text it should hold."""
    return {name: render(schema) for name, schema in topic_schemas().items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dir", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file is missing or differs")
    parser.add_argument("--allow-breaking", action="store_true", help="write a backward-incompatible schema anyway")
    args = parser.parse_args(argv)
    folder: Path = args.dir
    stale, refused = [], []
    for name, schema in topic_schemas().items():
        path = folder / name
        text = render(schema)
        if path.is_file() and path.read_text() == text:
            continue
        stale.append(name)
        if args.check:
            continue
        if path.is_file():
            problems = incompatibilities(json.loads(path.read_text()), schema)
            if problems and not args.allow_breaking:
                refused.append(name)
                sys.stderr.write(f"{path}: not backward compatible, not written:\n")
                sys.stderr.writelines(f"  {problem}\n" for problem in problems)
                continue
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        sys.stdout.write(f"wrote {path}\n")
    if args.check and stale:
        sys.stderr.write(f"out of date in {folder}: {', '.join(stale)}; run `make schemas`\n")
        return 1
    return 1 if refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
