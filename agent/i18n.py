"""The agent's own user-facing words, Swedish first, English with ``--lang en``.

Check texts live with each check (``Finding.text/why/advice``); this module holds the frame
around them: status labels, headings, the closing summary and the Servicedesk line (H20).
"""

from __future__ import annotations

from agent.checks.base import Text, tr
from likavillkor.wire import CheckStatus

LANGS = ("sv", "en")

STATUS: dict[CheckStatus, Text] = {
    CheckStatus.PASS: tr("OK", "OK"),
    CheckStatus.WARN: tr("VARNING", "WARNING"),
    CheckStatus.FAIL: tr("FEL", "FAIL"),
    CheckStatus.ERROR: tr("EJ TESTAT", "NOT TESTED"),
    CheckStatus.SKIPPED: tr("HOPPADES ÖVER", "SKIPPED"),
}

#: Progress labels per check group (stderr while the self-test runs).
GROUPS: dict[str, Text] = {
    "network": tr("nätverket (wifi eller mobildata)", "the network (Wi-Fi or mobile data)"),
    "battery": tr("batteriet", "the battery"),
    "host": tr("processor och minne", "processor and memory"),
    "path": tr("förbindelsen till mötet (fördröjning, förluster)", "the path to the meeting (delay, loss)"),
    "bandwidth": tr("hastigheten (bandbredd)", "the speed (bandwidth)"),
    "camera": tr("kameran", "the camera"),
    "microphone": tr("mikrofonen", "the microphone"),
    "mediapath": tr("ljud och bild genom nätet", "sound and image over the network"),
}

WORDS: dict[str, Text] = {
    "title": tr("Självtest inför mötet", "Self-test before the meeting"),
    "title_meeting": tr("Självtest inför mötet {meeting}", "Self-test before the meeting {meeting}"),
    "checking": tr("Kontrollerar {what} …", "Checking {what} …"),
    "done": tr("klart", "done"),
    "why": tr("Varför det spelar roll", "Why it matters"),
    "todo": tr("Gör så här", "What to do"),
    "skipped_by_config": tr("Hoppades över enligt inställningarna.", "Skipped by the settings."),
    "timed_out": tr("Kontrollen hann inte bli klar i tid.", "The check did not finish in time."),
    "crashed": tr("Kontrollen kunde inte göras (ett internt fel).", "The check could not run (an internal error)."),
    "unavailable": tr(
        "Kontrollen finns inte i den här installationen (check unavailable).", "Check unavailable in this installation."
    ),
    "overall_pass": tr(
        "Allt ser bra ut. Du kan delta i mötet på lika villkor.",
        "Everything looks good. You can take part in the meeting on equal terms.",
    ),
    "overall_warn": tr(
        "Du kan delta, men läs varningarna ovan och åtgärda dem om du kan.",
        "You can take part, but read the warnings above and fix them if you can.",
    ),
    "overall_fail": tr(
        "Något hindrar dig från att delta på lika villkor. Åtgärda felen ovan och gör testet igen.",
        "Something keeps you from taking part on equal terms. Fix the failures above and run the test again.",
    ),
    "servicedesk": tr(
        "Om du inte kan åtgärda det själv: ring Servicedesk på {phone}.",
        "If you cannot fix it yourself, call the Servicedesk on {phone}.",
    ),
    "tell_chair": tr(
        "Kommer du inte in på lika villkor, säg till ordföranden direkt (H17).",
        "If you cannot take part on equal terms, tell the chair at once (H17).",
    ),
    "result": tr("Resultat", "Result"),
    "config_error": tr("Fel i inställningarna", "Configuration error"),
    "sent": tr("Resultatet är skickat till mötets tekniker.", "The result was sent to the meeting's technicians."),
    "queued": tr(
        "Resultatet är sparat och skickas när anslutningen fungerar.",
        "The result is saved and will be sent when the connection works.",
    ),
}


def t(key: str, lang: str, **fmt: object) -> str:
    text = WORDS[key]
    return (text.get(lang) or text["sv"]).format(**fmt)


def pick(text: Text, lang: str) -> str:
    return text.get(lang) or text.get("sv") or ""
