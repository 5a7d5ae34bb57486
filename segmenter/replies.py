"""How the workers' replies on the models topic and the history of model versions are shown to an operator."""

import json
from collections.abc import Sequence

from rich.table import Table

from models.control import ModelEvent
from models.drift import DriftReport
from models.snapshot import ModelSnapshot
from models.snapshot_parts import GateReport, LineageEntry

__all__ = ["describe", "drift_summary", "drift_table", "history_table", "lineage_summary", "scores_table"]


def describe(reply: ModelEvent) -> str:
    """One line for a reply."""
    why = f": {'; '.join(reply.reasons)}" if reply.reasons else ""
    restored = f", the content of version {reply.restored_from}" if reply.restored_from else ""
    served = f"version {reply.version}{restored} served" if reply.version else "no model served"
    match reply.type:
        case "status":
            return "status: " + json.dumps(reply.status.model_dump(mode="json") if reply.status else {})
        case "k_set":
            return f"K of later refits: {reply.status.k if reply.status else None}"
        case "error":
            return f"error{why}"
        case "rejected":
            return f"rejected{why}; {served}"
        case _:
            return f"{reply.type.replace('_', ' ')}: {served}{why}"


def lineage_summary(lineage: list[LineageEntry]) -> str:
    """What a refit did to the segments, one clause per kind, e.g. "kept 0, 1; new 5; split 3 into 6, 7".

    Examples:
        >>> entry = LineageEntry.model_validate
        >>> lineage_summary([entry({"segment_id": 0, "kind": "kept", "from": [0], "into": [0]}),
        ...     entry({"segment_id": 3, "kind": "split", "from": [3], "into": [5, 6]}),
        ...     entry({"segment_id": 5, "kind": "split", "from": [3], "into": [5, 6]}),
        ...     entry({"segment_id": 6, "kind": "split", "from": [3], "into": [5, 6]}),
        ...     entry({"segment_id": 2, "kind": "retired", "from": [2], "into": []})])
        'kept 0; retired 2; split 3 into 5, 6'
    """
    ids = {kind: [e.segment_id for e in lineage if e.kind == kind] for kind in ("kept", "new", "retired")}
    parts = [f"{kind} {', '.join(map(str, found))}" for kind, found in ids.items() if found]
    events = {(e.kind, tuple(e.from_), tuple(e.into)) for e in lineage if e.kind in ("split", "merged")}
    for kind, sources, targets in sorted(events):
        parts.append(f"{kind} {', '.join(map(str, sources))} into {', '.join(map(str, targets))}")
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
    return table


def history_table(snapshots: Sequence[ModelSnapshot]) -> Table:
    """The versions made current, newest first: when, K, why (refit and its gate, restored, published)."""
    table = Table(title="Model versions (newest first)")
    for column in ("version", "created", "K", "why", "silhouette", "inertia/lead", "moved", "lineage"):
        table.add_column(column, justify="right" if column in ("K", "silhouette", "inertia/lead", "moved") else "left")
    for s in snapshots:
        gate = s.gate
        why = (
            f"restored from {s.restored_from}"
            if s.restored_from
            else f"refit of {gate.served_version}: passed the gate"
            if gate
            else "published"
        )
        table.add_row(
            str(s.version),
            s.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            str(len(s.segments)),
            why,
            _versus(gate.candidate["silhouette"], gate.served["silhouette"]) if gate else "",
            _versus(gate.candidate["inertia_per_lead"], gate.served["inertia_per_lead"]) if gate else "",
            f"{gate.moved_share:.0%}" if gate else "",
            lineage_summary(s.lineage) if s.lineage else "",
        )
    return table


def _versus(candidate: float, served: float) -> str:
    return f"{candidate:.3f} (was {served:.3f})"
