"""Rich output for people: progress on stderr, the segment table and the fit summary."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from models.presentation import money
from models.snapshot import ModelSnapshot
from segmentation.impact import Impact
from segmenter.leads_io import LeadTable
from segmenter.pipeline import IMPACT_BASIS, MIN_LEADS_PER_SEGMENT, Analysis, PcaReduction

__all__ = ["dropped_rows", "err", "out", "print_fit", "print_impact", "steps", "warn_dropped"]


def _console(stderr: bool) -> Console:
    """Off a terminal (a file, a pipe, a log collector) rich would wrap lines at 80 columns: there a line of text
    is never wrapped, and tables, which need a width, get 140 columns."""
    terminal = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, width=None if terminal else 140, soft_wrap=not terminal)


out = _console(stderr=False)
err = _console(stderr=True)


def dropped_rows(table: LeadTable) -> str | None:
    """How many rows of a leads file were dropped as invalid, and why; None if none were."""
    if not table.dropped:
        return None
    reasons = ", ".join(f"{count} {reason}" for reason, count in table.dropped.most_common())
    return f"dropped {sum(table.dropped.values())} invalid rows ({reasons})"


def warn_dropped(table: LeadTable) -> None:
    """Say on stderr how many rows of a leads file were dropped as invalid (a warning: --quiet does not hide it)."""
    if (dropped := dropped_rows(table)) is not None:
        err.print(dropped, highlight=False)


class Steps:
    """A progress display of named steps; a step with a total shows a bar."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator["StepHandle"]:
        if self._progress is None:
            yield StepHandle(None, None)
            return
        task = self._progress.add_task(description, total=total)
        try:
            yield StepHandle(self._progress, task)
        finally:
            self._progress.update(task, completed=total or 1, total=total or 1)


class StepHandle:
    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, *_: object) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task)


@contextmanager
def steps(quiet: bool) -> Iterator[Steps]:
    """Progress on stderr (stdout stays clean for --json); nothing when quiet."""
    if quiet:
        yield Steps(None)
        return
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        yield Steps(progress)


def print_impact(impact: Impact, basis: str = IMPACT_BASIS, too_few: bool = False) -> None:
    """Expected revenue with a campaign per segment, against one campaign for all, the lift (`too_few` when the
    leads are too few for one), and what the figures rest on."""
    lift = f"lift too_few (under {MIN_LEADS_PER_SEGMENT} leads a segment)" if too_few else f"{impact.lift_pct:+.1f}%"
    out.print(
        f"Expected revenue: {money(impact.segmented_revenue)} with a campaign per segment against "
        f"{money(impact.baseline_revenue)} for one campaign for all: [bold]{lift}[/bold] "
        f"({basis}; set them with --strategies)",
        highlight=False,
    )


def print_fit(snapshot: ModelSnapshot, analysis: Analysis, reduction: PcaReduction | None = None) -> None:
    """The segment table, the impact against one campaign for all, and how K was chosen."""
    table = Table(title=f"Lead segments (model version {snapshot.version})")
    for column, justify in (
        ("id", "right"),
        ("segment", "left"),
        ("leads", "right"),
        ("share", "right"),
        ("channel", "left"),
        ("sales resource", "left"),
        ("close rate", "right"),
        ("deal size", "right"),
        ("expected revenue", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for segment, profile, revenue in zip(
        snapshot.segments, analysis.profiles, analysis.impact.per_segment, strict=True
    ):
        s = segment.strategy
        table.add_row(
            str(segment.id),
            segment.name,
            f"{profile.size:,}",
            f"{profile.share:.1%}",
            s.channel,
            s.sales_resource,
            f"{s.expected_close_rate:.0%}",
            money(s.avg_deal_size),
            money(revenue),
        )
    out.print(table)
    print_impact(analysis.impact, analysis.basis, analysis.too_few)
    selection = snapshot.metrics.selection
    if selection is not None:
        sil = ", ".join(f"K={s.k}: {s.silhouette:.3f}" for s in selection.scores)
        out.print(f"Silhouette per K: {sil}")
        out.print(f"Chosen K={selection.recommended_k}: {selection.reason}")
    d, h = analysis.dbscan, analysis.hierarchical
    if d is not None:
        out.print(
            f"DBSCAN (eps {d.eps:.2f}, min_samples {d.min_samples}, {d.sample_size:,} leads): {d.n_clusters} "
            f"clusters, {d.noise:,} noise points ({d.noise_share:.1%}), ARI with K-Means {d.ari_vs_kmeans:.2f}."
        )
    if h is not None:
        out.print(
            f"Ward hierarchical, K={h.n_clusters} ({h.sample_size:,} leads): ARI with K-Means {h.ari_vs_kmeans:.2f}."
        )
    for note in analysis.notes:
        out.print(f"Note: {note}.", highlight=False)
    if reduction is not None:
        out.print(
            f"PCA: {reduction.components} components keep {reduction.variance_retained:.1%} of the variance; "
            f"the K-Means fit took {reduction.reduced_fit_seconds:.2f}s against {reduction.full_fit_seconds:.2f}s "
            f"on all features ({reduction.speedup:.1f}x)."
        )
