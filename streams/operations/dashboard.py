"""The live dashboard's data: the worker's state as plain values (`state`), served as JSON and drawn as HTML by
streams/dashboard_page.py."""

import time
from datetime import UTC, datetime
from typing import Any

import numpy as np

from models.drift import DriftReport
from models.impact_report import ImpactReport
from segmentation.projection import fit_projection
from streams import metrics
from streams.model_plane import ModelHolder, ServingModel
from streams.operations.activity import Activity

__all__ = ["state"]


def state(
    holder: ModelHolder, activity: Activity, drift: DriftReport | None = None, impact: ImpactReport | None = None
) -> dict[str, Any]:
    """What the dashboard shows, as JSON-ready values; `drift` is the drift timer's last judgement, `impact` the
    served version's measured impact as last read from Redis."""
    model, window = holder.model, activity.window()
    names = dict(activity.segment_names)
    ids = list(names)
    if model is not None:
        names.update((segment_id, name) for segment_id, name, _ in model.segments)
        ids = [segment_id for segment_id, _, _ in model.segments] + [i for i in names if i not in set(ids)]
    ids += [i for i in activity.assigned if i not in ids]
    in_window = sum(window.assigned.values())
    lags = metrics.consumer_lag()
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "uptime_seconds": round(time.time() - activity.started_at, 1),
        "model": None if model is None else _model(model),
        "totals": {
            "received": activity.received,
            "assigned": activity.assigned.total(),
            "dead_lettered": activity.dead_lettered.total(),
            "transitions": activity.transitions,
        },
        "dead_lettered_by_class": dict(activity.dead_lettered),
        "window": {
            "seconds": window.seconds,
            "received": window.received,
            "assigned": in_window,
            "dead_lettered": window.dead_lettered,
            "leads_per_second": round(window.per_second, 1),
        },
        "segments": [
            {
                "id": i,
                "name": names.get(i, f"segment {i}"),
                "assigned": activity.assigned.get(i, 0),
                "window": window.assigned.get(i, 0),
                "window_share": round(window.assigned.get(i, 0) / in_window, 4) if in_window else 0.0,
            }
            for i in ids
        ],
        "lag": {"total": sum(lags.values()), "partitions": {f"{t}/{p}": n for (t, p), n in sorted(lags.items())}},
        "event_loop_lag_seconds": round(metrics.value(metrics.EVENT_LOOP_LAG), 4),
        "redis_up": bool(metrics.value(metrics.REDIS_UP)),
        "kafka_delivery_up": bool(metrics.value(metrics.KAFKA_DELIVERY_UP)),
        "drift": None if drift is None else _drift(drift),
        "impact": None if impact is None else impact.model_dump(mode="json"),
        "recent_transitions": list(activity.recent_transitions),
        "recent_dead_letters": list(activity.recent_dead_letters),
        "scatter": _scatter(model, activity),
    }


def _drift(drift: DriftReport) -> dict[str, Any]:
    return {
        "state": drift.state,
        "score": None if drift.score is None else round(drift.score, 2),
        "leads": drift.leads,
        "reasons": drift.reasons,
        "refused_reasons": drift.refused_reasons,
    }


def _model(model: ServingModel) -> dict[str, Any]:
    snapshot = model.snapshot
    fit = snapshot.metrics
    return {
        "version": snapshot.version,
        "k": len(snapshot.segments),
        "created_at": snapshot.created_at.isoformat(timespec="seconds"),
        "age_seconds": round(time.time() - snapshot.created_at.timestamp()),
        "fit": {
            "n_leads": fit.n_leads,
            "algorithm": fit.algorithm,
            "inertia": round(fit.inertia, 2),
            "k_selection": fit.selection.reason if fit.selection else None,
        },
        "segments": [
            {"id": s.id, "name": s.name, "share_at_fit": round(s.share, 4), "strategy": s.strategy.model_dump()}
            for s in snapshot.segments
        ],
        "restored_from": snapshot.restored_from,
        "made_by": snapshot.made_by,
        "gate": None if snapshot.gate is None else snapshot.gate.model_dump(mode="json"),
        "lineage": [entry.model_dump(mode="json", by_alias=True) for entry in snapshot.lineage or []],
    }


def _scatter(model: ServingModel | None, activity: Activity) -> dict[str, Any]:
    """Recent leads on the first two principal axes of their scaled features (fitted on the points shown)."""
    rows, segments = activity.points()
    if model is None or len(rows) < 3:
        return {"x": [], "y": [], "segment_id": [], "centroids": []}
    scaled = model.segmenter.scale(rows)
    projection = fit_projection(scaled, 2)
    xy = projection.transform(scaled)
    centres = projection.transform(np.asarray(model.segmenter.feature_centroids_))
    return {
        "x": np.round(xy[:, 0], 3).tolist(),
        "y": np.round(xy[:, 1], 3).tolist(),
        "segment_id": segments.tolist(),
        "centroids": [
            {"id": segment_id, "x": round(float(x), 3), "y": round(float(y), 3)}
            for (segment_id, _, _), (x, y) in zip(model.segments, centres.tolist(), strict=True)
        ],
    }
