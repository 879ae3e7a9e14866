"""The self-test checks of path quality and bandwidth (H1, H2, H9): pure grading and real runs."""

from __future__ import annotations

import time
from types import SimpleNamespace

from agent.checks.base import CheckContext, Finding
from agent.checks.network_path import bandwidth_findings, check_bandwidth, check_path, default_limits, path_findings
from agent.probes.bandwidth import BandwidthResult, Outcome, SpeedtestConfig
from agent.probes.path import PathProbeConfig
from collector.peers.reflector import Reflector
from likavillkor.wire import CheckStatus, LinkType
from tests.net.asyncutil import sync


def by_id(findings: list[Finding]) -> dict[str, Finding]:
    return {f.id: f for f in findings}


def test_limits_come_from_the_policy_with_teams_targets() -> None:
    limits = default_limits()
    assert limits["rtt_ms"].warn == 100 and limits["loss_percent"].warn == 1 and limits["jitter_ms"].warn == 30


def test_good_path_passes() -> None:
    f = by_id(
        path_findings(
            {"rtt_ms": 20, "jitter_ms": 3, "loss_percent": 0, "mos": 4.4, "probe_reachable": True}, default_limits()
        )
    )
    assert {x.status for x in f.values()} == {CheckStatus.PASS}
    assert set(f) == {"network.path", "network.rtt", "network.jitter", "network.loss", "network.mos"}
    assert "20.0 ms" in f["network.rtt"].text["sv"]


def test_degraded_and_broken_path() -> None:
    f = by_id(
        path_findings(
            {"rtt_ms": 150, "jitter_ms": 70, "loss_percent": 12, "mos": 2.5, "probe_reachable": True}, default_limits()
        )
    )
    assert f["network.rtt"].status is CheckStatus.WARN and f["network.rtt"].rule == "H1"
    assert f["network.jitter"].status is CheckStatus.FAIL and f["network.jitter"].rule == "H2"
    assert f["network.loss"].status is CheckStatus.FAIL
    assert f["network.mos"].status is CheckStatus.FAIL
    assert f["network.loss"].advice["sv"] and f["network.loss"].advice["en"]
    assert "> 10" in f["network.loss"].why["en"]


def test_unreachable_path_fails_with_h2() -> None:
    f = path_findings(
        {"rtt_ms": None, "jitter_ms": None, "loss_percent": 100.0, "mos": 1.0, "probe_reachable": False},
        default_limits(),
    )
    assert len(f) == 1 and f[0].status is CheckStatus.FAIL and f[0].rule == "H2"
    assert "kollektorn" in f[0].text["sv"] and f[0].to_wire("en").summary


def result(
    down: float | None, up: float | None, outcome: Outcome = Outcome.OK, error: str | None = None
) -> BandwidthResult:
    return BandwidthResult(down, up, 10.0, 1000, "x", error, outcome)


def test_bandwidth_grading_against_microsoft_figures() -> None:
    f = by_id(bandwidth_findings(result(50, 10)))
    assert f["network.download"].status is CheckStatus.PASS and f["network.upload"].status is CheckStatus.PASS
    f = by_id(bandwidth_findings(result(3.0, 2.0)))  # below 4 down / 2.5 up recommended
    assert f["network.download"].status is CheckStatus.WARN and f["network.upload"].status is CheckStatus.WARN
    f = by_id(bandwidth_findings(result(0.1, 5.0)))  # below video 1:1 minimum 150 kbit/s
    assert f["network.download"].status is CheckStatus.FAIL and f["network.upload"].status is CheckStatus.PASS
    f = by_id(bandwidth_findings(result(None, None, Outcome.TIMEOUT, "x: no result within the deadline")))
    assert f["network.bandwidth"].status is CheckStatus.ERROR and "deadline" in f["network.bandwidth"].text["en"]
    f = by_id(bandwidth_findings(result(None, None, Outcome.REFUSED_MOBILE, "mobile")))
    assert f["network.bandwidth"].status is CheckStatus.SKIPPED and f["network.bandwidth"].rule == "H9"
    assert "Wi-Fi" in f["network.bandwidth"].advice["sv"]


@sync
async def test_check_path_against_a_real_reflector() -> None:
    reflector = Reflector()
    await reflector.start("127.0.0.1", 0)
    try:
        ctx = CheckContext(
            config=SimpleNamespace(path=PathProbeConfig(port=reflector.port or 0, timeout_ms=300)),
            deadline=time.monotonic() + 2.5,
            collector_url="http://127.0.0.1:9",
        )
        findings = by_id(await check_path(ctx))
    finally:
        await reflector.stop()
    assert findings["network.path"].status is CheckStatus.PASS
    assert findings["network.loss"].value == 0.0
    assert findings["network.rtt"].status is CheckStatus.PASS
    assert reflector.counters["reflected"] >= 20


@sync
async def test_check_path_without_collector_is_an_error_not_a_crash() -> None:
    ctx = CheckContext(config=SimpleNamespace(path=PathProbeConfig()), deadline=time.monotonic() + 5)
    f = await check_path(ctx)
    assert f[0].status is CheckStatus.ERROR


@sync
async def test_check_bandwidth_refuses_mobile_and_session_and_measures_otherwise(speedtest_server: str) -> None:
    cfg = SimpleNamespace(speedtest=SpeedtestConfig(max_bytes=6_000_000, download_s=1, upload_s=1))
    ctx = CheckContext(config=cfg, deadline=time.monotonic() + 20, collector_url=speedtest_server)
    f = await check_bandwidth(ctx, link=LinkType.WWAN)
    assert f[0].status is CheckStatus.SKIPPED and f[0].rule == "H9"
    ctx.in_session = True
    f = await check_bandwidth(ctx, link=LinkType.WIFI)
    assert f[0].status is CheckStatus.SKIPPED
    ctx.in_session = False
    g = by_id(await check_bandwidth(ctx, link=LinkType.WIFI))
    assert g["network.download"].status is CheckStatus.PASS and g["network.upload"].status is CheckStatus.PASS
    assert g["network.download"].unit == "Mbit/s"
