"""What the pages tell a user to type exists: every `segmenter` command line in the README and docs/ names a
command and options the CLI has, and the README's streaming quickstart is the streaming guide's, shortened.
(The batch blocks run as written in tests/cli/test_readme_usage.py; the `>>>` blocks run as doctests.)"""

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from segmenter.main import app

ROOT = Path(__file__).parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"(?<!`)`(segmenter [^`]+)`(?!`)")
COMMAND = re.compile(r"(?:^|\$\(|&& |')\s*(segmenter(?: [^#)&]*)?)")


def command_lines(text: str) -> list[str]:
    """`segmenter ...` as typed in the code blocks (also inside `$(...)`) and in inline code."""
    found = []
    for block in FENCE.findall(text):
        for line in block.splitlines():
            found += [match.strip().rstrip("'\" ") for match in COMMAND.findall(line.strip())]
    prose = FENCE.sub("", text)
    found += [span.replace("[", "").replace("]", "") for span in INLINE.findall(prose)]
    return found


def check(line: str) -> list[str]:
    """What in `line` the CLI does not know: an unknown command, or an option the command does not take."""
    words = shlex.split(line, comments=True)[1:]
    command: Any = typer.main.get_command(app)  # typer's own click: groups have `commands`, commands `params`
    path = ["segmenter"]
    while hasattr(command, "commands") and words and set(words[0].split("|")) <= set(command.commands):
        path.append(words[0])  # `local up|down|status`: each of them
        command = command.commands[words.pop(0).split("|")[0]]
    if hasattr(command, "commands") and words and not words[0].startswith("-"):
        return [f"{' '.join(path)} has no command {words[0]!r}"]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)} | {"--help"}
    known |= {"--version"} if len(path) == 1 else set()
    return [
        f"{' '.join(path)} has no option {word.split('=')[0]}"
        for word in words
        if word.startswith("-") and word.split("=")[0] not in known and not re.fullmatch(r"-?[0-9.]+", word)
    ]


@pytest.mark.parametrize("page", PAGES, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_segmenter_line_names_a_command_and_options_that_exist(page: Path) -> None:
    lines = command_lines(page.read_text())
    problems = {line: found for line in lines if (found := check(line))}
    assert not problems, problems


def test_the_pages_that_teach_commands_have_some() -> None:
    for name in ("README.md", "docs/batch.md", "docs/streaming.md", "docs/operations.md"):
        assert len(command_lines((ROOT / name).read_text())) >= 4, name


def block_commands(page: str, heading: str) -> list[str]:
    section = (ROOT / page).read_text().split(f"\n{heading}\n", 1)[1]
    block = section.split("```\n", 2)[1]
    return [shlex.join(shlex.split(line, comments=True)) for line in block.splitlines() if "segmenter" in line]


def test_the_readme_streaming_quickstart_is_the_guides_shortened() -> None:
    readme = block_commands("README.md", "## Streaming quickstart")
    guide = block_commands("docs/streaming.md", "## Quickstart")
    assert len(readme) >= 5 and "segmenter worker" in readme
    assert set(readme) <= set(guide), set(readme) - set(guide)


def test_the_checker_catches_a_wrong_command_and_option() -> None:
    assert check("segmenter fit leads.csv --model-out m.json --k 3") == []
    assert check("segmenter local up") == []
    assert check("segmenter fitt leads.csv") == ["segmenter has no command 'fitt'"]
    assert check("segmenter fit leads.csv --modelout m.json") == ["segmenter fit has no option --modelout"]
    assert check("segmenter local upp") == ["segmenter local has no command 'upp'"]
    assert command_lines('```\neval "$(segmenter local up)"  # x\n```\nand `segmenter pin V`') == [
        "segmenter local up",
        "segmenter pin V",
    ]


def test_the_commands_shown_as_json_are_ones_the_worker_accepts() -> None:
    from pydantic import TypeAdapter

    from models.control import Command

    text = (ROOT / "docs" / "operations.md").read_text()
    shown = re.findall(r"""[`'](\{"command": [^`']*\})[`']""", text)
    assert len(shown) >= 8
    adapter: TypeAdapter[Any] = TypeAdapter(Command)
    for example in shown:
        command = adapter.validate_json(re.sub(r"\bV\b", "7", example))
        assert command.command == json.loads(re.sub(r"\bV\b", "7", example))["command"]


def test_every_metric_the_pages_name_is_served_and_every_one_served_is_listed() -> None:
    sources = "\n".join(path.read_text() for path in (ROOT / "streams").rglob("*.py"))
    declared = set(re.findall(r"(?:Counter|Gauge|Histogram|MetricFamily)\(\s*\"(segmenter_\w+)\"", sources))
    assert len(declared) >= 15
    pages = (ROOT / "docs" / "operations.md").read_text() + (ROOT / "README.md").read_text()
    named = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in re.findall(r"\bsegmenter_[a-z_]+", pages)}
    assert named - declared == set(), "named on the pages but not served"
    assert declared - named == set(), "served but not listed in docs/operations.md"


def test_every_file_the_pages_name_exists() -> None:
    """A path in code (`streams/routing/router.py`, `tests/docs/test_pages.py`) names a file of this repository;
    when modules move, the pages that map them move with them."""
    tops = {path.name for path in ROOT.iterdir() if path.is_dir()}
    named = {
        (page.relative_to(ROOT).as_posix(), span)
        for page in PAGES
        for span in re.findall(r"`([\w.-]+/[\w./-]+\.(?:py|md|sh|toml|yml|yaml|json|xml))`", page.read_text())
        if span.split("/")[0] in tops
    }
    assert len(named) >= 30
    missing = sorted((page, span) for page, span in named if not (ROOT / span).exists())
    assert not missing, f"named on the pages but not in the repository: {missing}"
