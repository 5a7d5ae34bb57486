"""How the workers' replies on the models topic and the history of model versions are shown to an operator."""

from collections.abc import Sequence

from rich.table import Table

from models.control import ImpactSummary, ModelEvent, StatusReport
from models.drift import DriftReport
from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry

__all__ = [
    "describe",
    "drift_summary",
    "drift_table",
    "history_table",
    "lineage_summary",
    "scores_table",
    "status_summary",
]


def describe(reply: ModelEvent) -> str:
    """What a reply says, for an operator: one line, and for a refit the gate refused how to serve its K anyway.

    Examples:
        >>> from datetime import UTC, datetime
        >>> describe(ModelEvent(type="rolled_back", cause="rollback", version=7, restored_from=3, k=5,
        ...     at=datetime(2026, 1, 1, tzinfo=UTC)))
        'rolled back: serving the content of version 3 as version 7 (K=5)'
    """
    why = f": {'; '.join(reply.reasons)}" if reply.reasons else ""
    served = _serving(reply.version, reply.restored_from, reply.k)
    match reply.type:
        case "status":
            return status_summary(reply)
        case "k_set":
            return f"K of later refits: {reply.status.k if reply.status else None}"
        case "error":
            return f"error{why}"
        case "expired":
            return f"expired, nothing done{why}"
        case "rejected":
            anyway = "" if reply.gate is None else "\n" + _serve_anyway(reply.gate.k)
            return f"rejected{why}; still {served}{anyway}"
        case _:
            return f"{reply.type.replace('_', ' ')}: {served}{why}"


def _serving(version: int | None, restored_from: int | None, k: int | None) -> str:
    if version is None:
        return "no model served"
    of_k = f" (K={k})" if k else ""
    if restored_from and restored_from != version:
        return f"serving the content of version {restored_from} as version {version}{of_k}"
    return f"serving version {version}{of_k}"


def _serve_anyway(k: int) -> str:
    return (
        f"To serve K={k} anyway (the gate judges refits only): fit it offline with `segmenter fit LEADS_FILE --k {k} "
        "--model-out model.json`, then `segmenter publish model.json`; or `segmenter pin VERSION` for a version "
        f"with K={k} listed by `segmenter models`."
    )


def status_summary(reply: ModelEvent) -> str:
    """A status reply as a few labelled lines: the served model and its K apart from the K of later refits.

    Examples:
        >>> from datetime import UTC, datetime
        >>> at = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        >>> report = StatusReport(served_version=7, current_version=7, pinned=None, k="auto", refit_running=False,
        ...     sampled_leads=6000, last_refit=None, history=[1, 3, 7])
        >>> print(status_summary(ModelEvent(type="status", cause="status", version=7, k=5, status=report, at=at)))
        served model:      version 7, K=5 segments (current in Redis: 7)
        pinned:            no
        K of later refits: auto (chosen again by each refit)
        refit:             not running; 6,000 leads sampled
        last refit:        none since this worker started
        made current:      1, 3, 7 (oldest first)
        outcomes:          none counted for the served version
    """
    report = reply.status
    if not isinstance(report, StatusReport):
        return "status: no report in the reply"
    served = "none" if report.served_version is None else f"version {report.served_version}"
    if reply.k:
        served += f", K={reply.k} segments"
    later = "auto (chosen again by each refit)" if report.k == "auto" else f"{report.k} (set with `segmenter set-k`)"
    last = "none since this worker started"
    if (refit := report.last_refit) is not None:
        why = f": {'; '.join(refit.reasons)}" if refit.reasons else ""
        last = f"{refit.outcome} ({refit.cause}) at {refit.at:%Y-%m-%d %H:%M:%S} UTC, version {refit.version}{why}"
    lines = [
        ("served model", f"{served} (current in Redis: {report.current_version or 'none'})"),
        ("pinned", "no" if report.pinned is None else f"version {report.pinned} (`segmenter unpin` to release)"),
        ("K of later refits", later),
        ("refit", f"{'running' if report.refit_running else 'not running'}; {report.sampled_leads:,} leads sampled"),
        ("last refit", last),
        ("made current", f"{', '.join(map(str, report.history)) or 'none'} (oldest first)"),
        ("outcomes", impact_line(report.impact)),
    ]
    return "\n".join(f"{label + ':':<18} {text}" for label, text in lines)


