"""What a camera, microphone or media-path check found: numbers, issues and a verdict (H1, H4).

Light (msgspec and the standard library): the collector's engine and pages read these without
numpy. The judge functions are pure: a report in, issues out, each issue with its rule, the
measured value and Swedish/English text and advice.
"""

from __future__ import annotations

from enum import StrEnum

import msgspec

from likavillkor.media.limits import AudioLimits, FrameLimits
from likavillkor.wire import CheckStatus


class Verdict(StrEnum):
    GOOD = "good"
    DEGRADED = "degraded"  # a warning: equal terms still hold
    POOR = "poor"  # equal terms broken (H2)
    FAILED = "failed"  # the check could not measure (no connection, no media)


class Direction(StrEnum):
    UP = "up"  # the member's camera and microphone as the collector received them
    DOWN = "down"  # the room's test stream as the member's device received it


class Segment(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A stretch of time within a check, in seconds from its start."""

    start_s: float
    end_s: float
    frames: int = 0


class VideoReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    frames: int
    duration_s: float | None = None
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    requested_width: int | None = None
    requested_height: int | None = None
    resolution_ok: bool | None = None
    black_frames: int = 0
    frozen_frames: int = 0
    blurred_frames: int = 0
    dark_frames: int = 0
    bright_frames: int = 0
    mean_luma: float | None = None
    black_runs: list[Segment] = msgspec.field(default_factory=list)
    frozen_runs: list[Segment] = msgspec.field(default_factory=list)
    blurred_runs: list[Segment] = msgspec.field(default_factory=list)
    dark_runs: list[Segment] = msgspec.field(default_factory=list)
    bright_runs: list[Segment] = msgspec.field(default_factory=list)
    freezes: int = 0  # W3C webrtc-stats freezes
    freeze_duration_ms: float = 0.0
    freeze_runs: list[Segment] = msgspec.field(default_factory=list)
    face_checks: int = 0
    face_seen: int = 0
    face_runs: list[Segment] = msgspec.field(default_factory=list)


class ClipRun(msgspec.Struct, kw_only=True):
    start_s: float
    samples: int


class AudioReport(msgspec.Struct, kw_only=True, omit_defaults=True):
    samples: int
    sample_rate: int
    duration_s: float = 0.0
    rms_dbfs: float | None = None
    peak_dbfs: float | None = None
    noise_floor_dbfs: float | None = None
    level_std_percent: float | None = None
    level_spread_db: float | None = None
    level_rel_std_percent: float | None = None  # relative std of the 100 ms level
    clipping_runs: list[ClipRun] = msgspec.field(default_factory=list)
    clipped_percent: float | None = None  # share of samples at full scale
    silent: bool = False
    dead: bool = False
    tone_dbfs: float | None = None  # level at the test-tone frequency, when one was asked for


class Issue(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One finding of a media check, in the shape of ``agent.checks.base.Finding``."""

    id: str
    status: CheckStatus
    value: float | int | bool | str | None = None
    unit: str | None = None
    rule: str | None = None
    text: dict[str, str] = msgspec.field(default_factory=dict)
    advice: dict[str, str] = msgspec.field(default_factory=dict)


def _t(sv: str, en: str) -> dict[str, str]:
    return {"sv": sv, "en": en}


def judge_video(
    report: VideoReport, limits: FrameLimits | None = None, *, prefix: str = "camera", received: bool = False
) -> list[Issue]:
    """Issues of a video report. ``received`` judges the far end of a media path (Teams CQD < 7 fps)
    instead of a local capture (testrtc < 5 fps)."""
    lim = limits or FrameLimits()
    if report.frames == 0:
        return [
            Issue(
                id=f"{prefix}.frames",
                status=CheckStatus.FAIL,
                value=0,
                unit="frames",
                rule="H1",
                text=_t("ingen bild kom fram", "no picture arrived"),
                advice=_t("kontrollera att kameran är på och vald", "check the camera is on and selected"),
            )
        ]
    share = lim.bad_frame_ratio
    # one cause per fault, ranked so the advice fixes the real problem first (issue 14): black, then
    # too dark / over-exposed / blurred, then frozen (counted only on frames that could show movement)
    out = [
        _ratio_issue(
            f"{prefix}.black",
            report.black_frames / report.frames,
            share,
            _longest(report.black_runs),
            lim.visible_run_s,
            "H4",
            _t("svart bild", "black picture"),
            _t(
                "kameran visar svart bild — ta bort skyddet eller välj en annan kamera",
                "the camera shows a black picture — remove the cover or choose another camera",
            ),
        )
    ]
    out.extend(_quality_issues(report, prefix, share))
    out.append(
        _ratio_issue(
            f"{prefix}.frozen",
            report.frozen_frames / report.frames,
            share,
            _longest(report.frozen_runs),
            lim.visible_run_s,
            "H1",
            _t("fryst bild", "frozen picture"),
            _t(
                "bilden står still — starta om kameran eller appen",
                "the picture does not move — restart the camera or the app",
            ),
        )
    )
    min_fps = lim.poor_received_fps if received else lim.min_fps
    fps = report.fps or 0.0
    out.append(
        Issue(
            id=f"{prefix}.fps",
            status=CheckStatus.FAIL if fps < min_fps else CheckStatus.PASS,
            value=round(fps, 1),
            unit="fps",
            rule="H1",
            text=_t(f"{fps:.1f} bilder per sekund", f"{fps:.1f} frames per second"),
            advice=_t(
                "bilden hackar — stäng andra program och kontrollera nätet",
                "the picture stutters — close other programs and check the network",
            )
            if fps < min_fps
            else {},
        )
    )
    if report.resolution_ok is False:
        got = f"{report.width}x{report.height}"
        want = f"{report.requested_width}x{report.requested_height}"
        out.append(
            Issue(
                id=f"{prefix}.resolution",
                status=CheckStatus.WARN if received else CheckStatus.FAIL,
                value=got,
                rule="H1",
                text=_t(f"upplösning {got}, begärd {want}", f"resolution {got}, asked for {want}"),
                advice=_t(
                    "kameran ger inte den upplösning som begärdes — välj en annan kamera",
                    "the camera does not give the resolution asked for — choose another camera",
                ),
            )
        )
    if report.freezes:
        out.append(
            Issue(
                id=f"{prefix}.freezes",
                status=CheckStatus.WARN,
                value=report.freezes,
                unit="freezes",
                rule="H1",
                text=_t(f"bilden frös {report.freezes} gånger", f"the picture froze {report.freezes} times"),
                advice=_t("bilden fryser ibland — kontrollera nätet", "the picture freezes — check the network"),
            )
        )
    if report.face_checks and report.face_seen == 0:
        # face detection runs only on frames that are lit and sharp (frames.py): a dark or blurred
        # picture is reported as such, never also as "no face"
        out.append(
            Issue(
                id=f"{prefix}.face",
                status=CheckStatus.WARN,
                value=0,
                unit="faces",
                rule="H4",
                text=_t("inget ansikte syns i bilden", "no face visible in the picture"),
                advice=_t("sätt dig så att ansiktet syns i bild", "sit so that your face is in the picture"),
            )
        )
    return out


def _longest(segments: list[Segment]) -> float:
    return max((s.end_s - s.start_s for s in segments), default=0.0)


def _ratio_issue(
    iid: str,
    ratio: float,
    share: float,
    longest_s: float,
    visible_s: float,
    rule: str,
    what: dict[str, str],
    advice: dict[str, str],
) -> Issue:
    """fail above the testrtc share; warn when a stretch long enough to be seen occurred."""
    bad = ratio > share
    status = CheckStatus.FAIL if bad else (CheckStatus.WARN if longest_s >= visible_s else CheckStatus.PASS)
    pct = round(100 * ratio, 1)
    return Issue(
        id=iid,
        status=status,
        value=pct,
        unit="%",
        rule=rule,
        text=_t(f"{what['sv']}: {pct} % av bilderna", f"{what['en']}: {pct} % of frames"),
        advice=advice if status is not CheckStatus.PASS else {},
    )


#: picture-quality causes in rank order: (id suffix, report count, Swedish/English name, advice)
_QUALITY = (
    (
        "dark",
        "dark_frames",
        _t("för mörk bild", "picture too dark"),
        _t(
            "bilden är för mörk — tänd en lampa framför dig",
            "the picture is too dark — turn on a light in front of you",
        ),
    ),
    (
        "bright",
        "bright_frames",
        _t("överexponerad bild", "picture over-exposed"),
        _t(
            "bilden är överexponerad — sitt inte med ett fönster bakom dig",
            "the picture is over-exposed — do not sit with a window behind you",
        ),
    ),
    (
        "blur",
        "blurred_frames",
        _t("suddig bild", "blurred picture"),
        _t(
            "bilden är suddig — torka av linsen eller ställ in skärpan",
            "the picture is blurred — clean the lens or adjust the focus",
        ),
    ),
)


def _quality_issues(report: VideoReport, prefix: str, share: float) -> list[Issue]:
    """A warning per quality cause seen on more than a third of the frames, with its share in percent."""
    out: list[Issue] = []
    for suffix, count_field, what, advice in _QUALITY:
        ratio = getattr(report, count_field) / report.frames
        if ratio > share:
            pct = round(100 * ratio, 1)
            out.append(
                Issue(
                    id=f"{prefix}.{suffix}",
                    status=CheckStatus.WARN,
                    value=pct,
                    unit="%",
                    rule="H4",
                    text=_t(f"{what['sv']}: {pct} % av bilderna", f"{what['en']}: {pct} % of frames"),
                    advice=advice,
                )
            )
    return out


def judge_audio(report: AudioReport, limits: AudioLimits | None = None, *, prefix: str = "microphone") -> list[Issue]:
    """Issues of an audio report, one cause per fault: silent (warn: a muted listener is normal),
    dead (fail: no variation at a level that is neither silent nor saturated), clipping (input level)."""
    if report.samples == 0 or report.rms_dbfs is None:
        return [
            Issue(
                id=f"{prefix}.samples",
                status=CheckStatus.FAIL,
                value=0,
                unit="samples",
                rule="H1",
                text=_t("inget ljud kom fram", "no sound arrived"),
                advice=_t("kontrollera att mikrofonen är på och vald", "check the microphone is on and selected"),
            )
        ]
    rms = round(report.rms_dbfs, 1)
    level = _t(f"nivå {rms} dBFS", f"level {rms} dBFS")
    clips = len(report.clipping_runs)
    # one cause per fault (issue 14): a saturated signal is constant too, but it is clipping (advice:
    # lower the input level), never "dead" (advice: choose another microphone); silence is not dead
    if report.silent:
        out = [
            Issue(
                id=f"{prefix}.level",
                status=CheckStatus.WARN,
                value=rms,
                unit="dBFS",
                rule="H4",
                text=level,
                advice=_t(
                    "mikrofonen tar inte upp något ljud — slå av ljudavstängningen eller välj en annan mikrofon",
                    "the microphone picks up no sound — unmute it or choose another one",
                ),
            )
        ]
    elif report.dead and not clips:
        out = [
            Issue(
                id=f"{prefix}.level",
                status=CheckStatus.FAIL,
                value=rms,
                unit="dBFS",
                rule="H4",
                text=_t(f"{level['sv']}, helt jämn", f"{level['en']}, constant"),
                advice=_t(
                    "mikrofonens nivå rör sig inte alls — säg något under testet; gör den fortfarande "
                    "inte det är mikrofonen trasig, välj en annan",
                    "the microphone level does not move — speak during the test; if it still does "
                    "not, the microphone is broken: choose another one",
                ),
            )
        ]
    else:
        out = [Issue(id=f"{prefix}.level", status=CheckStatus.PASS, value=rms, unit="dBFS", rule="H4", text=level)]
    out.append(_clipping_issue(report, prefix, limits or AudioLimits()))
    return out


def _clipping_issue(report: AudioReport, prefix: str, lim: AudioLimits) -> Issue:
    """Clipping runs (testrtc: more than 6 full-scale samples): a warning, a failure when more than
    ``clip_fail_percent`` of the samples are clipped (the room hears distortion, not words)."""
    clips = len(report.clipping_runs)
    share = report.clipped_percent or 0.0
    status = (CheckStatus.FAIL if share > lim.clip_fail_percent else CheckStatus.WARN) if clips else CheckStatus.PASS
    text = _t(f"{clips} överstyrningar", f"{clips} clipping runs")
    if clips:
        text = _t(f"{text['sv']} ({share:.1f} % av ljudet)", f"{text['en']} ({share:.1f} % of the sound)")
    return Issue(
        id=f"{prefix}.clipping",
        status=status,
        value=clips,
        unit="runs",
        rule="H1",
        text=text,
        advice=_t(
            "ljudet överstyr — sänk mikrofonens inspelningsnivå (ingångsnivå) i ljudinställningarna "
            "eller sitt längre bort från mikrofonen",
            "the sound clips — lower the microphone's input level in the sound settings or sit "
            "further away from the microphone",
        )
        if clips
        else {},
    )


def worst(issues: list[Issue]) -> Verdict:
    statuses = {i.status for i in issues}
    if CheckStatus.ERROR in statuses:
        return Verdict.FAILED
    if CheckStatus.FAIL in statuses:
        return Verdict.POOR
    if CheckStatus.WARN in statuses:
        return Verdict.DEGRADED
    return Verdict.GOOD


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
    advice = _t(
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
        text=_t(f"{what['sv']} {shown} {unit}", f"{what['en']} {shown} {unit}"),
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
                text=_t(
                    "ingen mediaförbindelse till kommunens server", "no media connection to the municipality's server"
                ),
                advice=_t(
                    "nätet släpper inte igenom bild och ljud — prova ett annat nät eller ring Servicedesk (H20)",
                    "the network blocks sound and image — try another network or call the Servicedesk (H20)",
                ),
            )
        ]
    limits = net_limits or {}
    out = judge_video(report.video or VideoReport(frames=0), frame_limits, prefix=f"{p}.video", received=True)
    out.extend(_judge_sound(report, p, expect_tone_dbfs))
    for issue in (
        _net_issue(f"{p}.loss", report.loss_percent, "loss_percent", "%", limits, _t("paketförlust", "packet loss")),
        _net_issue(f"{p}.jitter", report.jitter_ms, "jitter_ms", "ms", limits, _t("jitter", "jitter")),
        _net_issue(f"{p}.rtt", report.rtt_ms, "rtt_ms", "ms", limits, _t("svarstid", "round-trip time")),
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
    Direction.UP: _t("det rummet tar emot från dig", "what the room receives from you"),
    Direction.DOWN: _t("det du tar emot från rummet", "what you receive from the room"),
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
                text=_t("inget ljud kom fram", "no sound arrived"),
                advice=_t(
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
                text=_t(f"rummets testton {tone:.1f} dBFS", f"the room's test tone {tone:.1f} dBFS"),
                advice={}
                if ok
                else _t(
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
            text=_t(f"ljudnivå hos mottagaren {rms:.1f} dBFS", f"sound level at the receiver {rms:.1f} dBFS"),
            advice=_t(
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
