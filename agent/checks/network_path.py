"""Self-test checks of the network path (H1, H2, H8, H9): quality to the collector and bandwidth.

- :func:`check_path` sends STAMP probes to the collector's reflector for a few seconds and grades
  round-trip time, jitter, loss and the E-model MOS against the policy's limits (shipped defaults:
  Microsoft's Teams targets and Teams CQD "poor" thresholds, see ``likavillkor/data/policy.toml``).
  Unreachable reflector -> fail: without a path there is no meeting on equal terms (H1, H2).
- :func:`check_bandwidth` runs one bounded speed test (``agent.probes.bandwidth``) and grades it
  against Microsoft's per-user figures: meetings 4 Mbit/s down and 2.5 Mbit/s up recommended
  (warn below), video 1:1 at least 150 kbit/s (fail below). Never on mobile data (H9), never during
  a meeting.

The grading functions are pure (:func:`path_findings`, :func:`bandwidth_findings`); the two checks
only do the I/O around them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlparse

import msgspec

from agent.checks.base import CheckContext, Finding, Text, tr
from agent.probes.bandwidth import BandwidthResult, Outcome, SpeedtestConfig, run_speedtest
from agent.probes.path import PathProbeConfig, PathProber
from likavillkor.policy import Direction, Limit, load_policy
from likavillkor.wire import CheckStatus, LinkType

#: Microsoft's bandwidth per user for Teams (quality-thresholds.md).
DOWN_RECOMMENDED_MBPS: Final = 4.0  # meetings, recommended download
UP_RECOMMENDED_MBPS: Final = 2.5  # meetings, recommended upload
VIDEO_MIN_MBPS: Final = 0.15  # video 1:1 minimum, 150 kbit/s
BANDWIDTH_SOURCE: Final = (
    "Microsoft Teams bandwidth per user: meetings 2.5 Mbit/s up / 4 Mbit/s down "
    "recommended; video 1:1 minimum 150 kbit/s"
)
CHECK_PROBE_S: Final = 4.0
CHECK_RATE_HZ: Final = 20.0

_LEVEL_STATUS: Final = (CheckStatus.PASS, CheckStatus.WARN, CheckStatus.FAIL)

_METRICS: Final[dict[str, tuple[str, str, Text]]] = {
    # key: (finding id, unit, what it is)
    "rtt_ms": ("network.rtt", "ms", tr("Svarstid (tur och retur) till kollektorn", "Round-trip time to the collector")),
    "jitter_ms": ("network.jitter", "ms", tr("Jitter (ojämn fördröjning)", "Jitter (uneven delay)")),
    "loss_percent": ("network.loss", "%", tr("Paketförlust", "Packet loss")),
    "mos": ("network.mos", "MOS", tr("Beräknad ljudkvalitet (MOS, 1–4,5)", "Estimated voice quality (MOS, 1–4.5)")),
}


def default_limits() -> dict[str, Limit]:
    """The shipped policy's limits for Teams (Microsoft's targets)."""
    return dict(load_policy().resolve("teams", "").limits)


def _fmt(value: float) -> str:
    return f"{value:.1f}" if abs(value) < 100 else f"{value:.0f}"


def _bound_text(limit: Limit, level: int) -> str:
    bound = limit.fail if level == 2 else limit.warn
    sign = ">" if limit.direction is Direction.ABOVE else "<"
    return f"{sign} {_fmt(bound)}" if bound is not None else ""


def path_findings(fields: Mapping[str, Any], limits: Mapping[str, Limit]) -> list[Finding]:
    """Grade a path snapshot (``rtt_ms``, ``jitter_ms``, ``loss_percent``, ``mos``, ``probe_reachable``)."""
    reachable = fields.get("probe_reachable")
    if reachable is not True:
        return [
            Finding(
                id="network.path",
                status=CheckStatus.FAIL,
                value=False,
                rule="H2",
                text=tr(
                    "Inga svar från kollektorn: förbindelsen bär inte ljud och bild.",
                    "No answers from the collector: the connection does not carry sound and image.",
                ),
                why=tr(
                    "Utan förbindelse kan du inte delta på lika villkor; mötet ajourneras (H1, H2).",
                    "Without a connection you cannot take part on equal terms; the meeting is adjourned (H1, H2).",
                ),
                advice=tr(
                    "Kontrollera att du är ansluten till Wi-Fi och att internet fungerar. "
                    "Ring Servicedesk om det inte hjälper (H20).",
                    "Check that you are on Wi-Fi and that the internet works. Call the Servicedesk "
                    "if that does not help (H20).",
                ),
            )
        ]
    out = [
        Finding(
            id="network.path",
            status=CheckStatus.PASS,
            value=True,
            rule="H1",
            text=tr("Kollektorn svarar.", "The collector answers."),
        )
    ]
    for key, (fid, unit, what) in _METRICS.items():
        value = fields.get(key)
        limit = limits.get(key)
        if value is None or limit is None:
            continue
        out.append(_graded(fid, unit, what, float(value), limit))
    return out


def _graded(fid: str, unit: str, what: Text, value: float, limit: Limit) -> Finding:
    level = limit.level(value)
    status = _LEVEL_STATUS[level]
    shown = f"{_fmt(value)} {unit}" if unit != "MOS" else _fmt(value)
    text = tr(f"{what['sv']}: {shown}", f"{what['en']}: {shown}")
    if level == 0:
        return Finding(id=fid, status=status, value=round(value, 3), unit=unit, rule="H1", text=text)
    bound = _bound_text(limit, level)
    if level == 2:
        why = tr(
            f"Över gränsen för ett fungerande möte ({bound}); ljud och bild blir inte stabila (H1, H2).",
            f"Beyond the limit for a working meeting ({bound}); sound and image will not be stable (H1, H2).",
        )
    else:
        why = tr(
            f"Sämre än målet ({bound}); mötet kan fungera men med marginal (H1).",
            f"Worse than the target ({bound}); the meeting may work but without margin (H1).",
        )
    advice = tr(
        "Sitt nära Wi-Fi-routern, stäng andra program och strömmar som använder nätet, och prova igen.",
        "Sit close to the Wi-Fi router, close other programs and streams that use the network, and try again.",
    )
    return Finding(
        id=fid,
        status=status,
        value=round(value, 3),
        unit=unit,
        rule="H2" if level == 2 else "H1",
        text=text,
        why=why,
        advice=advice,
    )


def _reflector_host(cfg: PathProbeConfig, collector_url: str | None) -> str | None:
    if cfg.host:
        return cfg.host
    return urlparse(collector_url).hostname if collector_url else None


async def check_path(ctx: CheckContext, *, limits: Mapping[str, Limit] | None = None) -> list[Finding]:
    """A few seconds of STAMP probes to the collector's reflector, graded against the policy."""
    cfg: PathProbeConfig = getattr(ctx.config, "path", None) or PathProbeConfig()
    host = _reflector_host(cfg, ctx.collector_url)
    if host is None:
        return [
            Finding(
                id="network.path",
                status=CheckStatus.ERROR,
                rule="H1",
                text=tr(
                    "Ingen kollektor att mäta mot (adressen saknas i inställningarna).",
                    "No collector to measure against (its address is missing from the settings).",
                ),
            )
        ]
    timeout_s = cfg.timeout_ms / 1000
    probe_s = min(CHECK_PROBE_S, ctx.deadline - time.monotonic() - timeout_s - 0.2)
    if probe_s < 0.5:
        return [
            Finding(
                id="network.path",
                status=CheckStatus.ERROR,
                rule="H1",
                text=tr("För lite tid kvar för att mäta förbindelsen.", "Too little time left to measure the path."),
            )
        ]
    run_cfg = msgspec.structs.replace(cfg, rate_hz=max(cfg.rate_hz, CHECK_RATE_HZ), window_s=probe_s + timeout_s)
    ctx.progress("network.path")
    prober = PathProber(run_cfg, host=host)
    await prober.start()
    try:
        await asyncio.sleep(probe_s)
    finally:
        await prober.stop()
    await asyncio.sleep(timeout_s)  # let the last probes time out so they count as lost, not pending
    fields = prober.snapshot()
    return path_findings(fields, default_limits() if limits is None else limits)


