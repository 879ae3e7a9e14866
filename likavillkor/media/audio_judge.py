"""The judge of an audio report (H1, H4): silent, dead or clipping, one cause per fault (issue 14).
Pure: an :class:`~likavillkor.media.findings.AudioReport` in, issues out."""

from __future__ import annotations

from likavillkor.media.findings import AudioReport, Issue, tr
from likavillkor.media.limits import AudioLimits
from likavillkor.wire import CheckStatus


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
                text=tr("inget ljud kom fram", "no sound arrived"),
                advice=tr("kontrollera att mikrofonen är på och vald", "check the microphone is on and selected"),
            )
        ]
    rms = round(report.rms_dbfs, 1)
    level = tr(f"nivå {rms} dBFS", f"level {rms} dBFS")
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
                advice=tr(
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
                text=tr(f"{level['sv']}, helt jämn", f"{level['en']}, constant"),
                advice=tr(
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
    text = tr(f"{clips} överstyrningar", f"{clips} clipping runs")
    if clips:
        text = tr(f"{text['sv']} ({share:.1f} % av ljudet)", f"{text['en']} ({share:.1f} % of the sound)")
    return Issue(
        id=f"{prefix}.clipping",
        status=status,
        value=clips,
        unit="runs",
        rule="H1",
        text=text,
        advice=tr(
            "ljudet överstyr — sänk mikrofonens inspelningsnivå (ingångsnivå) i ljudinställningarna "
            "eller sitt längre bort från mikrofonen",
            "the sound clips — lower the microphone's input level in the sound settings or sit "
            "further away from the microphone",
        )
        if clips
        else {},
    )
