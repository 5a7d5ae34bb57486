"""The HTML report: figures plus a self-contained `index.html` a sales team can read."""

import math
from collections.abc import Collection, Iterable, Sequence
from html import escape
from pathlib import Path

import numpy as np

from models.presentation import money
from models.snapshot import ModelSnapshot
from segmentation.naming import FEATURE_LABELS
from segmentation.selection import KScore
from segmenter.pipeline import Analysis

__all__ = ["write_report"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #222; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.meta, figcaption, .note { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { padding: 0.35rem 0.6rem; border-bottom: 1px solid #e5e5e5; text-align: left; vertical-align: top; }
th { background: #f5f5f5; } td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: flex; gap: 1rem; flex-wrap: wrap; }
.card { border: 1px solid #ddd; border-radius: 8px; padding: 0.8rem 1.2rem; min-width: 12rem; }
.card .value { font-size: 1.6rem; font-weight: 600; } .card .label { color: #666; font-size: 0.85rem; }
figure { margin: 1.2rem 0; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
"""


def write_report(out_dir: Path, snapshot: ModelSnapshot, analysis: Analysis) -> Path:
    """Draw the figures and `index.html` into `out_dir` (created if missing) and return the page's path.

    Without K-selection scores in the model (K fixed at fit time) there is no `scores.png`, and the page says why.
    """
    # Imported here, not at the top: the worker, which shares the CLI, never loads matplotlib.
    from segmenter.report_plots import plot_dbscan, plot_pca, plot_profiles, plot_scores, plot_sizes

    selection = snapshot.metrics.selection
    scores = selection.scores if selection else []
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [segment.name for segment in snapshot.segments]
    features = [FEATURE_LABELS.get(f, f) for f in snapshot.features]
    z = np.array([p.z for p in analysis.profiles], dtype=float).reshape(len(names), len(features))
    if scores:
        plot_scores(out_dir / "scores.png", scores, len(names))
    plot_pca(
        out_dir / "pca_scatter.png",
        analysis.plane,
        analysis.labels,
        names,
        analysis.plane_projection.explained_variance_ratio,
        random_state=snapshot.random_state,
    )
    plot_profiles(out_dir / "profile_heatmap.png", z, names, features)
    plot_sizes(
        out_dir / "segment_sizes.png", names, [p.size for p in analysis.profiles], [p.share for p in analysis.profiles]
    )
    if analysis.dbscan is not None:
        plot_dbscan(out_dir / "dbscan_vs_kmeans.png", analysis.plane, analysis.labels, analysis.dbscan, names)
    page = out_dir / "index.html"
    page.write_text(_page(snapshot, analysis, scores), encoding="utf-8")
    return page


def _page(snapshot: ModelSnapshot, analysis: Analysis, scores: Sequence[KScore]) -> str:
    k = len(snapshot.segments)
    impact, baseline, selection = analysis.impact, snapshot.baseline, snapshot.metrics.selection
    variance = analysis.plane_projection.explained_variance_ratio
    created = snapshot.created_at.isoformat(sep=" ", timespec="minutes")
    lift = f"{impact.lift_pct:+.1f}%" if math.isfinite(impact.lift_pct) else "n/a"
    if analysis.too_few:
        lift = "too_few"
    if scores:
        k_choice = _figure("scores.png", f"Scores for each K tried; the dashed line marks the chosen K = {k}.")
    else:
        k_choice = _paragraph(
            f"K was fixed at {k} when the model was fitted (--k), so no range of K was scored and there is no "
            "scores plot.",
            "note",
        )
    body = [
        "<h1>Lead segments</h1>",
        _paragraph(
            f"Model version {snapshot.version}, created {created}, trained on {snapshot.metrics.n_leads:,} leads. "
            f"This report covers {len(analysis.labels):,} leads in {k} segments.",
            "meta",
        ),
        "<h2>Expected impact</h2>",
        '<div class="cards">'
        + _card("Baseline revenue", money(impact.baseline_revenue))
        + _card("Segmented revenue", money(impact.segmented_revenue))
        + _card("Expected lift", lift)
        + "</div>",
        _paragraph(
            f"Baseline: one campaign for every lead at a {baseline.conversion_rate:.1%} close rate and "
            f"{money(baseline.avg_deal_size)} deals. Segmented: each segment's own campaign, as in the table. "
            f"All figures are {analysis.basis} (the defaults are the tutorial's; set yours with --strategies), "
            "not measured results.",
            "note",
        ),
        "<h2>Segments</h2>",
        _segments_table(snapshot, analysis),
        _figure("segment_sizes.png", "Leads per segment."),
        _figure(
            "pca_scatter.png",
            f"Leads on the two principal axes, which explain {variance[0]:.1%} and {variance[1]:.1%} of the variance.",
        ),
        "<h2>Segment profiles</h2>",
        _figure(
            "profile_heatmap.png",
            "Each segment's mean per feature as a z-score: red above the average lead, blue below.",
        ),
        "<h2>How K was chosen</h2>",
        _paragraph(selection.reason) if selection else "",
        k_choice,
        "<h2>Cross-checks with other clustering methods</h2>",
        _comparisons(analysis),
        _figure("dbscan_vs_kmeans.png", "The same leads coloured by K-Means segment and by DBSCAN cluster.")
        if analysis.dbscan is not None
        else "",
    ]
    title = f"<title>Lead segments · model {snapshot.version}</title>"
    head = f'<head><meta charset="utf-8">{title}<style>{_CSS}</style></head>'
    return "\n".join(["<!doctype html>", '<html lang="en">', head, "<body>", *body, "</body>", "</html>", ""])


def _segments_table(snapshot: ModelSnapshot, analysis: Analysis) -> str:
    header = [
        "ID",
        "Segment",
        "Leads",
        "Share",
        "Channel",
        "Sales resource",
        "Close rate",
        "Deal size",
        "Expected revenue",
    ]
    rows = [
        [
            str(segment.id),
            segment.name,
            f"{profile.size:,}",
            f"{profile.share:.1%}",
            segment.strategy.channel,
            segment.strategy.sales_resource,
            f"{segment.strategy.expected_close_rate:.1%}",
            money(segment.strategy.avg_deal_size),
            money(revenue),
        ]
        for segment, profile, revenue in zip(
            snapshot.segments, analysis.profiles, analysis.impact.per_segment, strict=True
        )
    ]
    return _table(header, rows, numeric={0, 2, 3, 6, 7, 8})


def _comparisons(analysis: Analysis) -> str:
    dbscan, ward = analysis.dbscan, analysis.hierarchical
    header = ["Method", "Clusters", "Noise", "Agreement with K-Means (ARI)", "Leads compared", "Settings"]
    rows = []
    if dbscan is not None:
        rows.append(
            [
                "DBSCAN",
                str(dbscan.n_clusters),
                f"{dbscan.noise:,} ({dbscan.noise_share:.1%})",
                f"{dbscan.ari_vs_kmeans:.2f}",
                f"{dbscan.sample_size:,}",
                f"eps {dbscan.eps:.3g}, min_samples {dbscan.min_samples}",
            ]
        )
    if ward is not None:
        rows.append(
            [
                "Hierarchical (agglomerative)",
                str(ward.n_clusters),
                "–",
                f"{ward.ari_vs_kmeans:.2f}",
                f"{ward.sample_size:,}",
                f"{ward.linkage} linkage, same K as K-Means",
            ]
        )
    parts = [_table(header, rows, numeric={1, 2, 3, 4})] if rows else []
    parts.append(
        _paragraph("ARI 1.00 means the same grouping as K-Means; 0 means no more agreement than chance.", "note")
    )
    parts += [_paragraph(note + ".", "note") for note in analysis.notes]
    return "\n".join(parts)


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, numeric: Collection[int]) -> str:
    def cells(tag: str, values: Sequence[str]) -> str:
        classes = [' class="num"' if j in numeric else "" for j in range(len(values))]
        return "".join(f"<{tag}{c}>{escape(v)}</{tag}>" for c, v in zip(classes, values, strict=True))

    body = "\n".join(f"<tr>{cells('td', row)}</tr>" for row in rows)
    return f"<table>\n<thead><tr>{cells('th', header)}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>"


def _card(label: str, value: str) -> str:
    return f'<div class="card"><div class="value">{escape(value)}</div><div class="label">{escape(label)}</div></div>'


def _figure(file: str, caption: str) -> str:
    return (
        f'<figure><img src="{escape(file)}" alt="{escape(caption)}"><figcaption>{escape(caption)}</figcaption></figure>'
    )


def _paragraph(text: str, css_class: str = "") -> str:
    attribute = f' class="{css_class}"' if css_class else ""
    return f"<p{attribute}>{escape(text)}</p>"