def bandwidth_findings(result: BandwidthResult) -> list[Finding]:
    """Grade a speed test against Microsoft's per-user figures."""
    if result.outcome in (Outcome.REFUSED_MOBILE, Outcome.REFUSED_SESSION):
        mobile = result.outcome is Outcome.REFUSED_MOBILE
        text = (
            tr(
                "Hastighetstestet kördes inte: enheten använder mobildata.",
                "The speed test did not run: the device is on mobile data.",
            )
            if mobile
            else tr(
                "Hastighetstestet körs inte under ett pågående möte.",
                "The speed test does not run while a meeting is in progress.",
            )
        )
        why = (
            tr(
                "Surfplattans mobildata räcker inte för mötet (H9); testet skulle dessutom dra av din datamängd.",
                "The tablet's mobile data is not enough for the meeting (H9), and the test would eat your "
                "data allowance.",
            )
            if mobile
            else tr("Testet skulle ta bandbredd från mötet.", "The test would take bandwidth from the meeting.")
        )
        advice = tr("Anslut till Wi-Fi (H9).", "Connect to Wi-Fi (H9).") if mobile else {}
        return [
            Finding(id="network.bandwidth", status=CheckStatus.SKIPPED, rule="H9", text=text, why=why, advice=advice)
        ]
    if result.outcome is not Outcome.OK or result.down_mbps is None or result.up_mbps is None:
        detail = "; ".join(x for x in (result.error, result.note) if x)
        return [
            Finding(
                id="network.bandwidth",
                status=CheckStatus.ERROR,
                value=str(result.outcome),
                rule="H1",
                text=tr(
                    f"Hastighetstestet kunde inte genomföras ({detail}).",
                    f"The speed test could not be completed ({detail}).",
                ),
                advice=tr(
                    "Prova igen om en stund; ring Servicedesk om det upprepas (H20).",
                    "Try again in a while; call the Servicedesk if it happens again (H20).",
                ),
            )
        ]
    return [
        _bandwidth("network.download", result.down_mbps, DOWN_RECOMMENDED_MBPS, tr("Nedladdning", "Download")),
        _bandwidth("network.upload", result.up_mbps, UP_RECOMMENDED_MBPS, tr("Uppladdning", "Upload")),
    ]


