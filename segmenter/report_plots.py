"""The report's figures, drawn on Agg canvases without pyplot: no global state, no open figures."""

import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba_array
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from models.presentation import segment_colours
from segmentation.density import DensityComparison
from segmentation.selection import KScore

__all__ = ["MAX_POINTS", "plot_dbscan", "plot_pca", "plot_profiles", "plot_scores", "plot_sizes"]

MAX_POINTS = 20_000
CLUSTER_PALETTE = "Dark2"
MAX_LEGEND_CLUSTERS = 10
DPI = 110
LABEL_WIDTH = 30  # characters per line of a segment name in figures

# (attribute, title, which way is better) for the K-scores small multiples.
_SCORE_PANELS = (
    ("silhouette", "Silhouette", "higher is better"),
    ("calinski_harabasz", "Calinski-Harabasz", "higher is better"),
    ("davies_bouldin", "Davies-Bouldin", "lower is better"),
    ("stability", "Stability (ARI on resamples)", "higher is better"),
    ("jump", "Distortion jump", "largest marks the elbow"),
    ("min_share", "Smallest segment's share", "tiny segments are vetoed"),
)


def plot_scores(path: Path, scores: Sequence[KScore], chosen_k: int) -> None:
    """Every K's scores as small multiples, the chosen K marked by a dashed line."""
    fig = _figure(11, 6)
    ks = [s.k for s in scores]
    for ax, (attribute, title, hint) in zip(fig.subplots(2, 3, sharex=True).flat, _SCORE_PANELS, strict=True):
        ax.plot(ks, [getattr(s, attribute) for s in scores], marker="o", color="#1f77b4")
        ax.axvline(chosen_k, color="#d62728", linestyle="--", linewidth=1.2, label=f"chosen K = {chosen_k}")
        ax.set_title(f"{title}\n({hint})", fontsize=10)
        ax.set_xticks(ks)
        ax.grid(alpha=0.3)
        if attribute == "min_share":
            ax.yaxis.set_major_formatter("{x:.0%}")
    for ax in fig.axes[3:]:
        ax.set_xlabel("K (number of segments)")
    fig.axes[0].legend(loc="best", fontsize=9)
    fig.savefig(path)


def plot_pca(
    path: Path,
    plane: np.ndarray,
    labels: np.ndarray,
    names: Sequence[str],
    variance: np.ndarray,
    *,
    random_state: int = 0,
) -> None:
    """Leads on the first two principal axes, coloured by segment; at most `MAX_POINTS`, drawn in random order."""
    rows = np.random.default_rng(random_state).permutation(len(plane))[:MAX_POINTS]
    fig = _figure(10, 6.5)
    ax = fig.add_subplot()
    ax.scatter(plane[rows, 0], plane[rows, 1], c=_segment_colors(labels[rows], len(names)), s=6, alpha=0.5, lw=0)
    ax.set_xlabel(f"PC1 ({variance[0]:.1%} of variance)")
    ax.set_ylabel(f"PC2 ({variance[1]:.1%} of variance)")
    shown = f"{len(rows):,} of {len(plane):,} leads" if len(rows) < len(plane) else f"{len(plane):,} leads"
    ax.set_title(f"Segments on the two main axes ({shown})")
    ax.grid(alpha=0.3)
    handles = _handles(_segment_colors(range(len(names)), len(names)))
    fig.legend(handles, [_label(n) for n in names], loc="outside right upper", title="Segment", fontsize=9)
    fig.savefig(path)


def plot_profiles(path: Path, z: np.ndarray, names: Sequence[str], features: Sequence[str]) -> None:
    """Segments × features heatmap of z-scores, centred at 0 and annotated; NaN (empty segment) shows a dash."""
    fig = _figure(max(9.0, 0.85 * len(features) + 3), 0.55 * len(names) + 2.6)
    ax = fig.add_subplot()
    finite = np.abs(z[np.isfinite(z)])
    limit = max(float(finite.max()) if finite.size else 0.0, 0.5)
    image = ax.imshow(np.ma.masked_invalid(z), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(features)), [_label(f) for f in features], rotation=35, ha="right")
    ax.set_yticks(range(len(names)), [_label(n) for n in names])
    for (i, j), value in np.ndenumerate(z):
        strong = np.isfinite(value) and abs(value) > 0.6 * limit
        label = f"{value:+.1f}" if np.isfinite(value) else "–"
        ax.text(j, i, label, ha="center", va="center", fontsize=8, color="white" if strong else "black")
    fig.colorbar(image, ax=ax, label="z-score of the segment mean (0 = average lead)")
    ax.set_title("What sets each segment apart")
    fig.savefig(path)