def impact_line(impact: ImpactSummary | None) -> str:
    """The status reply's impact summary in one line (`segmenter impact` has the intervals).

    Examples:
        >>> line = impact_line(ImpactSummary(model_version=7, exposed={"segmented": 950, "holdout": 50},
        ...     won={"segmented": 120, "holdout": 0}, lost={"segmented": 300, "holdout": 0},
        ...     open={"segmented": 530, "holdout": 50}, close_rate={"segmented": 120 / 420, "holdout": None},
        ...     unattributed=3))
        >>> for part in line.split("; "): print(part)
        version 7: segmented 950 leads, 120 won, 300 lost, 530 open (close rate 28.6 %)
        holdout 50 leads, 0 won, 0 lost, 50 open (no result yet)
        3 unattributed
    """
    if impact is None:
        return "none counted for the served version"
    arms = []
    for arm, exposed in impact.exposed.items():
        rate = impact.close_rate[arm]
        shown = "no result yet" if rate is None else f"close rate {rate:.1%}".replace("%", " %")
        arms.append(
            f"{arm} {exposed:,} leads, {impact.won[arm]:,} won, {impact.lost[arm]:,} lost, "
            f"{impact.open[arm]:,} open ({shown})"
        )
    return f"version {impact.model_version}: {'; '.join(arms)}; {impact.unattributed:,} unattributed"


def lineage_summary(lineage: list[LineageEntry]) -> str:
    """What a refit did to the segments, one clause per kind, e.g. "kept 0, 1; new 5; split 3 into 6, 7"; a served
    segment a kept one took in is "absorbed 4 into 3".

    Examples:
        >>> entry = LineageEntry.model_validate
        >>> lineage_summary([entry({"segment_id": 0, "kind": "kept", "from": [0], "into": [0]}),
        ...     entry({"segment_id": 3, "kind": "split", "from": [3], "into": [5, 6]}),
        ...     entry({"segment_id": 5, "kind": "split", "from": [3], "into": [5, 6]}),
        ...     entry({"segment_id": 6, "kind": "split", "from": [3], "into": [5, 6]}),
        ...     entry({"segment_id": 2, "kind": "retired", "from": [2], "into": []})])
        'kept 0; retired 2; split 3 into 5, 6'
        >>> lineage_summary([entry({"segment_id": 1, "kind": "kept", "from": [1], "into": [1], "absorbed": [4]}),
        ...     entry({"segment_id": 4, "kind": "merged", "from": [1, 4], "into": [1]})])
        'kept 1; absorbed 4 into 1'
    """
    ids = {kind: [e.segment_id for e in lineage if e.kind == kind] for kind in ("kept", "new", "retired")}
    parts = [f"{kind} {', '.join(map(str, found))}" for kind, found in ids.items() if found]
    absorbed = {
        (e.segment_id, tuple(e.into)) for e in lineage if e.kind == "merged" and set(e.into) <= set(ids["kept"])
    }
    events = {(e.kind, tuple(e.from_), tuple(e.into)) for e in lineage if e.kind in ("split", "merged")}
    events -= {("merged", tuple(e.from_), tuple(e.into)) for e in lineage if (e.segment_id, tuple(e.into)) in absorbed}
    for kind, sources, targets in sorted(events):
        parts.append(f"{kind} {', '.join(map(str, sources))} into {', '.join(map(str, targets))}")
    parts += [f"absorbed {segment} into {', '.join(map(str, keeper))}" for segment, keeper in sorted(absorbed)]
    return "; ".join(parts)


