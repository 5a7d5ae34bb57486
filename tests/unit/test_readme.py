"""The README documents what the code does."""

from pathlib import Path

from models.settings import settings_table

README = Path(__file__).parents[2] / "README.md"


def test_configuration_table_matches_the_settings_object() -> None:
    text = README.read_text()
    table = text.split("<!-- settings:begin -->\n", 1)[1].split("\n<!-- settings:end -->", 1)[0]
    assert table == settings_table()


def test_first_lines_give_the_two_commands() -> None:
    head = "\n".join(README.read_text().splitlines()[:12])
    assert "make demo" in head and "make test" in head
