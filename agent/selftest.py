"""The member's self-test (H8: connect 15 minutes early and test; H9: the member's checklist).

:func:`run_selftest` runs every check group in turn within one total deadline
(``[selftest] timeout_s``, 45 s), reporting progress through a callback, and returns a
:class:`SelftestDocument`: the measured values plus the texts in the member's language. That
document is what ``likavillkor-agent selftest --json`` prints (schema:
``docs/selftest-result.schema.json``), :func:`render` turns it into the plain-language summary,
and :func:`to_wire` into the ``wire.SelftestResult`` published on MQTT.

Checks are imported lazily: a check module that is missing or broken, a check that raises or
overruns its time gives a Finding with status ``error`` ("check unavailable"), never a crash.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec

from agent.checks.base import CheckContext, Finding, tr
from agent.i18n import GROUPS, STATUS, pick, t
from agent.identity import Identity
from likavillkor import wire
from likavillkor.wire import CheckStatus

log = logging.getLogger(__name__)

CheckFn = Callable[[CheckContext], Awaitable[list[Finding]]]


@dataclass(frozen=True, slots=True)
class CheckSpec:
    group: str  # "network", ...: used in [selftest] skip and for the progress line
    error_id: str  # the Finding id when the check cannot run
    module: str
    function: str
    budget_s: float  # at most this much of the total deadline
    heavy: bool = False  # not while the meeting runs (speed test, camera grab)


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec("network", "network.link", "agent.checks.device", "check_network", 5),
    CheckSpec("battery", "battery.level", "agent.checks.device", "check_battery", 5),
    CheckSpec("host", "host.cpu", "agent.checks.device", "check_host", 5),
    CheckSpec("path", "network.path", "agent.checks.network_path", "check_path", 10),
    CheckSpec("bandwidth", "network.bandwidth", "agent.checks.network_path", "check_bandwidth", 20, heavy=True),
    CheckSpec("camera", "camera", "agent.checks.media", "check_camera", 10, heavy=True),
    CheckSpec("microphone", "microphone", "agent.checks.media", "check_microphone", 10),
    CheckSpec("mediapath", "media.path", "agent.checks.media", "check_media_path", 15, heavy=True),
)
GROUP_NAMES = tuple(c.group for c in CHECKS)


class CheckLine(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One line of the self-test, texts in ``SelftestDocument.lang``."""

    id: str
    group: str
    status: CheckStatus
    value: float | int | bool | str | None = None
    unit: str | None = None
    rule: str | None = None
    text: str = ""  # what was measured, in plain words
    why: str = ""  # why it matters
    advice: str = ""  # what to do; empty when it passes


class SelftestDocument(msgspec.Struct, kw_only=True):
    """What ``likavillkor-agent selftest --json`` prints (docs/selftest-result.schema.json)."""

    type: str = "selftest-report"
    device_id: str
    meeting_id: str | None = None
    lang: str
    overall: CheckStatus  # pass, warn or fail
    exit_code: Annotated[int, msgspec.Meta(ge=0, le=3)]
    started_at: float  # epoch seconds
    duration_s: float
    checks: list[CheckLine]
    summary: str  # the closing sentence(s), in ``lang``
    servicedesk_phone: str  # H20


def overall_status(statuses: list[CheckStatus]) -> CheckStatus:
    """Fail if any check failed; warn if any warned or could not run; else pass."""
    if CheckStatus.FAIL in statuses:
        return CheckStatus.FAIL
    if CheckStatus.WARN in statuses or CheckStatus.ERROR in statuses:
        return CheckStatus.WARN
    return CheckStatus.PASS


def exit_code(overall: CheckStatus) -> int:
    """0 all pass, 1 warnings only, 2 a failure that breaks equal terms (3 is bad config, in cli)."""
    return {CheckStatus.PASS: 0, CheckStatus.WARN: 1, CheckStatus.FAIL: 2}.get(overall, 1)


