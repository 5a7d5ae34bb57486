"""The live dashboard drawn: `panel` turns `state` (streams/dashboard.py) into HTML with server-drawn SVG, and the
page (`PAGE`) fetches a new panel every 2 s: no library, no CDN, no build step. A dead letter is shown by its class,
reason and source offset, never its payload."""

import html
from datetime import UTC, datetime
from typing import Any

from models.presentation import money, segment_colours
from streams.operations.impact_panel import impact_html

__all__ = ["PAGE", "panel"]

_OTHER = "#b0b0b0"  # a segment the served model no longer has (still counted since start)
# The scatter's drawing area: left and bottom margins hold the axes' ticks and names.
_W, _H, _PAD, _LEFT, _BOTTOM = 640, 400, 12, 52, 40


def colours_of(s: dict[str, Any]) -> dict[int, str]:
    """Each segment's colour: by its place in the served model, as in the HTML report and the CLI's figures."""
    model = s["model"]
    ids = [seg["id"] for seg in model["segments"]] if model else [seg["id"] for seg in s["segments"]]
    colours = dict(zip(ids, segment_colours(len(ids)), strict=True)) if ids else {}
    return {seg["id"]: colours.get(seg["id"], _OTHER) for seg in s["segments"]}


def panel(s: dict[str, Any]) -> str:
    """The dashboard's live part, as HTML."""
    model, totals, window = s["model"], s["totals"], s["window"]
    colours = colours_of(s)
    out = [
        '<section class="cards">',
        _card("Leads read", totals["received"], "total-received"),
        _card("Assigned", totals["assigned"], "total-assigned"),
        _card("Dead-lettered", totals["dead_lettered"], "total-dead-lettered"),
        _card("Transitions", totals["transitions"], "total-transitions"),
        _card("Leads/s (10 s)", window["leads_per_second"], "rate"),
        _card("Consumer lag", s["lag"]["total"], "lag"),
        _card("Model", f"v{model['version']} · K={model['k']}" if model else "none yet", "model-version"),
        _card("Redis · Kafka", f"{_up(s['redis_up'])} · {_up(s['kafka_delivery_up'])}", "services"),
        _card("Drift", _drift_summary(s["drift"]), "drift"),
        "</section>",
        _stale(s["drift"]),
        f"<h2>Segments <small>last {window['seconds']:.0f} s: {window['assigned']} assigned</small></h2>",
        '<table id="segments"><tr><th></th><th>id</th><th>segment</th><th>since start</th><th>last window</th>'
        "<th>share</th><th>channel</th><th>sales resource</th></tr>",
    ]
    strategies = {seg["id"]: seg["strategy"] for seg in model["segments"]} if model else {}
    for seg in s["segments"]:
        strategy = strategies.get(seg["id"], {})
        share = seg["window_share"]
        out.append(
            f'<tr data-segment-id="{seg["id"]}"><td><i style="background:{colours[seg["id"]]}"></i></td>'
            f"<td>{seg['id']}</td><td>{_e(seg['name'])}</td>"
            f'<td class="num" data-assigned="{seg["assigned"]}">{seg["assigned"]}</td>'
            f'<td class="num">{seg["window"]}</td>'
            f'<td><span class="bar" style="width:{share * 120:.0f}px"></span> {share:.1%}</td>'
            f"<td>{_e(strategy.get('channel', ''))}</td><td>{_e(strategy.get('sales_resource', ''))}</td></tr>"
        )
    out.append("</table>")
    out.append(impact_html(s.get("impact")))
    out.append('<div class="row"><div><h2>Recent leads (PCA of scaled features)</h2>')
    out.append(_scatter_svg(s["scatter"], colours))
    out.append(_legend(s["segments"], colours) if s["scatter"]["x"] else "")
    out.append("</div><div><h2>Model served</h2>")
    out.append(_model_html(model))
    out.append("</div></div>")
    out.append('<div class="row"><div><h2>Recent transitions</h2>')
    out.append(
        _rows(
            ["when", "lead", "from", "to", "model"],
            [
                [_when(t["at"]), t["lead_id"], t["from_segment_id"], t["to_segment_id"], t["model_version"]]
                for t in s["recent_transitions"]
            ],
            "transitions",
        )
    )
    out.append("</div><div><h2>Recent dead letters</h2>")
    out.append(
        _rows(
            ["when", "class", "reason", "source"],
            [
                [_when(d["at"]), d["error_class"], d["reason"], f"{d['topic']}/{d['partition']}@{d['offset']}"]
                for d in s["recent_dead_letters"]
            ],
            "dead-letters",
        )
    )
    out.append("</div></div>")
    return "\n".join(out)


