"""Rewrite the configuration table of docs/configuration.md from the settings object.

    python scripts/settings_table.py [--check] [DOC]

Replaces what is between the `settings` markers of DOC (default docs/configuration.md) with
`models.settings.settings_table()`; `--check` writes nothing and exits 1 if the table differs.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from models.settings import settings_table  # noqa: E402

__all__ = ["BEGIN", "DEFAULT_DOC", "END", "documented_table", "main"]

BEGIN, END = "<!-- settings:begin -->\n", "\n<!-- settings:end -->"
DEFAULT_DOC = Path(__file__).parents[1] / "docs" / "configuration.md"


def documented_table(text: str) -> str:
    """The table between the markers of a page's text."""
    return text.split(BEGIN, 1)[1].split(END, 1)[0]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [arg for arg in argv if arg != "--check"]
    doc = Path(paths[0]) if paths else DEFAULT_DOC
    text = doc.read_text()
    current = documented_table(text)
    if current == settings_table():
        return 0
    if check:
        sys.stderr.write(f"{doc}: the configuration table differs from the settings; run scripts/settings_table.py\n")
        return 1
    doc.write_text(text.replace(BEGIN + current + END, BEGIN + settings_table() + END, 1))
    sys.stdout.write(f"wrote {doc}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