def _error(spec: CheckSpec, key: str, lang: str, detail: str = "") -> Finding:
    from agent.i18n import WORDS

    return Finding(id=spec.error_id, status=CheckStatus.ERROR, value=detail[:200] or None, text=WORDS[key])


def _skipped(spec: CheckSpec, key: str = "skipped_by_config") -> Finding:
    from agent.i18n import WORDS

    return Finding(id=spec.error_id, status=CheckStatus.SKIPPED, text=WORDS[key])


def _load(spec: CheckSpec) -> CheckFn | None:
    try:
        fn = getattr(importlib.import_module(spec.module), spec.function)
    except Exception as exc:  # missing or broken module: that check reports "unavailable"
        log.info("self-test: %s.%s unavailable: %s", spec.module, spec.function, exc)
        return None
    return fn


async def _run_one(spec: CheckSpec, ctx: CheckContext) -> list[Finding]:
    fn = _load(spec)
    if fn is None:
        return [_error(spec, "unavailable", ctx.lang)]
    try:
        async with asyncio.timeout(max(0.0, ctx.deadline - time.monotonic())):
            findings = await fn(ctx)
    except TimeoutError:
        return [_error(spec, "timed_out", ctx.lang)]
    except Exception as exc:  # a check must not take the whole self-test down
        log.warning("self-test: check %s raised %s: %s", spec.group, type(exc).__name__, exc)
        return [_error(spec, "crashed", ctx.lang, f"{type(exc).__name__}: {exc}")]
    return list(findings) or [_error(spec, "crashed", ctx.lang, "no findings")]


async def run_checks(
    config: Any,
    *,
    lang: str = "sv",
    meeting_id: str | None = None,
    meeting_end: float | None = None,
    in_session: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
    specs: tuple[CheckSpec, ...] = CHECKS,
) -> list[tuple[str, Finding]]:
    """Run every check group within ``config.selftest.timeout_s``; returns ``(group, finding)``."""
    total_deadline = time.monotonic() + config.selftest.timeout_s
    skip = set(config.selftest.skip)
    out: list[tuple[str, Finding]] = []
    for number, spec in enumerate(specs, start=1):
        if spec.group in skip or (in_session and spec.heavy):
            out.append((spec.group, _skipped(spec)))
            continue
        progress(f"[{number}/{len(specs)}] " + t("checking", lang, what=pick(GROUPS[spec.group], lang)))
        remaining = total_deadline - time.monotonic()
        if remaining <= 0:
            out.append((spec.group, _error(spec, "timed_out", lang)))
            continue
        ctx = CheckContext(
            config=config,
            deadline=time.monotonic() + min(remaining, spec.budget_s),
            lang=lang,
            collector_url=config.collector.url or None,
            meeting_id=meeting_id,
            meeting_end=meeting_end,
            in_session=in_session,
            progress=progress,
        )
        findings = await _run_one(spec, ctx)
        progress("      " + ", ".join(f"{pick(STATUS[f.status], lang)} ({f.id})" for f in findings))
        out.extend((spec.group, f) for f in findings)
    return out


def build_document(
    config: Any,
    device_id: str,
    results: list[tuple[str, Finding]],
    *,
    lang: str,
    meeting_id: str | None,
    started_at: float,
    duration_s: float,
) -> SelftestDocument:
    lines = [
        CheckLine(
            id=f.id,
            group=group,
            status=f.status,
            value=f.value,
            unit=f.unit,
            rule=f.rule,
            text=pick(f.text, lang),
            why=pick(f.why, lang),
            advice=pick(f.advice, lang),
        )
        for group, f in results
    ]
    overall = overall_status([line.status for line in lines])
    phone = config.selftest.servicedesk_phone
    summary = t({CheckStatus.PASS: "overall_pass", CheckStatus.WARN: "overall_warn"}.get(overall, "overall_fail"), lang)
    if overall is not CheckStatus.PASS:
        summary += " " + t("servicedesk", lang, phone=phone)
    if overall is CheckStatus.FAIL:
        summary += " " + t("tell_chair", lang)
    return SelftestDocument(
        device_id=device_id,
        meeting_id=meeting_id,
        lang=lang,
        overall=overall,
        exit_code=exit_code(overall),
        started_at=started_at,
        duration_s=round(duration_s, 3),
        checks=lines,
        summary=summary,
        servicedesk_phone=phone,
    )