def _card(label: str, value: object, key: str) -> str:
    return f'<div class="card"><div class="label">{label}</div><div class="value" id="{key}">{_e(value)}</div></div>'


def _drift_summary(drift: dict[str, Any] | None) -> str:
    if drift is None:
        return "not judged yet"
    score = "" if drift["score"] is None else f" · {drift['score']:.2f}"
    return f"{drift['state'].replace('_', ' ')}{score}"


def _stale(drift: dict[str, Any] | None) -> str:
    """A warning while the model served is stale: drifting, and the refit asked for on drift was refused."""
    if drift is None or drift["state"] != "drifting_refused":
        return ""
    return (
        '<p class="stale" id="stale">The model served is stale: its leads drift '
        f"({_e('; '.join(drift['reasons']))}) and the refit asked for on drift was refused "
        f"({_e('; '.join(drift['refused_reasons']))}). Serve another with <code>segmenter set-k K</code> and "
        "<code>segmenter refit</code>, <code>segmenter pin VERSION</code> or <code>segmenter publish MODEL.json"
        "</code>.</p>"
    )


def _up(up: bool) -> str:
    return "up" if up else "DOWN"


def _e(value: object) -> str:
    return html.escape(str(value))


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S")


def _rows(header: list[str], rows: list[list[object]], key: str) -> str:
    if not rows:
        return f'<p class="none" id="{key}">none yet</p>'
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f'<table id="{key}"><tr>{head}</tr>{body}</table>'


def _model_html(model: dict[str, Any] | None) -> str:
    if model is None:
        return '<p class="none">no model published yet: <code>segmenter publish MODEL.json</code></p>'
    fit = model["fit"]
    lines = [
        f"<p>version <b>{model['version']}</b>, K={model['k']}, created {_e(model['created_at'])} "
        f"({model['age_seconds'] // 60} min ago); fitted on {fit['n_leads']} leads ({_e(fit['algorithm'])}, "
        f"inertia {fit['inertia']})</p>",
    ]
    if fit["k_selection"]:
        lines.append(f"<p>K chosen: {_e(fit['k_selection'])}</p>")
    if model["restored_from"]:
        how = {"rollback": "by a rollback", "pin": "by a pin"}.get(model.get("made_by") or "", "rolled back or pinned")
        lines.append(
            f"<p>serving the content of version {model['restored_from']} as version {model['version']} ({how})</p>"
        )
    if gate := model["gate"]:
        scores = ", ".join(
            f"{_e(name)} {value:.3g} (served {gate['served'].get(name, float('nan')):.3g})"
            for name, value in gate["candidate"].items()
        )
        lines.append(
            f'<p id="gate">gate: {_e(gate["decision"])} against version {gate["served_version"]} on '
            f"{gate['held_out']} held-out leads ({gate['moved_share']:.1%} moved); {scores}. "
            f"{_e('; '.join(gate['reasons']))}</p>"
        )
    if model["lineage"]:
        changes = ", ".join(
            f"{_e(entry['kind'])} {entry['segment_id']}"
            + (f" from {entry['from']}" if entry["from"] and entry["kind"] != "kept" else "")
            + (f" into {entry['into']}" if entry["into"] and entry["kind"] != "kept" else "")
            for entry in model["lineage"]
        )
        lines.append(f'<p id="lineage">lineage: {changes}</p>')
    head = "<tr><th>id</th><th>name</th><th>share at fit</th><th>message</th><th>close rate</th><th>deal size</th></tr>"
    rows = "".join(
        f"<tr><td>{seg['id']}</td><td>{_e(seg['name'])}</td><td>{seg['share_at_fit']:.1%}</td>"
        f"<td>{_e(seg['strategy']['message'])}</td><td>{seg['strategy']['expected_close_rate']:.0%}</td>"
        f'<td class="num">{money(seg["strategy"]["avg_deal_size"])}</td></tr>'
        for seg in model["segments"]
    )
    return "".join(lines) + f'<table id="model-segments">{head}{rows}</table>'


def _legend(segments: list[dict[str, Any]], colours: dict[int, str]) -> str:
    items = "".join(
        f'<li><i style="background:{colours[seg["id"]]}"></i> {seg["id"]} {_e(seg["name"])}</li>' for seg in segments
    )
    return f'<ul class="legend" id="scatter-legend">{items}<li><b class="ring"></b> segment centre</li></ul>'


def _ticks(low: float, high: float) -> list[float]:
    """Three tick values across [low, high]: its ends and middle."""
    return [low, (low + high) / 2, high]


