"""Reasons in plain Swedish and English: "ingen kontakt sedan 14:02:11", "paketförlust 14 %".

Pure text builders. Times are shown in Europe/Stockholm whatever the server's zone; numbers use a
decimal comma in Swedish. Each reason names the handbook rule it comes from.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from collector.engine.types import Reason

STOCKHOLM = ZoneInfo("Europe/Stockholm")


def clock(t: float) -> str:
    """``14:02:11`` in Swedish local time."""
    return _clock(int(t))


@lru_cache(maxsize=8192)
def _clock(t: int) -> str:
    return dt.datetime.fromtimestamp(t, STOCKHOLM).strftime("%H:%M:%S")


def number(value: float, lang: str = "sv") -> str:
    """``14`` for whole numbers, ``2,8`` (sv) / ``2.8`` (en) otherwise."""
    if abs(value - round(value)) < 0.05:
        return str(round(value))
    text = f"{value:.1f}"
    return text.replace(".", ",") if lang == "sv" else text


def minutes(seconds: float) -> str:
    m, s = divmod(max(0, round(seconds)), 60)
    return f"{m}:{s:02d}"


# Metric reasons: code -> (Swedish label, English label, unit, rule). "{v}" is the value.
METRICS: dict[str, tuple[str, str, str, str]] = {
    "rtt_ms": ("svarstid", "round-trip time", "ms", "H1"),
    "jitter_ms": ("jitter", "jitter", "ms", "H1"),
    "loss_percent": ("paketförlust", "packet loss", "%", "H1"),
    "mos": ("beräknad ljudkvalitet (MOS)", "estimated voice quality (MOS)", "", "H1"),
    "wifi_signal_dbm": ("svag wifi-signal", "weak Wi-Fi signal", "dBm", "H9"),
    "wifi_signal_percent": ("svag wifi-signal", "weak Wi-Fi signal", "%", "H9"),
    "battery_percent": ("batteri", "battery", "%", "H9"),
    "rx_kbps": ("mottagen datatakt", "receive rate", "kbit/s", "H1"),
    "tx_kbps": ("skickad datatakt", "send rate", "kbit/s", "H1"),
    "cpu_percent": ("hög processorlast", "high CPU load", "%", "H10"),
    "mem_available_percent": ("lite ledigt minne", "little free memory", "%", "H10"),
    "link_rate_mbps": ("låg länkhastighet", "low link rate", "Mbit/s", "H9"),
}

# Discrete conditions: code -> (Swedish, English, rule)
CONDITIONS: dict[str, tuple[str, str, str]] = {
    "mobile_data": ("mobildata", "mobile data", "H9"),
    "hotspot": ("mobil surfzon (delad mobildata)", "hotspot (shared mobile data)", "H9"),
    "no_link": ("ingen nätverksanslutning", "no network connection", "H9"),
    "battery_short": (
        "batteriet räcker inte mötet ut och laddas inte",
        "the battery will not last the meeting and is not charging",
        "H9",
    ),
    "camera_black": ("kameran visar svart bild", "the camera shows a black picture", "H4"),
    "camera_frozen": ("kamerabilden har frusit", "the camera picture is frozen", "H4"),
    "no_face": ("inget ansikte i bild", "no face in the picture", "H4"),
    "camera_absent": ("ingen kamera", "no camera", "H1"),
    "mic_silent": ("mikrofonen är tyst", "the microphone is silent", "H1"),
    "mic_dead": ("mikrofonen ger ingen signal", "the microphone gives no signal", "H1"),
    "mic_absent": ("ingen mikrofon", "no microphone", "H1"),
    "mic_clipping": ("mikrofonen överstyr", "the microphone is clipping", "H1"),
    "media_path_failed": (
        "ljud och bild når inte fram (mediavägen fungerar inte)",
        "sound and picture do not get through (media path failed)",
        "H1",
    ),
    "media_path_degraded": (
        "ljud och bild når fram med försämrad kvalitet",
        "sound and picture get through with degraded quality",
        "H1",
    ),
    "camera_no_frames": ("kameran ger ingen bild", "the camera gives no picture", "H4"),
    "mic_no_samples": ("mikrofonen ger inget ljud", "the microphone gives no sound", "H1"),
}


def metric(code: str, value: float | None, member_id: str | None = None, *, charging: bool | None = None) -> Reason:
    sv_label, en_label, unit, rule = METRICS.get(code, (code, code, "", "H1"))
    if value is None:
        return Reason(code=code, sv=sv_label, en=en_label, rule=rule, member_id=member_id)
    sv_unit = f" {unit}" if unit else ""
    sv = f"{sv_label} {number(value, 'sv')}{sv_unit}"
    en = f"{en_label} {number(value, 'en')}{sv_unit}"
    if code == "battery_percent" and charging is False:
        sv += ", laddas inte"
        en += ", not charging"
    return Reason(code=code, sv=sv, en=en, rule=rule, member_id=member_id)


def condition(code: str, member_id: str | None = None, detail: str = "") -> Reason:
    sv, en, rule = CONDITIONS.get(code, (code, code, "H1"))
    if detail:
        sv, en = f"{sv}: {detail}", f"{en}: {detail}"
    return Reason(code=code, sv=sv, en=en, rule=rule, member_id=member_id)


def no_contact(since: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="no_contact",
        sv=f"ingen kontakt sedan {clock(since)}",
        en=f"no contact since {clock(since)}",
        rule="H15",
        member_id=member_id,
    )


def offline(reason: str, at: float, member_id: str | None = None) -> Reason:
    if reason == "shutdown":
        return Reason(
            code="shutdown",
            sv=f"agenten stängdes av {clock(at)}",
            en=f"the agent was shut down at {clock(at)}",
            rule="H15",
            member_id=member_id,
        )
    return Reason(
        code="will",
        sv=f"enheten tappade anslutningen {clock(at)} (sista vilja)",
        en=f"the device dropped its connection at {clock(at)} (last will)",
        rule="H15",
        member_id=member_id,
    )


def substitute_countdown(lost_since: float, remaining_s: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="substitute_countdown",
        sv=f"ersättare kallas in om {minutes(remaining_s)} om kontakten inte återkommer "
        f"(borta sedan {clock(lost_since)})",
        en=f"a substitute is called in {minutes(remaining_s)} unless contact returns (gone since {clock(lost_since)})",
        rule="H16",
        member_id=member_id,
    )


def replaced(lost_since: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="substitute_due",
        sv=f"ingen kontakt på fem minuter (sedan {clock(lost_since)}): ersättare ska tjänstgöra",
        en=f"no contact for five minutes (since {clock(lost_since)}): a substitute must step in",
        rule="H16",
        member_id=member_id,
    )


def substitute_in(at: float, member_id: str | None = None, name: str | None = None) -> Reason:
    if name:
        return Reason(
            code="substitute_in",
            sv=f"ersättaren {name} tjänstgör i stället sedan {clock(at)}",
            en=f"the substitute {name} serves instead since {clock(at)}",
            rule="H16",
            member_id=member_id,
        )
    return Reason(
        code="substitute_in",
        sv=f"ersättare tjänstgör sedan {clock(at)}",
        en=f"a substitute serves since {clock(at)}",
        rule="H16",
        member_id=member_id,
    )


def serves_for(name: str, member_id: str | None = None) -> Reason:
    return Reason(
        code="serves_for",
        sv=f"tjänstgör i stället för {name}",
        en=f"serves instead of {name}",
        rule="H16",
        member_id=member_id,
    )


def leave_countdown(lost_since: float, remaining_s: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="leave_countdown",
        sv=f"ersättare som inte tjänstgör: registreras som avgången om {minutes(remaining_s)} om "
        f"kontakten inte återkommer (borta sedan {clock(lost_since)})",
        en=f"substitute not serving: recorded as having left in {minutes(remaining_s)} unless contact "
        f"returns (gone since {clock(lost_since)})",
        rule="H16",
        member_id=member_id,
    )


def left_after_silence(lost_since: float, at: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="left_no_contact",
        sv=f"ingen kontakt på fem minuter (sedan {clock(lost_since)}): registrerad som avgången "
        f"{clock(at)}; ersättare som inte tjänstgör, ingen kallas in",
        en=f"no contact for five minutes (since {clock(lost_since)}): recorded as having left at "
        f"{clock(at)}; a substitute not serving, nobody is called in",
        rule="H16",
        member_id=member_id,
    )


def may_not_return(member_id: str | None = None) -> Reason:
    return Reason(
        code="may_not_return",
        sv="ledamoten är ansluten igen men får inte återinträda i detta sammanträde "
        "(växeltjänstgöring är inte tillåten)",
        en="the member is connected again but may not return to this meeting (alternating service is not allowed)",
        rule="H16",
        member_id=member_id,
    )


def not_connected(start: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="not_connected",
        sv=f"har inte anslutit (start {clock(start)})",
        en=f"has not connected (start {clock(start)})",
        rule="H12",
        member_id=member_id,
    )


def expected(deadline: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="expected",
        sv=f"väntas ansluta senast {clock(deadline)} (15 min före start)",
        en=f"expected to connect by {clock(deadline)} (15 min before the start)",
        rule="H8",
        member_id=member_id,
    )


def equal_terms(member_id: str | None = None) -> Reason:
    return Reason(
        code="ok",
        sv="ser och hörs på lika villkor",
        en="sees and is heard on equal terms",
        rule="H1",
        member_id=member_id,
    )


def late_connect(first: float | None, deadline: float, member_id: str | None = None) -> Reason:
    if first is None:
        return Reason(
            code="late_connect",
            sv=f"inte ansluten {clock(deadline)}, 15 min före start",
            en=f"not connected at {clock(deadline)}, 15 min before the start",
            rule="H8",
            member_id=member_id,
        )
    return Reason(
        code="late_connect",
        sv=f"anslöt {clock(first)}, senare än 15 min före start",
        en=f"connected at {clock(first)}, later than 15 min before the start",
        rule="H8",
        member_id=member_id,
    )


def excused(at: float, item: str | None, member_id: str | None = None) -> Reason:
    sv_item = f" för ärende {item}" if item else ""
    en_item = f" for item {item}" if item else ""
    return Reason(
        code="excused",
        sv=f"jäv: har lämnat sammanträdet{sv_item} sedan {clock(at)} (planerat)",
        en=f"conflict of interest: left the meeting{en_item} since {clock(at)} (planned)",
        rule="H18",
        member_id=member_id,
    )


def left(at: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="left",
        sv=f"har lämnat sammanträdet {clock(at)}",
        en=f"left the meeting at {clock(at)}",
        rule=None,
        member_id=member_id,
    )


def present_confirmed(until: float, why: str, member_id: str | None = None) -> Reason:
    """H16 (issue 15): the chair confirmed her in the meeting program although her device is silent."""
    detail = f" ({why})" if why else ""
    return Reason(
        code="present_confirmed",
        sv=f"finns i mötesprogrammet enligt ordföranden{detail}, gäller till {clock(until)}",
        en=f"in the meeting program according to the chair{detail}, holds until {clock(until)}",
        rule="H16",
        member_id=member_id,
    )


def selftest_failed(failed: list[str], member_id: str | None = None) -> Reason:
    names = ", ".join(failed) or "okänd kontroll"
    return Reason(
        code="selftest_failed",
        sv=f"självtestet underkändes: {names}",
        en=f"the self-test failed: {names}",
        rule="H8",
        member_id=member_id,
    )


def selftest_passed(at: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="selftest_passed",
        sv=f"självtestet godkänt {clock(at)}",
        en=f"self-test passed at {clock(at)}",
        rule="H8",
        member_id=member_id,
    )


def connected(at: float, member_id: str | None = None) -> Reason:
    return Reason(
        code="connected",
        sv=f"ansluten sedan {clock(at)}",
        en=f"connected since {clock(at)}",
        rule="H8",
        member_id=member_id,
    )


def vote_risk(name: str, state: str, member_id: str | None = None) -> Reason:
    return Reason(
        code="vote_risk",
        sv=f"omröstning pågår medan {name} inte har fullgoda villkor ({state}): beslutet kan bli ogiltigt",
        en=f"a vote is running while {name} is not on equal terms ({state}): the decision may not be valid",
        rule="H5",
        member_id=member_id,
    )


def monitoring_interrupted(since: float | None) -> Reason:
    at = f" sedan {clock(since)}" if since is not None else ""
    at_en = f" since {clock(since)}" if since is not None else ""
    return Reason(
        code="monitoring_interrupted",
        sv=f"övervakningen är avbruten (ingen kontakt med meddelandeservern){at}: deltagarnas läge är okänt",
        en=f"monitoring is interrupted (no contact with the message broker){at_en}: the participants' state is unknown",
        rule=None,
    )


def own_gap(since: float | None, until: float) -> Reason:
    span = f"{clock(since)}–{clock(until)}" if since is not None else f"till {clock(until)}"
    span_en = f"{clock(since)}–{clock(until)}" if since is not None else f"until {clock(until)}"
    return Reason(
        code="collector_gap",
        sv=f"övervakningen var avbruten {span} (insamlingsservern startade om eller stod still): "
        "väntar på färska mätvärden från deltagarna",
        en=f"monitoring was interrupted {span_en} (the collector restarted or stalled): "
        "waiting for fresh figures from the participants",
        rule=None,
    )


def adjourned(since: float) -> Reason:
    return Reason(
        code="adjourned", sv=f"ajournerat sedan {clock(since)}", en=f"adjourned since {clock(since)}", rule="H2"
    )


def unequal_terms(name: str, at: float, member_id: str) -> Reason:
    """H17: the member herself says she does not take part on equal terms."""
    return Reason(
        code="unequal_terms",
        sv=f"{name} meddelar {clock(at)}: deltar inte på lika villkor",
        en=f"{name} reports at {clock(at)}: not taking part on equal terms",
        rule="H17",
        member_id=member_id,
    )


def not_started(start: float) -> Reason:
    return Reason(
        code="not_started", sv=f"sammanträdet börjar {clock(start)}", en=f"the meeting starts at {clock(start)}"
    )


def ended(end: float) -> Reason:
    return Reason(code="ended", sv=f"sammanträdet slutade {clock(end)}", en=f"the meeting ended at {clock(end)}")


def all_ok() -> Reason:
    return Reason(
        code="equal_terms",
        sv="alla distansdeltagare ser och hörs på lika villkor",
        en="every remote participant sees and is heard on equal terms",
        rule="H1",
    )


def member_state(name: str, state: str, main: Reason | None, member_id: str) -> Reason:
    """A meeting-level reason naming the member: "Anna Andersson: ingen kontakt sedan 14:02:11"."""
    if main is None:
        return Reason(code=state, sv=f"{name}: {state}", en=f"{name}: {state}", member_id=member_id)
    return Reason(code=main.code, sv=f"{name}: {main.sv}", en=f"{name}: {main.en}", rule=main.rule, member_id=member_id)
