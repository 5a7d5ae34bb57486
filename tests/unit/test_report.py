"""The HTML report: figures that open as PNGs, a page that links them, names escaped, impact shown."""

import html
from pathlib import Path

import pytest

from models.snapshot import ModelSnapshot
from models.strategies import StrategyConfig
from models.training import fit_model
from segmentation.synthetic import generate_leads
from segmenter.pipeline import Analysis, analyze
from segmenter.report import write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FIGURES = ("scores.png", "pca_scatter.png", "profile_heatmap.png", "segment_sizes.png", "dbscan_vs_kmeans.png")
# Markup for the page, and a `$...$` pair matplotlib would parse as (broken) mathtext.
HOSTILE_NAME = '<script>x</script> & "$5M^$"'


def _fit(k: int | None) -> tuple[ModelSnapshot, Analysis]:
    X = generate_leads(1_500, random_state=3).X
    model, snapshot = fit_model(X, config=StrategyConfig(names={0: HOSTILE_NAME}), k=k, max_k=6)
    return snapshot, analyze(model, snapshot, X)


@pytest.fixture(scope="module")
def scanned() -> tuple[ModelSnapshot, Analysis]:
    return _fit(None)


@pytest.fixture(scope="module")
def report(scanned: tuple[ModelSnapshot, Analysis], tmp_path_factory: pytest.TempPathFactory) -> Path:
    snapshot, analysis = scanned
    assert snapshot.metrics.selection is not None
    return write_report(tmp_path_factory.mktemp("report"), snapshot, analysis)


def test_returns_the_index_page(report: Path) -> None:
    assert report.name == "index.html"
    assert report.read_text(encoding="utf-8").startswith("<!doctype html>")


@pytest.mark.parametrize("figure", FIGURES)
def test_every_figure_is_a_png_the_page_links(report: Path, figure: str) -> None:
    image = report.parent / figure
    assert image.read_bytes()[:8] == PNG_MAGIC
    assert image.stat().st_size > 10_000
    assert f'<img src="{figure}"' in report.read_text(encoding="utf-8")


def test_page_is_self_contained(report: Path) -> None:
    page = report.read_text(encoding="utf-8")
    assert "<style>" in page
    assert "http://" not in page and "https://" not in page


def test_page_names_every_segment_with_markup_escaped(scanned: tuple[ModelSnapshot, Analysis], report: Path) -> None:
    snapshot, _ = scanned
    page = report.read_text(encoding="utf-8")
    assert snapshot.segments[0].name == HOSTILE_NAME
    for segment in snapshot.segments:
        assert html.escape(segment.name) in page
    assert "<script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt; &amp; &quot;$5M^$&quot;" in page


def test_page_shows_revenue_and_lift(scanned: tuple[ModelSnapshot, Analysis], report: Path) -> None:
    _, analysis = scanned
    page = report.read_text(encoding="utf-8")
    assert analysis.impact.baseline_revenue == 1_500 * 0.23 * 12_000
    assert "$4.1M" in page
    assert f"{analysis.impact.lift_pct:+.1f}%" in page
    assert analysis.impact.lift_pct > 0


def test_a_report_on_a_handful_of_leads_gives_no_lift(scanned: tuple[ModelSnapshot, Analysis], tmp_path: Path) -> None:
    snapshot, _ = scanned
    X = generate_leads(40, random_state=4).X  # fewer than 30 leads a segment for every K the scan may pick
    analysis = analyze(snapshot.to_segmenter(), snapshot, X)
    page = write_report(tmp_path, snapshot, analysis).read_text(encoding="utf-8")
    assert analysis.too_few and "too_few" in page and f"{analysis.impact.lift_pct:+.1f}%" not in page
    assert any("the choice of K and the lift are not reliable" in note for note in analysis.notes)


def test_page_gives_the_selection_reason(scanned: tuple[ModelSnapshot, Analysis], report: Path) -> None:
    snapshot, _ = scanned
    assert snapshot.metrics.selection is not None
    assert html.escape(snapshot.metrics.selection.reason) in report.read_text(encoding="utf-8")


def test_fixed_k_report_has_no_scores_plot_and_says_why(tmp_path: Path) -> None:
    snapshot, analysis = _fit(4)
    out_dir = tmp_path / "reports" / "fixed"

    page_path = write_report(out_dir, snapshot, analysis)

    page = page_path.read_text(encoding="utf-8")
    assert not (out_dir / "scores.png").exists()
    assert "scores.png" not in page
    assert "K was fixed at 4" in page and "no scores plot" in page
    for figure in FIGURES[1:]:
        assert (out_dir / figure).read_bytes()[:8] == PNG_MAGIC
        assert f'<img src="{figure}"' in page
