"""The media path's result (:class:`PathReport`, one direction, H1) and its judge.

Light (msgspec and the standard library): the collector's engine and pages read these without
numpy. The judge functions are pure: a report in, issues out, each issue with its rule, the
measured value and Swedish/English text and advice. What a camera or microphone check measured and
found: :mod:`likavillkor.media.findings`; their judges: :mod:`likavillkor.media.video_judge`,
:mod:`likavillkor.media.audio_judge`.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from likavillkor.media.findings import AudioReport, Issue, Segment, Verdict, VideoReport, tr, worst
from likavillkor.media.limits import FrameLimits
from likavillkor.media.video_judge import judge_video
from likavillkor.wire import CheckStatus


class Direction(StrEnum):
    UP = "up"  # the member's camera and microphone as the collector received them
    DOWN = "down"  # the room's test stream as the member's device received it


class PathReport(msgspec.Struct, kw_only=True):
    """One direction of the media path check (H1): ``up`` is the member's camera and microphone as
    the collector received them, ``down`` the room's test stream as the member's device received it.

    The one media-path result type (issue 13): the agent (agent/media/mediapath.py) and the
    collector's media peer build it, the engine (collector/engine/media.py) reads only its
    ``verdict``, ``direction`` and ``reason``."""

    direction: Direction
    device_id: str | None = None
    meeting_id: str | None = None
    connected: bool = False
    duration_s: float = 0.0
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    frames: int = 0
    freezes: int = 0
    black_frames: int = 0
    frozen_frames: int = 0
    black_runs: list[Segment] = msgspec.field(default_factory=list)
    frozen_runs: list[Segment] = msgspec.field(default_factory=list)
    audio_rms_dbfs: float | None = None
    tone_dbfs: float | None = None
    loss_percent: float | None = None
    jitter_ms: float | None = None
    rtt_ms: float | None = None
    verdict: Verdict = Verdict.FAILED
    reason: str | None = None
    findings: list[Issue] = msgspec.field(default_factory=list)
    video: VideoReport | None = None
    audio: AudioReport | None = None
    #: set by the collector's media peer (collector/peers/media.py) when it hands the result on
    session_id: str | None = None
    started_at: float | None = None


#: network limits used when no policy is given: the shipped defaults of likavillkor/data/policy.toml
_NET_DEFAULTS = {"loss_percent": (1.0, 10.0), "jitter_ms": (30.0, 60.0), "rtt_ms": (100.0, 500.0)}


def _net_issue(
    iid: str, value: float | None, name: str, unit: str, limits: dict[str, tuple[float, float]], what: dict[str, str]
) -> Issue | None:
    if value is None:
        return None
    warn, fail = limits.get(name, _NET_DEFAULTS[name])
    status = CheckStatus.FAIL if value > fail else CheckStatus.WARN if value > warn else CheckStatus.PASS
    shown = round(value, 1)
    advice = tr(
        "anslutningen är för dålig för lika villkor — byt till ett bättre wifi eller flytta närmare "
        "routern, ring Servicedesk om det inte hjälper (H20)",
        "the connection is not good enough for equal terms — use a better Wi-Fi or move closer to the "
        "router, call the Servicedesk if that does not help (H20)",
    )
    return Issue(
        id=iid,
        status=status,
        value=shown,
        unit=unit,
        rule="H1",
        text=tr(f"{what['sv']} {shown} {unit}", f"{what['en']} {shown} {unit}"),
        advice=advice if status is not CheckStatus.PASS else {},
    )


def judge_path(
    report: PathReport,
    *,
    expect_tone_dbfs: float | None = None,
    net_limits: dict[str, tuple[float, float]] | None = None,
    frame_limits: FrameLimits | None = None,
) -> list[Issue]:
    """Issues of one direction: video as the far end saw it, sound, loss, jitter and RTT."""
    p = f"mediapath.{report.direction}"
    if not report.connected:
        return [
            Issue(
                id=f"{p}.connect",
                status=CheckStatus.FAIL,
                value=False,
                rule="H1",
                text=tr(
                    "ingen mediaförbindelse till kommunens server", "no media connection to the municipality's server"
                ),
                advice=tr(
                    "nätet släpper inte igenom bild och ljud — prova ett annat nät eller ring Servicedesk (H20)",
                    "the network blocks sound and image — try another network or call the Servicedesk (H20)",
                ),
            )
        ]
    limits = net_limits or {}
    out = judge_video(report.video or VideoReport(frames=0), frame_limits, prefix=f"{p}.video", received=True)
    out.extend(_judge_sound(report, p, expect_tone_dbfs))
    for issue in (
        _net_issue(f"{p}.loss", report.loss_percent, "loss_percent", "%", limits, tr("paketförlust", "packet loss")),
        _net_issue(f"{p}.jitter", report.jitter_ms, "jitter_ms", "ms", limits, tr("jitter", "jitter")),
        _net_issue(f"{p}.rtt", report.rtt_ms, "rtt_ms", "ms", limits, tr("svarstid", "round-trip time")),
    ):
        if issue is not None:
            out.append(issue)
    who = _WHO.get(Direction(report.direction))
    if who:
        for issue in out:
            issue.text = {lang: f"{who[lang]}: {text}" for lang, text in issue.text.items()}
    return out


#: whose view a media path finding is, so the member can tell the two directions apart
_WHO = {
    Direction.UP: tr("det rummet tar emot från dig", "what the room receives from you"),
    Direction.DOWN: tr("det du tar emot från rummet", "what you receive from the room"),
}


def _judge_sound(report: PathReport, p: str, expect_tone_dbfs: float | None) -> list[Issue]:
    audio = report.audio
    if audio is None or audio.samples == 0:
        return [
            Issue(
                id=f"{p}.audio",
                status=CheckStatus.FAIL,
                value=0,
                unit="samples",
                rule="H1",
                text=tr("inget ljud kom fram", "no sound arrived"),
                advice=tr(
                    "ljudet når inte fram — kontrollera mikrofonen och nätet",
                    "the sound does not get through — check the microphone and the network",
                ),
            )
        ]
    if expect_tone_dbfs is not None:
        tone = audio.tone_dbfs if audio.tone_dbfs is not None else -120.0
        ok = tone >= expect_tone_dbfs - 10.0
        return [
            Issue(
                id=f"{p}.tone",
                status=CheckStatus.PASS if ok else CheckStatus.FAIL,
                value=round(tone, 1),
                unit="dBFS",
                rule="H1",
                text=tr(f"rummets testton {tone:.1f} dBFS", f"the room's test tone {tone:.1f} dBFS"),
                advice={}
                if ok
                else tr(
                    "du skulle inte höra rummet — kontrollera nätet", "you would not hear the room — check the network"
                ),
            )
        ]
    rms = audio.rms_dbfs if audio.rms_dbfs is not None else -120.0
    status = CheckStatus.WARN if audio.silent else CheckStatus.PASS
    return [
        Issue(
            id=f"{p}.audio",
            status=status,
            value=round(rms, 1),
            unit="dBFS",
            rule="H4",
            text=tr(f"ljudnivå hos mottagaren {rms:.1f} dBFS", f"sound level at the receiver {rms:.1f} dBFS"),
            advice=tr(
                "ditt ljud hörs inte — slå av ljudavstängningen", "your sound is not heard — unmute the microphone"
            )
            if audio.silent
            else {},
        )
    ]


def complete(report: PathReport, **judge_kw: object) -> PathReport:
    """Fill ``findings`` and ``verdict`` of a report from its numbers."""
    report.findings = judge_path(report, **judge_kw)  # type: ignore[arg-type]
    report.verdict = worst(report.findings) if report.connected else Verdict.FAILED
    return report
