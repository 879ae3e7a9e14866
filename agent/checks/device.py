"""Self-test checks of the device itself (H9): network in use, battery, CPU and memory headroom.

The decisions are pure functions (``link_finding``, ``battery_finding``, ``cpu_finding``,
``memory_finding``) so they are tested with plain values; the ``check_*`` coroutines only read the
platform facade and psutil and call them.
"""

from __future__ import annotations

import asyncio
import importlib
import time
from typing import Any

from agent.checks.base import CheckContext, Finding, Text, tr
from likavillkor.wire import CheckStatus, LinkType

WHY_LINK = tr(
    "Ljud och bild måste gå stabilt i realtid för att du ska delta på lika villkor (H1). "
    "Handboken kräver wifi: surfplattans mobildata räcker inte (H9).",
    "Sound and image must flow stably in real time for you to take part on equal terms (H1). "
    "The handbook requires Wi-Fi: the tablet's mobile data is not sufficient (H9).",
)

HOTSPOT_EVIDENCE: dict[str, Text] = {
    "nm_metered": tr(
        "nätverket är markerat som begränsat (mätt) av datorn", "the computer marks the network as metered"
    ),
    "windows_cost": tr("Windows anger att nätverket har en datakostnad", "Windows says the network has a data cost"),
    "ios_gateway": tr(
        "adressen är den som en iPhone delar ut när den delar internet",
        "the address is the one an iPhone hands out when it shares its connection",
    ),
    "android_gateway": tr(
        "adressen är den som en Android-telefon delar ut när den delar internet",
        "the address is the one an Android phone hands out when it shares its connection",
    ),
    "wwan": tr("anslutningen går via mobilnätet", "the connection goes over the mobile network"),
    "tethering": tr(
        "enheten är ansluten till en telefon via USB eller Bluetooth",
        "the device is connected to a phone over USB or Bluetooth",
    ),
}

ADVICE_WIFI = tr(
    "Anslut till ett vanligt wifi-nätverk (hemma eller på kontoret) och gör testet igen.",
    "Connect to an ordinary Wi-Fi network (at home or at the office) and run the test again.",
)

#: Below this the Wi-Fi signal is weak enough to warn (about -70 dBm: Microsoft's Teams guidance
#: and most vendors put "good" above -67 to -70 dBm).
WEAK_WIFI_DBM = -70.0
WEAK_WIFI_PERCENT = 60.0  # dbm_to_percent(-70)


def link_finding(
    link: LinkType,
    *,
    hotspot_reason: str | None = None,
    signal_dbm: float | None = None,
    signal_percent: float | None = None,
    iface: str | None = None,
) -> Finding:
    """H9: Wi-Fi or wired passes; mobile data and a phone's hotspot fail."""
    f = Finding(id="network.link", status=CheckStatus.PASS, value=str(link), rule="H9", why=WHY_LINK)
    if link is LinkType.WWAN:
        f.status = CheckStatus.FAIL
        f.text = tr(
            "Du är ansluten via mobildata. Surfplattans mobildata räcker inte.",
            "You are connected over mobile data. The tablet's mobile data is not sufficient.",
        )
        f.advice = ADVICE_WIFI
    elif link is LinkType.HOTSPOT:
        evidence = HOTSPOT_EVIDENCE.get(hotspot_reason or "", tr("", ""))
        sv_why = f" ({evidence['sv']})" if evidence["sv"] else ""
        en_why = f" ({evidence['en']})" if evidence["en"] else ""
        f.status = CheckStatus.FAIL
        f.text = tr(
            "Du verkar vara ansluten till en mobiltelefon som delar sin internetanslutning, en så kallad "
            f"hotspot{sv_why}. Det är också mobildata, och surfplattans mobildata räcker inte.",
            "You seem to be connected to a mobile phone that shares its internet connection, a so-called "
            f"hotspot{en_why}. That is mobile data too, and the tablet's mobile data is not sufficient.",
        )
        f.advice = ADVICE_WIFI
    elif link is LinkType.NONE:
        f.status = CheckStatus.FAIL
        f.text = tr("Enheten har ingen internetanslutning.", "The device has no internet connection.")
        f.advice = ADVICE_WIFI
    elif link is LinkType.UNKNOWN:
        f.status = CheckStatus.WARN
        f.text = tr(
            "Det gick inte att avgöra vilken sorts nätverk du använder.",
            "Could not tell what kind of network you are using.",
        )
        f.advice = tr(
            "Kontrollera att du är ansluten till wifi och inte till mobildata.",
            "Check that you are on Wi-Fi and not on mobile data.",
        )
    elif link is LinkType.WIFI:
        _wifi_finding(f, signal_dbm, signal_percent)
    else:
        f.text = tr("Du är ansluten med nätverkskabel.", "You are connected with a network cable.")
    return f


