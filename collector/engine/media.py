"""The media path check result (H13 roll-call helper) as the engine reads it: one typed message,
:class:`~likavillkor.media.report.PathReport` (issue 13).

:func:`decode` is the edge: it takes a result as the collector's media peer hands it on (the
PathReport as a dict) and, for one wire version, the older ad-hoc shapes (``{"ok": bool}``,
``{"status": "pass"|"fail"}``, ``{"overall": ...}``; docs/wire.md), and returns a PathReport or
raises ``ValueError``. :func:`level` interprets only the typed report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from likavillkor.media.findings import Verdict as PathVerdict
from likavillkor.media.report import Direction, PathReport

#: verdict -> 0 fine, 1 warning (equal terms hold), 2 broken (H2) or not measured
_LEVEL = {PathVerdict.GOOD: 0, PathVerdict.DEGRADED: 1, PathVerdict.POOR: 2, PathVerdict.FAILED: 2}
#: the older shapes' words (status/overall/verdict) -> the typed verdict
_LEGACY = {
    "good": PathVerdict.GOOD,
    "pass": PathVerdict.GOOD,
    "ok": PathVerdict.GOOD,
    "passed": PathVerdict.GOOD,
    "degraded": PathVerdict.DEGRADED,
    "warn": PathVerdict.DEGRADED,
    "poor": PathVerdict.POOR,
    "fail": PathVerdict.POOR,
    "failed": PathVerdict.FAILED,
    "error": PathVerdict.FAILED,
}
MAX_REASON = 200


def level(report: PathReport) -> int:
    """0 fine, 1 warning, 2 failure: what one direction of the check says about equal terms."""
    return _LEVEL[report.verdict]


def decode(result: PathReport | Mapping[str, Any]) -> PathReport:
    """The typed result; an older shape is translated (one version, docs/wire.md). ``ValueError``
    when it says nothing the engine can read."""
    if isinstance(result, PathReport):
        return result
    if not isinstance(result, Mapping):
        raise ValueError(f"media path result: expected an object, got {type(result).__name__}")
    typed = str(result.get("verdict", "")) in _VERDICTS and str(result.get("direction", "")) in _DIRECTIONS
    if not typed or isinstance(result.get("ok"), bool):
        return _legacy(result)
    try:
        return msgspec.convert(dict(result), PathReport)
    except msgspec.ValidationError as exc:
        raise ValueError(f"media path result: {exc}") from None


_VERDICTS = frozenset(str(v) for v in PathVerdict)
_DIRECTIONS = frozenset(str(d) for d in Direction)


def _legacy(result: Mapping[str, Any]) -> PathReport:
    ok = result.get("ok")
    verdict: PathVerdict | None = None
    if isinstance(ok, bool):
        verdict = PathVerdict.GOOD if ok else PathVerdict.POOR
    else:
        for key in ("verdict", "status", "overall"):
            verdict = _LEGACY.get(str(result.get(key, "")).lower())
            if verdict is not None:
                break
    if verdict is None:
        raise ValueError("media path result: no verdict, ok, status or overall the engine can read")
    direction = str(result.get("direction", ""))
    reason = result.get("reason") or result.get("detail")
    # a result without a direction reads as the member's own sound and picture ("up")
    return PathReport(
        direction=Direction(direction) if direction in _DIRECTIONS else Direction.UP,
        device_id=_str(result.get("device_id")),
        meeting_id=_str(result.get("meeting_id")),
        connected=bool(result.get("connected", verdict is not PathVerdict.FAILED)),
        verdict=verdict,
        reason=str(reason)[:MAX_REASON] if reason else None,
    )


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def shown(report: PathReport) -> dict[str, Any]:
    """The report as the chair's page reads it (``ParticipantView.mediapath``)."""
    out: dict[str, Any] = msgspec.to_builtins(report)
    return out
