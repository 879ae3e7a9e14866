"""Inline SVG icons (no icon font, no CDN). Each state is shown as icon AND text, never colour alone.

Icons use ``currentColor`` so they take the text's colour and contrast. Shapes differ per meaning
(check, triangle, cross, broken link, swap, pause, eye-off …), so they read in greyscale too.
"""

from __future__ import annotations

_SVG = (
    '<svg class="icon" viewBox="0 0 24 24" width="1.2em" height="1.2em" aria-hidden="true" focusable="false" '
    'fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round">{}</svg>'
)

_PATHS: dict[str, str] = {
    "check": '<circle cx="12" cy="12" r="10"/><path d="M7 12.5l3.2 3.2L17 9"/>',
    "warning": '<path d="M12 3L2 21h20z"/><path d="M12 10v5"/><circle cx="12" cy="18" r="0.6" fill="currentColor"/>',
    "cross": '<circle cx="12" cy="12" r="10"/><path d="M8 8l8 8M16 8l-8 8"/>',
    "unplugged": '<path d="M9 7l-3 3a4 4 0 005.7 5.7l1-1M15 17l3-3a4 4 0 00-5.7-5.7l-1 1"/><path d="M3 3l18 18"/>',
    "swap": '<path d="M4 8h14l-3-3M20 16H6l3 3"/>',
    "door": '<path d="M5 21V3h10v18M15 12h6M18 9l3 3-3 3"/>',
    "clock": '<circle cx="12" cy="12" r="10"/><path d="M12 6v6l4 2"/>',
    "plug": '<path d="M9 2v6M15 2v6M6 8h12v3a6 6 0 01-12 0zM12 17v5"/>',
    "pause": '<circle cx="12" cy="12" r="10"/><path d="M10 8v8M14 8v8"/>',
    "eye_off": '<path d="M2 12s4-7 10-7 10 7 10 7-4 7-10 7S2 12 2 12z"/><path d="M3 3l18 18"/>',
    "flag": '<path d="M5 21V4h11l-2 4 2 4H5"/>',
    "question": '<circle cx="12" cy="12" r="10"/><path d="M9.5 9a2.5 2.5 0 015 .5c0 2-2.5 2-2.5 4"/>'
    '<circle cx="12" cy="17.5" r="0.6" fill="currentColor"/>',
}

STATE_ICON: dict[str, str] = {
    "expected": "clock",
    "connected": "plug",
    "ready": "check",
    "ok": "check",
    "degraded": "warning",
    "failing": "cross",
    "lost": "unplugged",
    "replaced": "swap",
    "excused": "door",
    "left": "door",
    "not_monitored": "eye_off",
}
VERDICT_ICON: dict[str, str] = {
    "not_started": "clock",
    "equal_terms": "check",
    "at_risk": "warning",
    "adjourn": "pause",
    "substitute_due": "swap",
    "monitoring_interrupted": "eye_off",
    "ended": "flag",
    "not_all_monitored": "question",
}


def svg(name: str) -> str:
    return _SVG.format(_PATHS.get(name, _PATHS["question"]))


def all_icons() -> dict[str, str]:
    """name -> SVG, for the page scripts; also ``state.<s>`` and ``verdict.<v>`` aliases."""
    out = {name: svg(name) for name in _PATHS}
    out.update({f"state.{s}": svg(i) for s, i in STATE_ICON.items()})
    out.update({f"verdict.{v}": svg(i) for v, i in VERDICT_ICON.items()})
    return out