def _scatter_svg(scatter: dict[str, Any], colours: dict[int, str]) -> str:
    xs, ys = scatter["x"], scatter["y"]
    if not xs:
        return '<p class="none" id="scatter">no leads routed yet</p>'
    all_x = xs + [c["x"] for c in scatter["centroids"]]
    all_y = ys + [c["y"] for c in scatter["centroids"]]
    x0, x1, y0, y1 = min(all_x), max(all_x), min(all_y), max(all_y)
    sx = (_W - _LEFT - 2 * _PAD) / ((x1 - x0) or 1)
    sy = (_H - _BOTTOM - 2 * _PAD) / ((y1 - y0) or 1)
    bottom = _H - _BOTTOM - _PAD

    def at(x: float, y: float) -> tuple[float, float]:
        return _LEFT + _PAD + (x - x0) * sx, bottom - (y - y0) * sy

    def dot(x: float, y: float, colour: str) -> str:
        cx, cy = at(x, y)
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{colour}"/>'

    def centre(c: dict[str, Any]) -> str:
        cx, cy = at(c["x"], c["y"])
        return (
            f'<g><circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" stroke="#222" stroke-width="2"/>'
            f'<text x="{cx + 9:.1f}" y="{cy - 9:.1f}">{c["id"]}</text></g>'
        )

    dots = "".join(dot(x, y, colours.get(seg, _OTHER)) for x, y, seg in zip(xs, ys, scatter["segment_id"], strict=True))
    centres = "".join(centre(c) for c in scatter["centroids"])
    axis_y = _H - _BOTTOM
    axes = [
        f'<line class="axis" x1="{_LEFT}" y1="{axis_y}" x2="{_W}" y2="{axis_y}"/>',
        f'<line class="axis" x1="{_LEFT}" y1="0" x2="{_LEFT}" y2="{axis_y}"/>',
        f'<text x="{(_LEFT + _W) / 2:.0f}" y="{_H - 6}" text-anchor="middle">principal axis 1</text>',
        f'<text transform="translate(14 {axis_y / 2:.0f}) rotate(-90)" text-anchor="middle">principal axis 2</text>',
    ]
    for x in _ticks(x0, x1):
        cx = at(x, y0)[0]
        axes.append(f'<text x="{cx:.1f}" y="{axis_y + 16}" text-anchor="middle">{x:.2g}</text>')
    for y in _ticks(y0, y1):
        cy = at(x0, y)[1]
        axes.append(f'<text x="{_LEFT - 6}" y="{cy + 4:.1f}" text-anchor="end">{y:.2g}</text>')
    return (
        f'<svg id="scatter" data-points="{len(xs)}" viewBox="0 0 {_W} {_H}" preserveAspectRatio="xMidYMid meet">'
        f'<rect x="{_LEFT}" width="{_W - _LEFT}" height="{axis_y}" fill="#fafafa"/>{"".join(axes)}{dots}{centres}'
        "</svg>"
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lead Segmenter</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}
main{width:100%}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}h2 small{font-weight:normal;color:#666}
#status{color:#666;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.stale{border:1px solid #c0392b;background:#fdecea;border-radius:6px;padding:8px 12px}
.label{font-size:11px;color:#666;text-transform:uppercase}.value{font-size:20px;font-weight:600}
table{border-collapse:collapse;font-size:13px;width:100%}
td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
i{display:inline-block;width:10px;height:10px;border-radius:5px}
.bar{display:inline-block;height:8px;background:#4e79a7;vertical-align:middle}
.row{display:grid;grid-template-columns:repeat(auto-fit,minmax(460px,1fr));gap:32px;align-items:start}
.row>div{min-width:0}.none{color:#888}
#scatter{width:100%;height:auto;max-height:70vh;display:block}svg text{font-size:11px;fill:#444}
svg .axis{stroke:#888;stroke-width:1}
.legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12px}
.ring{display:inline-block;width:10px;height:10px;border-radius:6px;border:2px solid #222;vertical-align:middle}
</style></head>
<body><h1>Lead Segmenter</h1><div id="status">live: refreshes every 2 s</div>
<main id="panel"><!--panel--></main>
<script>
// The token, if the page was opened with ?token=..., is sent on with every refresh.
async function refresh() {
  const status = document.getElementById("status");
  try {
    const response = await fetch("/dashboard/panel" + location.search, {cache: "no-store"});
    if (!response.ok) { status.textContent = "refresh failed: HTTP " + response.status; return; }
    document.getElementById("panel").innerHTML = await response.text();
    status.textContent = "live: updated " + new Date().toLocaleTimeString();
  } catch (error) {
    status.textContent = "worker unreachable: retrying";
  }
}
setInterval(refresh, 2000);
</script></body></html>
"""
