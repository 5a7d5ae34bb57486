"""The README is a front door: the two commands first, short, and pointing into docs/."""

from pathlib import Path

README = Path(__file__).parents[2] / "README.md"


def test_first_lines_give_the_two_commands() -> None:
    head = "\n".join(README.read_text().splitlines()[:12])
    assert "make demo" in head and "make test" in head


def test_the_readme_stays_short_and_links_the_docs() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150
    for page in ("getting-started", "batch", "streaming", "operations", "events", "configuration", "development"):
        assert f"(docs/{page}.md" in text, page
