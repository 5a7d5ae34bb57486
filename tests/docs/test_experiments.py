"""The sample-size table of docs/experiments.md is the one `scripts/experiment_size.py` makes."""

from scripts.experiment_size import BEGIN, DOC, END, table


def test_the_sample_size_table_is_the_scripts() -> None:
    documented = DOC.read_text().split(BEGIN)[1].split(END)[0].strip()
    stale = "docs/experiments.md is stale: run `python scripts/experiment_size.py --write`"
    assert documented == table(runs=400), stale
