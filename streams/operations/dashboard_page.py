"""The live dashboard drawn: `panel` turns `state` (streams/dashboard.py) into HTML with server-drawn SVG, and the
page (`PAGE`) fetches a new panel every 2 s: no library, no CDN, no build step. A dead letter is shown by its class,
reason and source offset, never its payload."""

import html
from datetime import UTC, datetime
from typing import Any

__all__ = ["PAGE", "panel"]

_PALETTE = [
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
]
_W, _H, _PAD = 460, 320, 16


def panel(s: dict[str, Any]) -> str:
    """The dashboard's live part, as HTML."""
    model, totals, window = s["model"], s["totals"], s["window"]
    colours = {seg["id"]: _PALETTE[i % len(_PALETTE)] for i, seg in enumerate(s["segments"])}
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
        "</section>",
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
    out.append('<div class="row"><div><h2>Recent leads (PCA of scaled features)</h2>')
    out.append(_scatter_svg(s["scatter"], colours))
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
        lines.append(f"<p>content of version {model['restored_from']} (rolled back or pinned)</p>")
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
        f"<td>{seg['strategy']['avg_deal_size']:,.0f}</td></tr>"
        for seg in model["segments"]
    )
    return "".join(lines) + f'<table id="model-segments">{head}{rows}</table>'


def _scatter_svg(scatter: dict[str, Any], colours: dict[int, str]) -> str:
    xs, ys = scatter["x"], scatter["y"]
    if not xs:
        return '<p class="none" id="scatter">no leads routed yet</p>'
    all_x = xs + [c["x"] for c in scatter["centroids"]]
    all_y = ys + [c["y"] for c in scatter["centroids"]]
    x0, x1, y0, y1 = min(all_x), max(all_x), min(all_y), max(all_y)
    sx = (_W - 2 * _PAD) / ((x1 - x0) or 1)
    sy = (_H - 2 * _PAD) / ((y1 - y0) or 1)

    def at(x: float, y: float) -> tuple[float, float]:
        return _PAD + (x - x0) * sx, _H - _PAD - (y - y0) * sy

    def dot(x: float, y: float, colour: str) -> str:
        cx, cy = at(x, y)
        return f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="2.5" fill="{colour}"/>'

    def centre(c: dict[str, Any]) -> str:
        cx, cy = at(c["x"], c["y"])
        return (
            f'<g><circle cx="{cx:.1f}" cy="{cy:.1f}" r="7" fill="none" stroke="#222" stroke-width="2"/>'
            f'<text x="{cx + 9:.1f}" y="{cy - 9:.1f}">{c["id"]}</text></g>'
        )

    dots = "".join(dot(x, y, colours.get(seg, "#999")) for x, y, seg in zip(xs, ys, scatter["segment_id"], strict=True))
    centres = "".join(centre(c) for c in scatter["centroids"])
    return (
        f'<svg id="scatter" data-points="{len(xs)}" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}">'
        f'<rect width="{_W}" height="{_H}" fill="#fafafa" stroke="#ddd"/>{dots}{centres}</svg>'
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Lead Segmenter</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:16px 24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}h2 small{font-weight:normal;color:#666}
#status{color:#666;font-size:12px}
.cards{display:flex;flex-wrap:wrap;gap:8px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.label{font-size:11px;color:#666;text-transform:uppercase}.value{font-size:20px;font-weight:600}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 8px;border-bottom:1px solid #eee;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
i{display:inline-block;width:10px;height:10px;border-radius:5px}
.bar{display:inline-block;height:8px;background:#4e79a7;vertical-align:middle}
.row{display:flex;flex-wrap:wrap;gap:32px}.none{color:#888}svg text{font-size:11px}
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
