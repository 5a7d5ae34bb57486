"""The configuration page lists every setting as the settings object defines it."""

from models.settings import settings_table
from scripts.settings_table import DEFAULT_DOC, documented_table


def test_the_configuration_table_matches_the_settings_object() -> None:
    assert documented_table(DEFAULT_DOC.read_text()) == settings_table(), (
        "docs/configuration.md differs from models/settings.py: run `python scripts/settings_table.py`"
    )
