"""Self-test checks for camera, microphone and the media path (H1, H4, H13), and the camera state
for monitor mode.

Configuration is read from ``ctx.config.camera`` / ``.microphone`` / ``.mediapath`` when the agent's
config has them, else the defaults. Heavy modules (OpenCV, PyAV, aiortc) are imported inside the
checks. No image or sound leaves the device here, except in the media path check to the
municipality's own collector, which keeps none of it (docs/media.md).
"""

from __future__ import annotations

import time
from typing import Any

from agent.checks.base import CheckContext, Finding, Text, tr
from likavillkor.media.findings import Issue
from likavillkor.wire import CheckStatus


def _section(ctx: CheckContext, name: str, default: Any) -> Any:
    found = getattr(ctx.config, name, None)
    return found if found is not None else default


def to_finding(issue: Issue) -> Finding:
    return Finding(
        id=issue.id,
        status=issue.status,
        value=issue.value,
        unit=issue.unit,
        rule=issue.rule,
        text=dict(issue.text),
        advice=dict(issue.advice),
    )


_CAMERA_DEVICE: dict[str, tuple[CheckStatus, Text, Text]] = {
    "ok": (CheckStatus.PASS, tr("kameran fungerar", "the camera works"), {}),
    "in_use": (
        CheckStatus.PASS,
        tr("kameran används av mötesappen — bilden är på", "the meeting app is using the camera — video is on"),
        {},
    ),
    "absent": (
        CheckStatus.FAIL,
        tr("ingen kamera hittades", "no camera found"),
        tr(
            "anslut kameran eller använd kommunens surfplatta (H10)",
            "connect the camera or use the municipality's tablet (H10)",
        ),
    ),
    "no_frames": (
        CheckStatus.FAIL,
        tr("kameran startar men ger ingen bild", "the camera starts but gives no picture"),
        tr(
            "stäng andra program som kan använda kameran och försök igen",
            "close other programs that may use the camera and try again",
        ),
    ),
    "lost": (
        CheckStatus.FAIL,
        tr("kameran försvann mitt i testet", "the camera disappeared during the test"),
        tr("kontrollera kameransladden och försök igen", "check the camera cable and try again"),
    ),
    "timeout": (
        CheckStatus.ERROR,
        tr("kameran svarade inte i tid", "the camera did not answer in time"),
        tr("starta om enheten och försök igen", "restart the device and try again"),
    ),
    "error": (
        CheckStatus.ERROR,
        tr("kameran kunde inte öppnas", "the camera could not be opened"),
        tr("välj en annan kamera eller ring Servicedesk (H20)", "choose another camera or call the Servicedesk"),
    ),
}

_MIC_DEVICE: dict[str, tuple[CheckStatus, Text, Text]] = {
    "ok": (CheckStatus.PASS, tr("mikrofonen fungerar", "the microphone works"), {}),
    "in_use": (CheckStatus.PASS, tr("mikrofonen används av mötesappen", "the meeting app is using the microphone"), {}),
    "absent": (
        CheckStatus.FAIL,
        tr("ingen mikrofon hittades", "no microphone found"),
        tr("anslut ett headset — hörlurar rekommenderas (H19)", "connect a headset — headphones are recommended (H19)"),
    ),
    "no_samples": (
        CheckStatus.FAIL,
        tr("mikrofonen ger inget ljud", "the microphone gives no sound"),
        tr("välj en annan mikrofon", "choose another microphone"),
    ),
    "lost": (
        CheckStatus.FAIL,
        tr("mikrofonen försvann mitt i testet", "the microphone disappeared during the test"),
        tr("kontrollera sladden eller blåtandsanslutningen", "check the cable or the Bluetooth connection"),
    ),
    "timeout": (
        CheckStatus.ERROR,
        tr("mikrofonen svarade inte i tid", "the microphone did not answer in time"),
        tr("starta om enheten och försök igen", "restart the device and try again"),
    ),
    "error": (
        CheckStatus.ERROR,
        tr("mikrofonen kunde inte öppnas", "the microphone could not be opened"),
        tr("välj en annan mikrofon eller ring Servicedesk (H20)", "choose another microphone or call the Servicedesk"),
    ),
}


def device_finding(
    fid: str, state: str, table: dict[str, tuple[CheckStatus, Text, Text]], rule: str, detail: str = ""
) -> Finding:
    status, text, advice = table.get(state, table["error"])
    return Finding(
        id=fid,
        status=status,
        value=state,
        rule=rule,
        text=text,
        advice=advice,
        why=tr(
            "de andra måste kunna se och höra dig (lika villkor)",
            "the others must be able to see and hear you (equal terms)",
        )
        if detail == ""
        else tr(
            f"de andra måste kunna se och höra dig ({detail})",
            f"the others must be able to see and hear you ({detail})",
        ),
    )


def camera_state() -> str:
    """For monitor mode: ``in_use`` (video on), ``ok`` (present, idle), ``absent`` or ``unknown``.
    Never opens the camera."""
    from agent.media.camera import camera_state as state

    return state()