def plot_sizes(path: Path, names: Sequence[str], sizes: Sequence[int], shares: Sequence[float]) -> None:
    """Horizontal bars of leads per segment, each labelled with its count and share."""
    fig = _figure(9, 0.5 * len(names) + 1.6)
    ax = fig.add_subplot()
    positions = range(len(names))
    ax.barh(positions, sizes, color=_segment_colors(positions, len(names)))
    ax.set_yticks(positions, [_label(n) for n in names])
    ax.invert_yaxis()
    for i, (size, share) in enumerate(zip(sizes, shares, strict=True)):
        ax.text(size, i, f"  {size:,} ({share:.1%})", va="center", fontsize=9)
    ax.set_xlim(0, max(max(sizes), 1) * 1.3)
    ax.set_xlabel("Leads")
    ax.set_title("Segment sizes")
    ax.grid(axis="x", alpha=0.3)
    fig.savefig(path)


def plot_dbscan(
    path: Path, plane: np.ndarray, kmeans_labels: np.ndarray, dbscan: DensityComparison, names: Sequence[str]
) -> None:
    """DBSCAN's sample on the same plane twice: by K-Means segment, and by DBSCAN cluster with noise as ×."""
    points = plane[dbscan.rows]
    noise = dbscan.labels == -1
    fig = _figure(12, 6.5)
    left, right = fig.subplots(1, 2, sharex=True, sharey=True)
    left.scatter(*points.T, c=_segment_colors(kmeans_labels[dbscan.rows], len(names)), s=5, alpha=0.6, lw=0)
    left.set_title(f"K-Means: {len(names)} segments")
    _legend_below(left, _handles(_segment_colors(range(len(names)), len(names))), [_label(n) for n in names])
    right.scatter(*points[~noise].T, c=_colors(dbscan.labels[~noise], CLUSTER_PALETTE), s=5, alpha=0.6, lw=0)
    right.scatter(*points[noise].T, c="black", marker="x", s=14, lw=0.8)
    right.set_title(f"DBSCAN: eps {dbscan.eps:.2f}, {dbscan.n_clusters} clusters, {dbscan.noise_share:.1%} noise")
    listed = range(min(dbscan.n_clusters, MAX_LEGEND_CLUSTERS))
    handles = _handles(_colors(listed, CLUSTER_PALETTE)) + [Line2D([], [], marker="x", linestyle="", color="black")]
    _legend_below(right, handles, [f"Cluster {i + 1}" for i in listed] + ["Noise"])
    for ax in (left, right):
        ax.set_xlabel("PC1")
        ax.grid(alpha=0.3)
    left.set_ylabel("PC2")
    fig.suptitle(f"Agreement with K-Means: ARI {dbscan.ari_vs_kmeans:.2f} on {dbscan.sample_size:,} leads")
    fig.savefig(path)


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _colors(labels: Sequence[int] | np.ndarray, palette: str) -> np.ndarray:
    """RGBA per integer label from a qualitative colormap, cycling past its last colour."""
    cmap = colormaps[palette]
    result: np.ndarray = cmap(np.asarray(labels, dtype=int) % cmap.N)
    return result


def _segment_colors(labels: Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    """RGBA per segment place, from the colours the dashboard and every other view give the segments."""
    colours = segment_colours(k)
    return to_rgba_array([colours[label % k] for label in np.asarray(labels, dtype=int)])


def _handles(colors: np.ndarray) -> list[Line2D]:
    return [Line2D([], [], marker="o", linestyle="", markersize=8, color=color) for color in colors]


def _legend_below(ax: Axes, handles: Sequence[Line2D], labels: Sequence[str]) -> None:
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=2, fontsize=9, frameon=False)


def _label(text: str) -> str:
    """User text for a figure: shown literally (a `$` pair would start mathtext), at most two short lines."""
    return "\n".join(textwrap.wrap(text, LABEL_WIDTH, max_lines=2, placeholder=" …")).replace("$", r"\$")