def _wifi_finding(f: Finding, signal_dbm: float | None, signal_percent: float | None) -> None:
    """H9: Wi-Fi passes; a weak signal (by dBm, else by percent) is a warning."""
    weak = (signal_dbm is not None and signal_dbm < WEAK_WIFI_DBM) or (
        signal_dbm is None and signal_percent is not None and signal_percent < WEAK_WIFI_PERCENT
    )
    signal = (
        f"{signal_dbm:.0f} dBm"
        if signal_dbm is not None
        else f"{signal_percent:.0f} %"
        if signal_percent is not None
        else ""
    )
    f.text = tr(
        f"Du är ansluten via wifi{' (signal ' + signal + ')' if signal else ''}.",
        f"You are connected over Wi-Fi{' (signal ' + signal + ')' if signal else ''}.",
    )
    if weak:
        f.status = CheckStatus.WARN
        f.text = tr(
            f"Du är ansluten via wifi, men signalen är svag ({signal}).",
            f"You are on Wi-Fi, but the signal is weak ({signal}).",
        )
        f.advice = tr(
            "Sätt dig närmare wifi-routern, eller anslut med sladd om det går.",
            "Sit closer to the Wi-Fi router, or use a cable if you can.",
        )


WHY_BATTERY = tr(
    "Om batteriet tar slut under mötet försvinner du ur mötet och ersättare kan behöva kallas in (H9, H16).",
    "If the battery runs out during the meeting you drop out and a substitute may be called in (H9, H16).",
)
ADVICE_CHARGER = tr(
    "Anslut laddaren nu och låt den sitta i under mötet.", "Plug in the charger now and keep it in during the meeting."
)


def battery_finding(
    percent: float | None,
    charging: bool | None,
    minutes_left: float | None,
    lasts_meeting: bool | None,
    minutes_to_end: float | None,
    *,
    warn_percent: float = 30.0,
) -> Finding:
    """H9: the battery must last the meeting, otherwise the device is plugged in.

    ``minutes_left``/``lasts_meeting`` come from ``agent.probes.battery_forecast.forecast``
    (which asks for a margin beyond the end); ``minutes_to_end`` is None without a meeting."""
    f = Finding(id="battery.level", status=CheckStatus.PASS, rule="H9", why=WHY_BATTERY)
    if percent is None:
        f.status = CheckStatus.SKIPPED
        f.text = tr(
            "Enheten har inget batteri (den går på ström från vägguttaget).",
            "The device has no battery (it runs on mains power).",
        )
        return f
    f.value, f.unit = round(percent, 1), "%"
    if charging:
        f.text = tr(
            f"Batteriet är på {percent:.0f} % och laddaren är ansluten.",
            f"The battery is at {percent:.0f} % and the charger is plugged in.",
        )
        return f
    if lasts_meeting is False:
        left = f"{minutes_left:.0f}" if minutes_left is not None else "?"
        end = f"{minutes_to_end:.0f}" if minutes_to_end is not None else "?"
        f.status = CheckStatus.FAIL
        f.text = tr(
            f"Batteriet ({percent:.0f} %) räcker ungefär {left} minuter, men mötet slutar om {end} minuter.",
            f"The battery ({percent:.0f} %) lasts about {left} minutes, but the meeting ends in {end} minutes.",
        )
        f.advice = ADVICE_CHARGER
    elif lasts_meeting is True:
        f.text = tr(
            f"Batteriet ({percent:.0f} %) räcker mötet ut.", f"The battery ({percent:.0f} %) lasts the meeting."
        )
    elif percent < warn_percent:
        f.status = CheckStatus.WARN
        f.text = tr(
            f"Batteriet är på {percent:.0f} % och laddaren är inte ansluten.",
            f"The battery is at {percent:.0f} % and the charger is not plugged in.",
        )
        f.advice = ADVICE_CHARGER
    else:
        f.text = tr(f"Batteriet är på {percent:.0f} %.", f"The battery is at {percent:.0f} %.")
    return f


WHY_HOST = tr(
    "Om enheten är överbelastad hackar ljud och bild för de andra i mötet (H1).",
    "When the device is overloaded, sound and image stutter for the others in the meeting (H1).",
)
ADVICE_CLOSE = tr(
    "Stäng andra program och flikar du inte behöver under mötet.",
    "Close other programs and tabs you do not need during the meeting.",
)