async def run_selftest(
    config: Any,
    device_id: str,
    *,
    lang: str = "sv",
    meeting_id: str | None = None,
    meeting_end: float | None = None,
    in_session: bool = False,
    progress: Callable[[str], None] = lambda _m: None,
    wall: Callable[[], float] = time.time,
) -> SelftestDocument:
    started_at = wall()
    t0 = time.monotonic()
    results = await run_checks(
        config, lang=lang, meeting_id=meeting_id, meeting_end=meeting_end, in_session=in_session, progress=progress
    )
    return build_document(
        config,
        device_id,
        results,
        lang=lang,
        meeting_id=meeting_id,
        started_at=started_at,
        duration_s=time.monotonic() - t0,
    )


def _fmt_value(line: CheckLine) -> str:
    if line.value is None or isinstance(line.value, bool):
        return ""
    value = f"{line.value:g}" if isinstance(line.value, float) else str(line.value)
    return f" [{value}{' ' + line.unit if line.unit else ''}]"


def render(doc: SelftestDocument) -> str:
    """The plain-language summary the member reads (Swedish unless ``lang`` is ``en``)."""
    lang = doc.lang
    title = t("title_meeting", lang, meeting=doc.meeting_id) if doc.meeting_id else t("title", lang)
    out = [title, ""]
    width = max(len(pick(s, lang)) for s in STATUS.values())
    for line in doc.checks:
        label = pick(STATUS[line.status], lang).ljust(width)
        rule = f" ({line.rule})" if line.rule else ""
        out.append(f"{label}  {line.text}{_fmt_value(line)}{rule}")
        pad = " " * (width + 2)
        if line.why and line.status is not CheckStatus.SKIPPED:
            out.append(f"{pad}{t('why', lang)}: {line.why}")
        if line.advice:
            out.append(f"{pad}{t('todo', lang)}: {line.advice}")
    out += ["", f"{t('result', lang)}: {pick(STATUS[doc.overall], lang)}. {doc.summary}"]
    return "\n".join(out) + "\n"


def to_wire(doc: SelftestDocument, identity: Identity) -> wire.SelftestResult:
    checks = []
    for line in doc.checks[:64]:
        summary = f"{line.text} — {line.advice}" if line.text and line.advice else (line.text or line.advice)
        value = line.value[:200] if isinstance(line.value, str) else line.value
        checks.append(
            wire.CheckResult(
                id=line.id[:64],
                status=line.status,
                value=value,
                unit=line.unit[:16] if line.unit else None,
                summary=summary[:2000] or None,
                rule=line.rule[:16] if line.rule else None,
            )
        )
    return wire.SelftestResult(
        device_id=identity.device_id,
        boot_id=identity.boot_id,
        seq=identity.next_seq(),
        ts=doc.started_at + doc.duration_s,
        meeting_id=doc.meeting_id,
        overall=doc.overall,
        started_at=doc.started_at,
        duration_s=min(doc.duration_s, 3600),
        checks=checks,
    )


def json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`SelftestDocument` (docs/selftest-result.schema.json)."""
    return msgspec.json.schema(SelftestDocument)


__all__ = [
    "CHECKS",
    "CheckLine",
    "CheckSpec",
    "SelftestDocument",
    "build_document",
    "exit_code",
    "json_schema",
    "overall_status",
    "render",
    "run_checks",
    "run_selftest",
    "to_wire",
    "tr",
]
