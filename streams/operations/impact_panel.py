"""The dashboard's impact panel: per segment × arm of the served version, the observed close rate with its 95 %
interval against the assumed one, drawn as a bar, and the measured lift with its interval. Draws the report as
`state` gives it (`ImpactReport` as JSON); nothing when no outcome was counted."""

import html
from typing import Any

__all__ = ["impact_html"]

_SCALE = 160  # pixels for a close rate of 100 %


def impact_html(report: dict[str, Any] | None) -> str:
    """The panel's HTML, or "" when there is no report or it has no rows."""
    if not report or not report["rows"]:
        return ""
    out = [
        f"<h2>Measured impact <small>version {report['model_version']}: {report['leads']:,} leads, "
        f"{report['matured']:,} matured, {report['open']:,} open, {report['unattributed']:,} unattributed</small></h2>",
        '<table id="impact"><tr><th>segment</th><th>arm</th><th>exposed</th><th>matured</th>'
        "<th>close rate: observed (95 % interval) · assumed</th><th>verdict</th></tr>",
    ]
    for row in report["rows"]:
        matured = row["won"] + row["lost"]
        out.append(
            f'<tr data-segment-id="{row["segment_id"]}" data-arm="{row["arm"]}"><td>{html.escape(row["segment_name"])}'
            f'</td><td>{row["arm"]}</td><td class="num">{row["exposed"]:,}</td><td class="num">{matured:,}</td>'
            f"<td>{_rate_bar(row)}</td><td>{row['verdict'].replace('_', ' ')}</td></tr>"
        )
    out.append("</table>")
    out.append(f'<p id="lift">{_lift(report["lift"])}</p>')
    return "\n".join(out)


def _rate_bar(row: dict[str, Any]) -> str:
    """The interval as a light bar, the observed rate as a dark tick and the assumed one as a red tick."""
    assumed = row["assumed_close_rate"]
    parts = [f'<svg width="{_SCALE + 4}" height="12" role="img"><title>assumed {assumed:.1%}</title>']
    if row["close_rate_ci"] is not None:
        low, high = row["close_rate_ci"]
        width = max((high - low) * _SCALE, 1)
        parts.append(f'<rect x="{2 + low * _SCALE:.1f}" y="3" width="{width:.1f}" height="6" fill="#c6d6ea"/>')
    if row["close_rate"] is not None:
        parts.append(f'<rect x="{1 + row["close_rate"] * _SCALE:.1f}" y="1" width="2" height="10" fill="#1f4e79"/>')
    parts.append(f'<rect x="{1 + assumed * _SCALE:.1f}" y="0" width="2" height="12" fill="#c0392b"/></svg>')
    observed = "no result yet" if row["close_rate"] is None else f"{row['close_rate']:.1%}"
    if row["close_rate_ci"] is not None:
        observed += f" ({row['close_rate_ci'][0]:.1%}–{row['close_rate_ci'][1]:.1%})"
    return "".join(parts) + f" {observed} · {assumed:.1%}"


def _lift(lift: dict[str, Any]) -> str:
    if lift["basis"] != "measured":
        return f"Lift of segmenting over the holdout: no figure yet ({lift['basis'].replace('_', ' ')})."
    low, high = lift["lift_pct_ci"]
    return (
        f"Lift of segmenting over the holdout: {lift['lift_pct']:+.1f} % revenue per lead "
        f"(95 % interval {low:+.1f} % to {high:+.1f} %)."
    )