def cpu_finding(cpu_percent: float, *, warn_percent: float = 85.0, fail_percent: float = 97.0) -> Finding:
    f = Finding(
        id="host.cpu",
        status=CheckStatus.PASS,
        value=round(cpu_percent, 1),
        unit="%",
        why=WHY_HOST,
        text=tr(f"Processorn är belastad till {cpu_percent:.0f} %.", f"The processor is {cpu_percent:.0f} % busy."),
    )
    if cpu_percent > fail_percent:
        f.status = CheckStatus.FAIL
    elif cpu_percent > warn_percent:
        f.status = CheckStatus.WARN
    if f.status is not CheckStatus.PASS:
        f.advice = ADVICE_CLOSE
    return f


def memory_finding(available_percent: float, *, warn_percent: float = 15.0, fail_percent: float = 5.0) -> Finding:
    f = Finding(
        id="host.memory",
        status=CheckStatus.PASS,
        value=round(available_percent, 1),
        unit="%",
        why=WHY_HOST,
        text=tr(f"{available_percent:.0f} % av minnet är ledigt.", f"{available_percent:.0f} % of the memory is free."),
    )
    if available_percent < fail_percent:
        f.status = CheckStatus.FAIL
    elif available_percent < warn_percent:
        f.status = CheckStatus.WARN
    if f.status is not CheckStatus.PASS:
        f.advice = ADVICE_CLOSE
    return f


def unavailable(check_id: str, detail: str) -> Finding:
    """The Finding for a check whose module is missing or broken (never a crash)."""
    return Finding(
        id=check_id,
        status=CheckStatus.ERROR,
        value=detail[:200],
        text=tr("Kontrollen kunde inte göras (check unavailable).", "Check unavailable."),
    )


def _platform() -> Any:
    return importlib.import_module("agent.platform")


async def check_network(ctx: CheckContext) -> list[Finding]:
    try:
        info = await asyncio.to_thread(lambda: _platform().link_info())
    except Exception as exc:
        return [unavailable("network.link", f"{type(exc).__name__}: {exc}")]
    finding = link_finding(
        info.link,
        hotspot_reason=info.hotspot_reason,
        signal_dbm=info.wifi_signal_dbm,
        signal_percent=info.wifi_signal_percent,
        iface=info.iface,
    )
    return [finding]


def _forecast(
    percent: float, charging: bool | None, seconds_left: float | None, now: float, meeting_end: float | None
) -> tuple[float | None, bool | None]:
    """``(minutes_left, lasts_meeting)`` from the battery-forecast probe; from the OS's estimate
    alone when that module is missing."""
    try:
        module = importlib.import_module("agent.probes.battery_forecast")
    except ImportError:
        if charging or seconds_left is None:
            return None, None
        lasts = None if meeting_end is None else now + seconds_left >= meeting_end
        return seconds_left / 60, lasts
    fc = module.forecast([(now, percent)], charging, now, meeting_end, seconds_left=seconds_left)
    return fc.minutes_left, fc.lasts_meeting


async def check_battery(ctx: CheckContext) -> list[Finding]:
    try:
        info = await asyncio.to_thread(lambda: _platform().battery())
    except Exception as exc:
        return [unavailable("battery.level", f"{type(exc).__name__}: {exc}")]
    now = time.time()
    to_end = None if ctx.meeting_end is None else max(0.0, (ctx.meeting_end - now) / 60)
    if info is None:
        return [battery_finding(None, None, None, None, to_end)]
    minutes, lasts = _forecast(info.percent, info.charging, info.seconds_left, now, ctx.meeting_end)
    warn = getattr(getattr(ctx.config, "selftest", None), "battery_warn_percent", 30.0)
    return [battery_finding(info.percent, info.charging, minutes, lasts, to_end, warn_percent=warn)]


async def check_host(ctx: CheckContext) -> list[Finding]:
    try:
        import psutil
    except ImportError as exc:
        return [unavailable("host.cpu", str(exc))]
    st = ctx.config.selftest
    cpu = await asyncio.to_thread(psutil.cpu_percent, 0.5)
    mem = psutil.virtual_memory()
    return [
        cpu_finding(cpu, warn_percent=st.cpu_warn_percent, fail_percent=st.cpu_fail_percent),
        memory_finding(
            100.0 * mem.available / mem.total,
            warn_percent=st.mem_warn_available_percent,
            fail_percent=st.mem_fail_available_percent,
        ),
    ]
