"""What the OS says about the member's sound devices, for the in-meeting microphone watch (issue 14)
and headphones (H19). Numbers and names only: nothing here opens a device or reads a sample.

* Linux (PulseAudio, or PipeWire through ``pipewire-pulse``): ``pactl`` (``LC_ALL=C``) — the default
  source and sink, a source's presence and mute state, the active port's type (``Headphones``,
  ``Headset``, ``Speaker``, ...) and ``device.form_factor``.
* Windows: the endpoint store in the registry (``reg query ...\\MMDevices\\Audio\\Render /s``): the
  form factor (``PKEY_AudioEndpoint_FormFactor``) of each active output endpoint. The microphone's
  mute state needs ``IAudioEndpointVolume`` (COM), which the agent does not load: ``None``.
* macOS: ``system_profiler SPAudioDataType -json`` (the default output device and its output source:
  headphones or internal speakers) and ``osascript`` for the input volume (0 = muted).

Every command runs through :mod:`agent.platform._run` with a deadline; a missing tool or an answer
that cannot be parsed gives ``None`` fields (counted), never an exception. Tests feed recorded
outputs (tests/data/audio/<os>/<case>/).
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from agent.platform._run import Runner, note_problem, run_command

TIMEOUT_S = 3.0
#: system_profiler is slow (1-2 s on a laptop)
PROFILER_TIMEOUT_S = 8.0


@dataclass(frozen=True, slots=True)
class AudioFacts:
    """``None`` wherever the OS does not say."""

    input_name: str | None = None  # the input the watch reads (PulseAudio source name, ...)
    input_present: bool | None = None  # False: the OS lists no such input (the device disappeared)
    input_muted: bool | None = None  # the OS's mute switch of that input
    output_kind: str | None = None  # "headphones", "headset", "speaker", "hdmi", "line", ...
    headphones: bool | None = None  # H19: True for headphones or a headset


#: output kinds that mean the member wears headphones or a headset (H19)
HEADPHONE_KINDS = frozenset({"headphones", "headset", "handsfree", "earpiece"})
#: output kinds that are loudspeakers (the room's sound may feed back into the microphone)
SPEAKER_KINDS = frozenset({"speaker", "hdmi", "line", "spdif", "car", "hifi", "tv", "internal"})


def headphones_of(kind: str | None) -> bool | None:
    if kind is None:
        return None
    if kind in HEADPHONE_KINDS:
        return True
    if kind in SPEAKER_KINDS:
        return False
    return None


# ---- Linux: pactl -------------------------------------------------------------------------------

_PACTL = ("env", "LC_ALL=C", "pactl")


def parse_pactl_list(text: str) -> list[dict[str, Any]]:
    """``pactl list sources|sinks`` as blocks: ``name``, ``mute``, ``active_port``, ``ports``
    (name -> type, lower case), ``props`` (the Properties section)."""
    blocks: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    section = ""
    for raw in text.splitlines():
        if re.match(r"^(Source|Sink) #\d+", raw):
            cur = {"name": None, "mute": None, "active_port": None, "ports": {}, "props": {}}
            blocks.append(cur)
            section = ""
            continue
        if cur is None or not raw.strip():
            continue
        depth = len(raw) - len(raw.lstrip("\t"))
        line = raw.strip()
        if depth == 1:
            key, _, value = line.partition(":")
            section = key
            value = value.strip()
            if key == "Name":
                cur["name"] = value
            elif key == "Mute":
                cur["mute"] = value == "yes"
            elif key == "Active Port":
                cur["active_port"] = value
        elif depth >= 2 and section == "Properties":
            m = re.match(r'^([\w.]+) = "(.*)"$', line)
            if m:
                cur["props"][m.group(1)] = m.group(2)
        elif depth == 2 and section == "Ports":
            m = re.match(r"^([^:]+): .*?\(type: ([^,)]+)", line)
            if m:
                cur["ports"][m.group(1)] = m.group(2).strip().lower()
    return blocks


def _pactl_kind(block: dict[str, Any]) -> str | None:
    port = block.get("active_port")
    kind = block["ports"].get(port) if port else None
    if kind and kind != "unknown":
        return str(kind)
    form = block["props"].get("device.form_factor")
    if form:
        return {"headphone": "headphones", "speaker": "speaker", "internal": "internal"}.get(form, form)
    if port:  # PulseAudio < 16 has no port types: the ALSA port names say it
        for word in ("headphones", "headset", "speaker", "hdmi", "lineout"):
            if word in port:
                return "line" if word == "lineout" else word
    return None


def linux_facts(run: Runner = run_command, source: str | None = None) -> AudioFacts:
    name = source
    if not name:
        found = run([*_PACTL, "get-default-source"], TIMEOUT_S)
        name = found.strip() if found and found.strip() else None
    sources = run([*_PACTL, "list", "sources"], TIMEOUT_S)
    present = muted = None
    if sources is not None and name:
        block = next((b for b in parse_pactl_list(sources) if b["name"] == name), None)
        present = block is not None
        muted = block["mute"] if block is not None else None
    kind = None
    sink = run([*_PACTL, "get-default-sink"], TIMEOUT_S)
    sinks = run([*_PACTL, "list", "sinks"], TIMEOUT_S)
    if sinks is not None and sink and sink.strip():
        block = next((b for b in parse_pactl_list(sinks) if b["name"] == sink.strip()), None)
        kind = _pactl_kind(block) if block is not None else None
    return AudioFacts(
        input_name=name, input_present=present, input_muted=muted, output_kind=kind, headphones=headphones_of(kind)
    )


# ---- Windows: the endpoint store --------------------------------------------------------------

_RENDER = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\MMDevices\Audio\Render"
#: PKEY_AudioEndpoint_FormFactor {1da5d803-d492-4edd-8c23-e0c0ffee7f0e},0 (EndpointFormFactor)
_FORM_FACTOR = "{1da5d803-d492-4edd-8c23-e0c0ffee7f0e},0"
_FORM_FACTORS = {
    0: "remote",
    1: "speaker",
    2: "line",
    3: "headphones",
    4: "microphone",
    5: "headset",
    6: "handset",
    7: "digital",
    8: "spdif",
    9: "hdmi",
    10: "unknown",
}


def parse_windows_render(text: str) -> list[tuple[bool, str | None]]:
    """``reg query <Render> /s``: (active, form factor) per output endpoint. ``DeviceState`` 1 is
    DEVICE_STATE_ACTIVE; the form factor sits in the endpoint's ``Properties`` subkey."""
    endpoints: dict[str, dict[str, Any]] = {}
    key = ""
    for raw in text.splitlines():
        line = raw.strip()
        if line.upper().startswith("HKEY_"):
            key = line
            continue
        m = re.match(r"^(\S.*?)\s+REG_\w+\s+(.*)$", line)
        if not m or not key:
            continue
        name, value = m.group(1), m.group(2).strip()
        guid = re.search(r"\\Render\\([^\\]+)", key, re.IGNORECASE)
        if not guid:
            continue
        ep = endpoints.setdefault(guid.group(1).lower(), {"state": None, "form": None})
        if name == "DeviceState" and not key.lower().endswith("properties"):
            ep["state"] = int(value, 16) if value.lower().startswith("0x") else int(value)
        elif name.lower() == _FORM_FACTOR:
            number = int(value, 16) if value.lower().startswith("0x") else int(value)
            ep["form"] = _FORM_FACTORS.get(number, "unknown")
    return [(ep["state"] == 1, ep["form"]) for ep in endpoints.values()]


