"""The self-test (H8, H9, H20): texts sv/en, --json against its schema, exit codes, bad config."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import jsonschema
import msgspec
import pytest

from agent.checks.base import Finding
from agent.config import AgentConfig
from agent.identity import Identity
from agent.selftest import (
    CheckSpec,
    SelftestDocument,
    build_document,
    exit_code,
    json_schema,
    overall_status,
    render,
    run_checks,
    to_wire,
)
from likavillkor import wire
from likavillkor.config import loads
from likavillkor.wire import CheckStatus
from tests.agent.conftest import ROOT, run_agent, write_config

SCHEMA_FILE = ROOT / "docs" / "selftest-result.schema.json"
# Only the quick checks: the network/media checks need a collector (their own tests cover them).
QUICK = '[selftest]\nskip = ["path", "bandwidth", "camera", "microphone", "mediapath"]\n'


def test_schema_file_is_current() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == json_schema(), "run: python -m agent schema > " + str(SCHEMA_FILE)


@pytest.mark.parametrize(
    ("statuses", "overall", "code"),
    [
        ([CheckStatus.PASS, CheckStatus.SKIPPED], CheckStatus.PASS, 0),
        ([CheckStatus.PASS, CheckStatus.WARN], CheckStatus.WARN, 1),
        ([CheckStatus.PASS, CheckStatus.ERROR], CheckStatus.WARN, 1),
        ([CheckStatus.WARN, CheckStatus.FAIL, CheckStatus.ERROR], CheckStatus.FAIL, 2),
    ],
)
def test_overall_and_exit_code(statuses: list[CheckStatus], overall: CheckStatus, code: int) -> None:
    assert overall_status(statuses) is overall
    assert exit_code(overall) == code


def _doc(status: CheckStatus, lang: str = "sv") -> SelftestDocument:
    f = Finding(
        id="network.link",
        status=status,
        value="wwan",
        rule="H9",
        text={"sv": "Du är ansluten via mobildata.", "en": "You are on mobile data."},
        why={"sv": "Lika villkor.", "en": "Equal terms."},
        advice={"sv": "Anslut till wifi.", "en": "Use Wi-Fi."} if status is not CheckStatus.PASS else {},
    )
    return build_document(
        AgentConfig(),
        "dev-1",
        [("network", f)],
        lang=lang,
        meeting_id="ks-1",
        started_at=1_800_000_000.0,
        duration_s=1.5,
    )


def test_failure_tells_what_to_do_and_the_servicedesk_number() -> None:
    text = render(_doc(CheckStatus.FAIL))
    assert "FEL" in text and "Du är ansluten via mobildata. [wwan] (H9)" in text
    assert "Varför det spelar roll: Lika villkor." in text and "Gör så här: Anslut till wifi." in text
    assert "ring Servicedesk på 08-606 78 00" in text and "ordföranden" in text  # H20, H17
    english = render(_doc(CheckStatus.FAIL, "en"))
    assert "FAIL" in english and "call the Servicedesk on 08-606 78 00" in english
    assert "What to do: Use Wi-Fi." in english
    assert "Servicedesk" not in render(_doc(CheckStatus.PASS))


def test_to_wire_is_a_valid_selftest_message() -> None:
    msg = to_wire(_doc(CheckStatus.FAIL), Identity("dev-1"))
    back = wire.decode(wire.encode(msg))
    assert isinstance(back, wire.SelftestResult)
    assert back.overall is CheckStatus.FAIL
    assert back.checks[0].summary == "Du är ansluten via mobildata. — Anslut till wifi."
    assert back.meeting_id == "ks-1" and back.seq == 0


def test_missing_broken_and_slow_checks_become_errors_not_crashes() -> None:
    cfg = loads("[selftest]\ntimeout_s = 1.0\n", AgentConfig)
    specs = (
        CheckSpec("network", "x.missing", "agent.checks.no_such_module", "check", 5),
        CheckSpec("battery", "x.nofn", "agent.checks.device", "no_such_function", 5),
        CheckSpec("host", "x.slow", "tests.agent.slow_checks", "check_slow", 0.3),
        CheckSpec("path", "x.raises", "tests.agent.slow_checks", "check_raises", 5),
        CheckSpec("camera", "x.late", "tests.agent.slow_checks", "check_slow", 5),
    )
    lines: list[str] = []
    results = asyncio.run(run_checks(cfg, specs=specs, progress=lines.append))
    assert [(f.id, f.status) for _, f in results] == [(s.error_id, CheckStatus.ERROR) for s in specs]
    assert "check unavailable" in results[0][1].text["en"].lower()
    assert "did not finish in time" in results[2][1].text["en"]
    assert "RuntimeError" in str(results[3][1].value)
    assert len([line for line in lines if line.startswith("[")]) == 5


def test_cli_human_summary_in_swedish(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", 'device_id = "dev-1"\n' + QUICK)
    proc = run_agent("selftest", "--config", str(cfg))
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert "Självtest inför mötet" in proc.stdout and "Resultat:" in proc.stdout
    assert "[1/8] Kontrollerar nätverket" in proc.stderr  # progress while it runs
    assert "processor" in proc.stderr


def test_cli_json_validates_and_exit_code_matches(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", 'device_id = "dev-1"\n' + QUICK)
    proc = run_agent("selftest", "--json", "--lang", "en", "--meeting", "ks-1", "--config", str(cfg))
    doc = json.loads(proc.stdout)
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    typed = msgspec.convert(doc, SelftestDocument)
    assert typed.lang == "en" and typed.meeting_id == "ks-1" and typed.device_id == "dev-1"
    assert proc.returncode == typed.exit_code == exit_code(typed.overall)
    assert [c.id for c in typed.checks][:4] == ["network.link", "battery.level", "host.cpu", "host.memory"]
    assert "Checking the network" in proc.stderr


def test_cli_failure_exits_2(tmp_path: Path) -> None:
    # No machine has more than 100 % of its memory free: a real measurement, a real failure.
    cfg = write_config(tmp_path / "a.toml", QUICK + "mem_fail_available_percent = 100.0\n")
    proc = run_agent("selftest", "--json", "--config", str(cfg))
    doc = json.loads(proc.stdout)
    memory = next(c for c in doc["checks"] if c["id"] == "host.memory")
    assert memory["status"] == "fail" and memory["advice"]
    assert doc["overall"] == "fail" and proc.returncode == 2
    assert "08-606 78 00" in doc["summary"]


def test_cli_pass_exits_0(tmp_path: Path) -> None:
    # Only the host check, with limits this machine meets: a pass is exit 0.
    cfg = write_config(
        tmp_path / "a.toml",
        '[selftest]\nskip = ["network", "battery", "path", "bandwidth", '
        '"camera", "microphone", "mediapath"]\ncpu_warn_percent = 100.0\ncpu_fail_percent = 100.0\n'
        "mem_warn_available_percent = 0.0\nmem_fail_available_percent = 0.0\n",
    )
    proc = run_agent("selftest", "--config", str(cfg))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Allt ser bra ut" in proc.stdout


def test_cli_bad_config_key_exits_3_naming_key_and_line(tmp_path: Path) -> None:
    cfg = write_config(tmp_path / "a.toml", 'device_id = "dev-1"\n\n[selftest]\ntimeout = 10\n')
    proc = run_agent("selftest", "--config", str(cfg))
    assert proc.returncode == 3
    assert "selftest.timeout" in proc.stderr and "line 4" in proc.stderr
    assert proc.stdout == ""
    env_bad = run_agent("selftest", "--config", str(tmp_path / "missing.toml"))
    assert env_bad.returncode == 3 and "missing.toml" in env_bad.stderr


def test_cli_version_and_help() -> None:
    assert run_agent("--version").stdout.startswith("likavillkor-agent ")
    helptext = run_agent("--help").stdout
    assert all(cmd in helptext for cmd in ("selftest", "monitor", "run"))


def test_cli_refuses_what_cannot_run_with_exit_3(tmp_path: Path) -> None:
    no_broker = run_agent("monitor")
    assert no_broker.returncode == 3 and "mqtt.url" in no_broker.stderr
    bad_time = run_agent("selftest", "--end", "tomorrow-ish")
    assert bad_time.returncode == 3 and "--start/--end" in bad_time.stderr
    half_meeting = run_agent("run", "--meeting", "ks-1")
    assert half_meeting.returncode == 3 and "go together" in half_meeting.stderr
