"""The shape every self-test check shares (H8, H9).

A check is an async function ``async def check_x(ctx: CheckContext) -> list[Finding]``. It must
finish by ``ctx.deadline`` (``time.monotonic()`` based), release every device it opened, and
never raise for a missing device: it returns a Finding with status ``error`` or ``skipped``
instead. Text is given in Swedish and English; the member sees Swedish unless ``--lang en``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from likavillkor.wire import CheckResult, CheckStatus

Text = dict[str, str]  # {"sv": ..., "en": ...}


def tr(sv: str, en: str) -> Text:
    return {"sv": sv, "en": en}


@dataclass(slots=True)
class Finding:
    id: str  # stable: "network.link", "battery.level", "camera.black", ...
    status: CheckStatus
    value: float | int | bool | str | None = None
    unit: str | None = None
    rule: str | None = None  # "H9"
    text: Text = field(default_factory=dict)  # what was measured, in plain words
    why: Text = field(default_factory=dict)  # why it matters
    advice: Text = field(default_factory=dict)  # what to do; empty when it passes

    def localized(self, what: Text, lang: str) -> str:
        return what.get(lang) or what.get("sv") or ""

    def to_wire(self, lang: str = "sv") -> CheckResult:
        value = self.value
        if isinstance(value, str):
            value = value[:200]
        summary = self.localized(self.text, lang)
        advice = self.localized(self.advice, lang)
        if advice:
            summary = f"{summary} — {advice}" if summary else advice
        return CheckResult(
            id=self.id, status=self.status, value=value, unit=self.unit, summary=summary[:2000] or None, rule=self.rule
        )


@dataclass(slots=True)
class CheckContext:
    config: Any  # agent.config.AgentConfig
    deadline: float  # time.monotonic() by which the check must be done
    lang: str = "sv"
    collector_url: str | None = None  # base URL of the collector's HTTP API, when reachable
    meeting_id: str | None = None
    meeting_end: float | None = None  # epoch seconds, for the battery forecast
    in_session: bool = False  # True while the meeting runs: no speed tests, no camera grab
    progress: Callable[[str], None] = lambda _msg: None
