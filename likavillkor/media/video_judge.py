"""The judge of a video report (H1, H4): one cause per fault, ranked so the advice fixes the real
problem first (issue 14). Pure: a :class:`~likavillkor.media.findings.VideoReport` in, issues out,
each with its rule, the measured value and Swedish/English text and advice."""

from __future__ import annotations

from likavillkor.media.findings import Issue, Segment, VideoReport, tr
from likavillkor.media.limits import FrameLimits
from likavillkor.wire import CheckStatus


def judge_video(
    report: VideoReport, limits: FrameLimits | None = None, *, prefix: str = "camera", received: bool = False
) -> list[Issue]:
    """Issues of a video report. ``received`` judges the far end of a media path (Teams CQD < 7 fps)
    instead of a local capture (testrtc < 5 fps)."""
    lim = limits or FrameLimits()
    if report.frames == 0:
        return [_no_frames(prefix)]
    share = lim.bad_frame_ratio
    # one cause per fault, ranked so the advice fixes the real problem first (issue 14): black, then
    # too dark / over-exposed / blurred, then frozen (counted only on frames that could show movement)
    out = [_black(report, prefix, lim)]
    out.extend(_quality_issues(report, prefix, share))
    out.append(_frozen(report, prefix, lim))
    out.append(_fps(report, prefix, lim.poor_received_fps if received else lim.min_fps))
    for extra in (_resolution(report, prefix, received), _freezes(report, prefix), _face(report, prefix)):
        if extra is not None:
            out.append(extra)
    return out


def _no_frames(prefix: str) -> Issue:
    return Issue(
        id=f"{prefix}.frames",
        status=CheckStatus.FAIL,
        value=0,
        unit="frames",
        rule="H1",
        text=tr("ingen bild kom fram", "no picture arrived"),
        advice=tr("kontrollera att kameran är på och vald", "check the camera is on and selected"),
    )


def _black(report: VideoReport, prefix: str, lim: FrameLimits) -> Issue:
    return _ratio_issue(
        f"{prefix}.black",
        report.black_frames / report.frames,
        lim.bad_frame_ratio,
        _longest(report.black_runs),
        lim.visible_run_s,
        "H4",
        tr("svart bild", "black picture"),
        tr(
            "kameran visar svart bild — ta bort skyddet eller välj en annan kamera",
            "the camera shows a black picture — remove the cover or choose another camera",
        ),
    )


def _frozen(report: VideoReport, prefix: str, lim: FrameLimits) -> Issue:
    return _ratio_issue(
        f"{prefix}.frozen",
        report.frozen_frames / report.frames,
        lim.bad_frame_ratio,
        _longest(report.frozen_runs),
        lim.visible_run_s,
        "H1",
        tr("fryst bild", "frozen picture"),
        tr(
            "bilden står still — starta om kameran eller appen",
            "the picture does not move — restart the camera or the app",
        ),
    )


def _fps(report: VideoReport, prefix: str, min_fps: float) -> Issue:
    fps = report.fps or 0.0
    return Issue(
        id=f"{prefix}.fps",
        status=CheckStatus.FAIL if fps < min_fps else CheckStatus.PASS,
        value=round(fps, 1),
        unit="fps",
        rule="H1",
        text=tr(f"{fps:.1f} bilder per sekund", f"{fps:.1f} frames per second"),
        advice=tr(
            "bilden hackar — stäng andra program och kontrollera nätet",
            "the picture stutters — close other programs and check the network",
        )
        if fps < min_fps
        else {},
    )


def _resolution(report: VideoReport, prefix: str, received: bool) -> Issue | None:
    if report.resolution_ok is not False:
        return None
    got = f"{report.width}x{report.height}"
    want = f"{report.requested_width}x{report.requested_height}"
    return Issue(
        id=f"{prefix}.resolution",
        status=CheckStatus.WARN if received else CheckStatus.FAIL,
        value=got,
        rule="H1",
        text=tr(f"upplösning {got}, begärd {want}", f"resolution {got}, asked for {want}"),
        advice=tr(
            "kameran ger inte den upplösning som begärdes — välj en annan kamera",
            "the camera does not give the resolution asked for — choose another camera",
        ),
    )


def _freezes(report: VideoReport, prefix: str) -> Issue | None:
    if not report.freezes:
        return None
    return Issue(
        id=f"{prefix}.freezes",
        status=CheckStatus.WARN,
        value=report.freezes,
        unit="freezes",
        rule="H1",
        text=tr(f"bilden frös {report.freezes} gånger", f"the picture froze {report.freezes} times"),
        advice=tr("bilden fryser ibland — kontrollera nätet", "the picture freezes — check the network"),
    )


def _face(report: VideoReport, prefix: str) -> Issue | None:
    # face detection runs only on frames that are lit and sharp (frames.py): a dark or blurred
    # picture is reported as such, never also as "no face"
    if not (report.face_checks and report.face_seen == 0):
        return None
    return Issue(
        id=f"{prefix}.face",
        status=CheckStatus.WARN,
        value=0,
        unit="faces",
        rule="H4",
        text=tr("inget ansikte syns i bilden", "no face visible in the picture"),
        advice=tr("sätt dig så att ansiktet syns i bild", "sit so that your face is in the picture"),
    )


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
        text=tr(f"{what['sv']}: {pct} % av bilderna", f"{what['en']}: {pct} % of frames"),
        advice=advice if status is not CheckStatus.PASS else {},
    )


#: picture-quality causes in rank order: (id suffix, report count, Swedish/English name, advice)
_QUALITY = (
    (
        "dark",
        "dark_frames",
        tr("för mörk bild", "picture too dark"),
        tr(
            "bilden är för mörk — tänd en lampa framför dig",
            "the picture is too dark — turn on a light in front of you",
        ),
    ),
    (
        "bright",
        "bright_frames",
        tr("överexponerad bild", "picture over-exposed"),
        tr(
            "bilden är överexponerad — sitt inte med ett fönster bakom dig",
            "the picture is over-exposed — do not sit with a window behind you",
        ),
    ),
    (
        "blur",
        "blurred_frames",
        tr("suddig bild", "blurred picture"),
        tr(
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
                    text=tr(f"{what['sv']}: {pct} % av bilderna", f"{what['en']}: {pct} % of frames"),
                    advice=advice,
                )
            )
    return out