def _bandwidth(fid: str, mbps: float, recommended: float, what: Text) -> Finding:
    text = tr(f"{what['sv']}: {_fmt(mbps)} Mbit/s", f"{what['en']}: {_fmt(mbps)} Mbit/s")
    if mbps < VIDEO_MIN_MBPS:
        return Finding(
            id=fid,
            status=CheckStatus.FAIL,
            value=round(mbps, 3),
            unit="Mbit/s",
            rule="H1",
            text=text,
            why=tr(
                f"Under {VIDEO_MIN_MBPS * 1000:.0f} kbit/s räcker inte ens för video mellan två "
                "personer: andra kan inte se dig (H1).",
                f"Below {VIDEO_MIN_MBPS * 1000:.0f} kbit/s is not even enough for video between "
                "two people: others cannot see you (H1).",
            ),
            advice=tr(
                "Byt till ett bättre Wi-Fi-nät eller sitt närmare routern (H9).",
                "Move to a better Wi-Fi network or sit closer to the router (H9).",
            ),
        )
    if mbps < recommended:
        return Finding(
            id=fid,
            status=CheckStatus.WARN,
            value=round(mbps, 3),
            unit="Mbit/s",
            rule="H1",
            text=text,
            why=tr(
                f"Microsoft rekommenderar {_fmt(recommended)} Mbit/s för möten; bilden kan bli sämre när många deltar.",
                f"Microsoft recommends {_fmt(recommended)} Mbit/s for meetings; video may degrade when many take part.",
            ),
            advice=tr(
                "Stäng andra program och strömmar som använder nätet, och sitt nära routern.",
                "Close other programs and streams that use the network, and sit near the router.",
            ),
        )
    return Finding(id=fid, status=CheckStatus.PASS, value=round(mbps, 3), unit="Mbit/s", rule="H1", text=text)


async def check_bandwidth(ctx: CheckContext, *, link: LinkType | None = None) -> list[Finding]:
    """One bounded speed test (never on mobile data, never during a meeting), graded."""
    cfg: SpeedtestConfig = getattr(ctx.config, "speedtest", None) or SpeedtestConfig()
    if link is None and not ctx.in_session:
        from agent import platform

        info = await asyncio.to_thread(platform.link_info)
        link = info.link
    ctx.progress("network.bandwidth")
    from agent.config import collector_credentials

    result = await run_speedtest(
        cfg,
        ctx.collector_url,
        link=link,
        in_session=ctx.in_session,
        deadline=ctx.deadline,
        credentials=collector_credentials(ctx.config),
    )
    findings = bandwidth_findings(result)
    if result.note and result.outcome is Outcome.OK:
        for f in findings:
            f.text = tr(
                f"{f.text['sv']} (speedtest.net gick inte att nå; mätt mot kollektorn i stället)",
                f"{f.text['en']} ({result.note})",
            )
    return findings
