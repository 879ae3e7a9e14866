"""Sound-device facts per OS from recorded outputs (issue 14; H19 headphones): the input's presence
and mute switch, the output's kind, and the choice of the shared-mode PortAudio input."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from agent.media.miccapture import pick_device
from agent.platform.audio import AudioFacts, audio_facts, parse_pactl_list
from tests.agent_platform.recorded import RecordedRunner, load_commands

DATA = Path(__file__).resolve().parent.parent / "data" / "audio"
PLATFORM = {"linux": "linux", "windows": "win32", "macos": "darwin"}
CASES = sorted(
    (os_dir.name, case.name)
    for os_dir in DATA.iterdir()
    if os_dir.is_dir()
    for case in os_dir.iterdir()
    if (case / "expected.toml").exists()
)


def test_there_are_cases_for_every_os() -> None:
    assert {os_name for os_name, _ in CASES} == set(PLATFORM)


@pytest.mark.parametrize(("os_name", "case"), CASES)
def test_recorded_audio_facts(os_name: str, case: str) -> None:
    case_dir = DATA / os_name / case
    expected = tomllib.loads((case_dir / "expected.toml").read_text(encoding="utf-8"))
    runner = RecordedRunner(load_commands(case_dir))
    facts = audio_facts(runner, source=expected.pop("source", None), platform=PLATFORM[os_name])
    want = {f: expected.get(f) for f in AudioFacts.__slots__}
    assert {f: getattr(facts, f) for f in AudioFacts.__slots__} == want
    assert runner.calls and all(0 < timeout <= 10 for _, timeout in runner.calls)  # every call has a deadline


def test_no_tools_at_all_is_all_unknown() -> None:
    for platform in PLATFORM.values():
        assert audio_facts(RecordedRunner({}), platform=platform) == AudioFacts()


def test_a_garbled_answer_is_unknown_not_a_crash() -> None:
    reg = r"reg query HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\MMDevices\Audio\Render /s"
    runner = RecordedRunner(
        {
            "system_profiler SPAudioDataType -json": "{not json",
            reg: "HKEY_LOCAL_MACHINE\\x\n    DeviceState    REG_DWORD    zz\n",
        }
    )
    assert audio_facts(runner, platform="darwin").headphones is None
    assert audio_facts(runner, platform="win32") == AudioFacts()


def test_pactl_ports_and_properties_are_read() -> None:
    text = load_commands(DATA / "linux" / "laptop_headphones")["env LC_ALL=C pactl list sinks"]
    (sink,) = parse_pactl_list(text)
    assert sink["ports"] == {"analog-output-speaker": "speaker", "analog-output-headphones": "headphones"}
    assert sink["active_port"] == "analog-output-headphones" and sink["props"]["device.api"] == "alsa"


@pytest.mark.parametrize("name", sorted(p.stem.removeprefix("portaudio_") for p in DATA.glob("portaudio_*.json")))
def test_shared_mode_input_is_chosen_from_the_recorded_portaudio_lists(name: str) -> None:
    data = json.loads((DATA / f"portaudio_{name}.json").read_text(encoding="utf-8"))
    for wanted, index in data["expected"].items():
        assert pick_device(data["devices"], data["hostapis"], data["platform"], wanted) == index, (name, wanted)


@pytest.mark.parametrize(("os_name", "case"), CASES)
def test_self_test_advises_headphones_when_it_sees_loudspeakers(os_name: str, case: str) -> None:
    from agent.checks.media import headphones_finding
    from likavillkor.wire import CheckStatus

    case_dir = DATA / os_name / case
    expected = tomllib.loads((case_dir / "expected.toml").read_text(encoding="utf-8"))
    facts = audio_facts(
        RecordedRunner(load_commands(case_dir)), source=expected.get("source"), platform=PLATFORM[os_name]
    )
    finding = headphones_finding(facts)
    if expected.get("headphones") is None:
        assert finding is None  # the OS does not tell: no guess
    elif expected["headphones"]:
        assert finding is not None and finding.status is CheckStatus.PASS and finding.rule == "H19"
    else:
        assert finding is not None and finding.status is CheckStatus.WARN
        assert "hörlurar" in finding.advice["sv"] and "rundgång" in finding.advice["sv"]
        assert "headphones" in finding.advice["en"]