def windows_facts(run: Runner = run_command) -> AudioFacts:
    text = run(["reg", "query", _RENDER, "/s"], TIMEOUT_S)
    if text is None:
        return AudioFacts()
    kinds = {form for active, form in parse_windows_render(text) if active and form not in (None, "unknown")}
    # the registry does not say which active endpoint is the default: answer only when they agree
    verdicts = {headphones_of(k) for k in kinds}
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    headphones = verdicts.pop() if len(verdicts) == 1 else None
    return AudioFacts(output_kind=kind, headphones=headphones)


# ---- macOS: system_profiler and osascript ------------------------------------------------------


def parse_macos_profiler(text: str) -> str | None:
    """The default output device's kind from ``system_profiler SPAudioDataType -json``."""
    try:
        data = json.loads(text)
        items = [d for top in data.get("SPAudioDataType", []) for d in top.get("_items", [])]
    except (ValueError, AttributeError, TypeError) as exc:
        note_problem("parse.system_profiler_audio", str(exc))
        return None
    out = next((d for d in items if d.get("coreaudio_default_audio_output_device") == "spaudio_yes"), None)
    if out is None:
        return None
    source = str(out.get("coreaudio_output_source", "")).lower()
    if "headphone" in source:
        return "headphones"
    if "speaker" in source:
        return "speaker"
    transport = str(out.get("coreaudio_device_transport", "")).lower()
    if "hdmi" in transport or "displayport" in transport:
        return "hdmi"
    name = str(out.get("_name", "")).lower()
    if any(word in name for word in ("airpods", "headphone", "headset", "buds")):
        return "headphones"
    return None


def macos_facts(run: Runner = run_command) -> AudioFacts:
    text = run(["system_profiler", "SPAudioDataType", "-json"], PROFILER_TIMEOUT_S)
    kind = parse_macos_profiler(text) if text is not None else None
    volume = run(["osascript", "-e", "input volume of (get volume settings)"], TIMEOUT_S)
    muted = None
    if volume is not None and volume.strip().isdigit():
        muted = int(volume.strip()) == 0
    return AudioFacts(input_muted=muted, output_kind=kind, headphones=headphones_of(kind))


def audio_facts(run: Runner = run_command, source: str | None = None, platform: str = sys.platform) -> AudioFacts:
    """The facts of this OS; never raises."""
    try:
        if platform.startswith("linux"):
            return linux_facts(run, source)
        if platform == "win32":
            return windows_facts(run)
        if platform == "darwin":
            return macos_facts(run)
    except Exception as exc:  # an answer in a shape nobody foresaw: counted, never a crash
        note_problem("audio.facts", str(exc))
    return AudioFacts()
