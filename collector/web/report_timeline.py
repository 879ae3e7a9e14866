"""The meeting report's picture (pure): one row per remote participant, each state a bar with its
name written in it (not colour alone), adjournments hatched across the rows, agenda items as
labelled lines, and the legend saying what each fill and pattern means. The report itself is
:mod:`collector.web.report`."""

from __future__ import annotations

from html import escape

from collector.web.report import Report, clock_text, label

#: timeline colours: fill, and text colour on it (contrast >= 4.5, checked in tests/web/test_contrast.py)
TIMELINE_COLOURS: dict[str, tuple[str, str]] = {
    "good": ("#dcfce7", "#14532d"),
    "warn": ("#fef3c7", "#713f12"),
    "bad": ("#fee2e2", "#7f1d1d"),
    "neutral": ("#f3f4f6", "#1f2937"),
    "info": ("#dbeafe", "#1e3a8a"),
}
STATE_CLASS = {
    "ok": "good",
    "ready": "good",
    "connected": "good",
    "degraded": "warn",
    "expected": "neutral",
    "failing": "bad",
    "lost": "bad",
    "replaced": "bad",
    "excused": "info",
    "left": "neutral",
    "not_monitored": "info",
}


def legend(rep: Report, lang: str) -> list[dict[str, str]]:
    """What the timeline's fills and patterns mean: each state it shows (its colour and its name,
    written in the bar too), the hatching of an adjournment and the dashed line of an agenda item."""
    shown = sorted(
        {iv.value for ivs in rep.timelines.values() for iv in ivs},
        key=lambda v: list(STATE_CLASS).index(v) if v in STATE_CLASS else 99,
    )
    out = []
    for v in shown:
        fill, ink = TIMELINE_COLOURS[STATE_CLASS.get(v, "neutral")]
        out.append(
            {
                "kind": "state",
                "key": v,
                "fill": fill,
                "ink": ink,
                "text": label(f"state.{v}", lang),
                "means": label(f"rep.legend.{STATE_CLASS.get(v, 'neutral')}", lang),
            }
        )
    out.append(
        {
            "kind": "adjourned",
            "key": "adjourned",
            "fill": "url(#hatch)",
            "ink": "#6b7280",
            "text": label("adjourned", lang),
            "means": label("rep.legend.adjourned", lang),
        }
    )
    out.append(
        {
            "kind": "item",
            "key": "item",
            "fill": "none",
            "ink": "#111827",
            "text": "§",
            "means": label("rep.legend.item", lang),
        }
    )
    return out


def timeline_svg(rep: Report, lang: str, width: int = 960) -> str:
    """One row per remote participant; each state a bar with its name written in it (not colour alone);
    adjournments hatched across all rows; agenda items as labelled lines."""
    name_w, row_h, top = 190, 30, 28
    span = max(rep.end - rep.start, 1.0)
    plot_w = width - name_w - 10
    height = top + row_h * max(1, len(rep.timelines)) + 24

    def x(t: float) -> float:
        return name_w + plot_w * (min(max(t, rep.start), rep.end) - rep.start) / span

    out = [
        f'<svg class="timeline" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(label("rep.timeline", lang))}</title>',
        '<defs><pattern id="hatch" width="8" height="8" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="8" fill="#6b7280" opacity="0.45"/></pattern></defs>',
    ]
    for i, (member_id, ivs) in enumerate(rep.timelines.items()):
        y = top + i * row_h
        out.append(f'<text x="4" y="{y + 19}">{escape(rep.names.get(member_id, member_id))}</text>')
        for iv in ivs:
            x0, x1 = x(iv.start), x(iv.end)
            if x1 - x0 < 0.5:
                continue
            fill, ink = TIMELINE_COLOURS[STATE_CLASS.get(iv.value, "neutral")]
            text = label(f"state.{iv.value}", lang)
            out.append(
                f'<rect x="{x0:.1f}" y="{y + 3}" width="{x1 - x0:.1f}" height="{row_h - 6}" fill="{fill}" '
                f'stroke="{ink}" stroke-width="0.6"><title>{escape(text)} {clock_text(iv.start)}–'
                f"{clock_text(iv.end)}</title></rect>"
            )
            if x1 - x0 > 7 * len(text):
                out.append(f'<text x="{x0 + 4:.1f}" y="{y + 19}" style="fill:{ink}">{escape(text)}</text>')
    rows_bottom = top + row_h * max(1, len(rep.timelines))
    for adj in rep.adjournments:
        out.append(
            f'<rect x="{x(adj.start):.1f}" y="{top}" width="{max(1.0, x(adj.end) - x(adj.start)):.1f}" '
            f'height="{rows_bottom - top}" fill="url(#hatch)"><title>{escape(label("adjourned", lang))} '
            f"{clock_text(adj.start)}–{clock_text(adj.end)}</title></rect>"
        )
    for seg in rep.segments:
        if seg.kind == "item":
            out.append(
                f'<line x1="{x(seg.start):.1f}" x2="{x(seg.start):.1f}" y1="12" y2="{rows_bottom}" '
                'stroke="#111827" stroke-dasharray="3 3"/>'
            )
            out.append(f'<text x="{x(seg.start) + 3:.1f}" y="20">§ {escape(seg.label)}</text>')
    steps = 6
    for k in range(steps + 1):
        t = rep.start + span * k / steps
        anchor = "start" if k == 0 else "end" if k == steps else "middle"
        shown = clock_text(t) if span < 1800 else clock_text(t)[:5]  # seconds only matter in a short span
        out.append(f'<text x="{x(t):.1f}" y="{height - 6}" text-anchor="{anchor}">{shown}</text>')
    out.append("</svg>")
    return "".join(out)