async def check_camera(ctx: CheckContext) -> list[Finding]:
    """Camera self-test (H1, H4, H13): a few seconds of frames checked for black, frozen, frame rate,
    resolution, blur, exposure and a face. During a session the camera is not grabbed (H8)."""
    from agent.media.camera import CameraConfig, CameraState, capture
    from likavillkor.media.video_judge import judge_video

    config = _section(ctx, "camera", CameraConfig())
    if ctx.in_session:
        return [device_finding("camera.device", camera_state(), _CAMERA_DEVICE, "H1")]
    ctx.progress("kameran testas" if ctx.lang == "sv" else "testing the camera")
    deadline = min(ctx.deadline, time.monotonic() + config.seconds + 10.0)
    result = await capture(config, deadline)
    findings = [device_finding("camera.device", result.state.value, _CAMERA_DEVICE, "H1")]
    if result.state in (CameraState.OK, CameraState.LOST) and result.report is not None:
        findings.extend(to_finding(i) for i in judge_video(result.report, config.limits))
    return findings


async def check_microphone(ctx: CheckContext) -> list[Finding]:
    """Microphone self-test (H1, H4, H13): level, silence, a dead (constant) level and clipping.
    The member is asked to say a few words while it runs."""
    from agent.media.microphone import MicrophoneConfig, MicState, capture
    from likavillkor.media.audio_judge import judge_audio

    config = _section(ctx, "microphone", MicrophoneConfig())
    ctx.progress(
        "säg några ord — mikrofonen testas" if ctx.lang == "sv" else "say a few words — testing the microphone"
    )
    deadline = min(ctx.deadline, time.monotonic() + config.seconds + config.open_timeout_s + 5.0)
    result = await capture(config, deadline)
    findings = [device_finding("microphone.device", result.state.value, _MIC_DEVICE, "H1")]
    if result.state in (MicState.OK, MicState.LOST) and result.report is not None:
        findings.extend(to_finding(i) for i in judge_audio(result.report, config.limits))
    headphones = headphones_finding(await _audio_facts(ctx))
    if headphones is not None:
        findings.append(headphones)
    return findings


async def _audio_facts(ctx: CheckContext) -> Any:
    """What the OS says about the output (H19), within the check's deadline; None if it cannot say."""
    import asyncio

    from agent.platform.audio import audio_facts

    watch = getattr(ctx.config, "micwatch", None)
    source = getattr(watch, "source", "") or None
    try:
        async with asyncio.timeout(max(0.1, min(10.0, ctx.deadline - time.monotonic()))):
            return await asyncio.to_thread(audio_facts, source=source)
    except TimeoutError:
        return None


def headphones_finding(facts: Any) -> Finding | None:
    """H19: headphones are recommended against feedback (*rundgång*). Passes on headphones or a
    headset, warns on loudspeakers, and says nothing where the OS does not tell."""
    headphones = getattr(facts, "headphones", None)
    if headphones is None:
        return None
    kind = str(getattr(facts, "output_kind", "") or "")
    if headphones:
        return Finding(
            id="audio.headphones",
            status=CheckStatus.PASS,
            value=kind or True,
            rule="H19",
            text=tr("ljudet går till hörlurar", "the sound goes to headphones"),
        )
    return Finding(
        id="audio.headphones",
        status=CheckStatus.WARN,
        value=kind or False,
        rule="H19",
        text=tr("ljudet går till högtalare", "the sound goes to loudspeakers"),
        advice=tr(
            "använd hörlurar eller headset — högtalare kan ge rundgång och sämre ljud (H19)",
            "use headphones or a headset — loudspeakers can cause feedback and worse sound (H19)",
        ),
    )


def _media_path_skipped(ctx: CheckContext) -> Finding | None:
    """Why the media path is not tested now (no server, or a meeting in progress), or None."""
    if not ctx.collector_url:
        reason = tr("ingen server att testa mot", "no server to test against")
    elif ctx.in_session:
        reason = tr("körs inte under mötet", "not run during the meeting")
    else:
        return None
    return Finding(id="mediapath.connect", status=CheckStatus.SKIPPED, rule="H1", text=reason)


async def check_media_path(ctx: CheckContext) -> list[Finding]:
    """A real WebRTC call to the municipality's collector (H1, H13): what the room receives from the
    member (fps, resolution, freezes, black frames, sound level, loss, jitter) and what the member
    receives from the room (test pattern and tone), plus the round-trip time."""
    from agent.config import collector_credentials
    from agent.media.mediapath import MediaPathConfig, run

    skipped = _media_path_skipped(ctx)
    if skipped is not None:
        return [skipped]
    config = _section(ctx, "mediapath", None) or _section(ctx, "media_path", MediaPathConfig())
    resolve = getattr(ctx.config, "resolved_device_id", None)
    device_id = str(resolve() if callable(resolve) else getattr(ctx.config, "device_id", "") or "unknown-device")
    ctx.progress(
        "bild och ljud testas mot kommunens server"
        if ctx.lang == "sv"
        else "testing sound and image to the municipality's server"
    )
    outcome = await run(
        (ctx.collector_url or "").rstrip("/"),  # set: _media_path_skipped returned None
        device_id,
        config,
        meeting_id=ctx.meeting_id,
        deadline=ctx.deadline,
        credentials=collector_credentials(ctx.config),
    )
    findings = [to_finding(i) for i in outcome.findings]
    if outcome.up is None or not outcome.down.connected:
        findings.insert(
            0,
            Finding(
                id="mediapath.connect",
                status=CheckStatus.FAIL,
                value=False,
                rule="H1",
                text=tr(
                    "bild och ljud kom inte fram till kommunens server",
                    "sound and image did not reach the municipality's server",
                ),
                advice=tr(
                    "prova ett annat nät eller ring Servicedesk (H20)",
                    "try another network or call the Servicedesk (H20)",
                ),
            ),
        )
    return findings