def drift_summary(drift: DriftReport) -> str:
    """One line on drift, e.g. "drift: drifting (score 1.62 on 5,000 leads): segment 3 mean distance 1.8x fit time".

    Examples:
        >>> drift_summary(DriftReport(state="filling", model_version=3, leads=120, window_leads=20000,
        ...     window_seconds=3600))
        'drift: filling (120 sampled leads in the window, of version 3)'
    """
    why = f": {'; '.join(drift.reasons)}" if drift.reasons else ""
    match drift.state:
        case "no_model":
            return "drift: no model served"
        case "no_baseline":
            return (
                f"drift: not judged, model {drift.model_version} has no fit-time figures (made before they were stored)"
            )
        case "filling":
            return f"drift: filling ({drift.leads:,} sampled leads in the window, of version {drift.model_version})"
        case _:
            requested = (
                f"; refit last asked for on drift at {drift.last_refit_request:%Y-%m-%d %H:%M:%S}"
                if drift.last_refit_request
                else ""
            )
            refused = (
                f"; the refit asked for on drift was refused ({'; '.join(drift.refused_reasons)}): the model served "
                "is stale, serve another with `set-k` and `refit`, `pin` or `publish`"
                if drift.state == "drifting_refused"
                else ""
            )
            return f"drift: {drift.state} (score {drift.score:.2f} on {drift.leads:,} leads){why}{requested}{refused}"


def drift_table(drift: DriftReport) -> Table:
    """Per segment, the drift window against the model's fit-time figures."""
    table = Table(
        title=f"Drift of model {drift.model_version}: the window against fit time",
        caption=f"leads beyond every radius: {drift.beyond_radius_share:.1%} (fit {drift.fit_beyond_radius_share:.1%})",
    )
    for column in ("segment", "leads", "share", "mean distance", "outliers"):
        table.add_column(column, justify="right")
    for s in drift.segments:
        table.add_row(
            str(s.segment_id),
            f"{s.leads:,}",
            f"{s.share:.1%} (fit {s.fit_share:.1%})",
            "" if s.mean_distance is None else f"{s.mean_distance:.3g} (fit {s.fit_mean_distance:.3g})",
            "" if s.outlier_share is None else f"{s.outlier_share:.1%} (fit {s.fit_outlier_share:.1%})",
        )
    return table


def scores_table(gate: GateReport) -> Table:
    """The gate's scores of a refit: the candidate against the served model."""
    table = Table(
        title=f"Gate: candidate K={gate.k} against served K={gate.served_k}, {gate.held_out:,} held-out leads"
    )
    for column in ("score", "candidate", "served"):
        table.add_column(column, justify="left" if column == "score" else "right")
    for name in gate.candidate:
        table.add_row(name, f"{gate.candidate[name]:.4g}", f"{gate.served[name]:.4g}")
    table.add_row("leads moved", f"{gate.moved_share:.1%}", "")
    if gate.moved_unexplained_share is not None and gate.moved_explained_share is not None:
        table.add_row("  explained by the lineage", f"{gate.moved_explained_share:.1%}", "")
        table.add_row("  unexplained (held to the limit)", f"{gate.moved_unexplained_share:.1%}", "")
    return table


def history_table(snapshots: Sequence[ModelSnapshot]) -> Table:
    """The versions made current, newest first: when, K, why (refit and its gate, restored, published)."""
    table = Table(title="Model versions (newest first)")
    for column in ("version", "created", "K", "why", "silhouette", "inertia/lead", "moved", "lineage"):
        table.add_column(column, justify="right" if column in ("K", "silhouette", "inertia/lead", "moved") else "left")
    for s in snapshots:
        gate = s.gate
        table.add_row(
            str(s.version),
            s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(len(s.segments)),
            _made_by(s),
            _versus(gate.candidate["silhouette"], gate.served["silhouette"]) if gate else "",
            _versus(gate.candidate["inertia_per_lead"], gate.served["inertia_per_lead"]) if gate else "",
            f"{gate.moved_share:.0%}" if gate else "",
            lineage_summary(s.lineage) if s.lineage else "",
        )
    return table


def _made_by(s: ModelSnapshot) -> str:
    """How a version was made current; an artifact from before `made_by` was recorded says what it can."""
    made_by = s.made_by or ("refit" if s.gate else "publish" if not s.restored_from else None)
    match made_by:
        case "refit":
            return f"refit of {s.gate.served_version}: passed the gate" if s.gate else "refit"
        case "rollback":
            return f"rollback to the content of {s.restored_from}"
        case "pin":
            return f"pin of the content of {s.restored_from}"
        case "publish":
            return "published"
        case _:
            return f"restored from {s.restored_from} (rollback or pin)"


def _versus(candidate: float, served: float) -> str:
    return f"{candidate:.3f} (was {served:.3f})"
