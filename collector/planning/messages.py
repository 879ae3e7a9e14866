"""The roster's refusals in Swedish, for the secretary's page. The roster parser raises
:class:`likavillkor.roster.RosterError` with a ``code`` and ``params``; this table says the same in
plain Swedish with the handbook rule. A code missing here falls back to the English message (a test
checks that every code the parser can raise is here)."""

from __future__ import annotations

from likavillkor.config import ConfigError
from likavillkor.roster import RosterError

SV: dict[str, str] = {
    "bad_meeting_id": "Mötets id får bara innehålla bokstäver a–z, siffror, punkt, understreck och bindestreck.",
    "meeting_id_twice": "Det finns redan ett möte med id {meeting}.",
    "unknown_body": "Nämnden {body!r} finns inte i nämndtabellen (H22).{hint_sv}",
    "secret_not_compodium": "Ärenden med sekretess behandlas bara i Compodium, inte i {system} (H21, H22).",
    "system_exception_needed": "{body} sammanträder i {expected} (H22). Skriv skälet till undantaget om "
    "mötet ska hållas i {system}.",
    "physical_only": "{body} sammanträder bara fysiskt (H23): inga deltagare på distans.",
    "ends_before_start": "Mötet slutar innan det börjar.",
    "program_url_not_https": "Länken till sammanträdet måste börja med https:// (H7).",
    "bad_device_id": "Enhetens id för {name} får bara innehålla bokstäver a–z, siffror, punkt, understreck "
    "och bindestreck.",
    "device_twice": "Enheten {device} är angiven för två deltagare.",
    "agentless_device": "Enheten {device} ({name}) är en surfplatta eller telefon som inte kan köra "
    "Likavillkors program: välj bevakning med följesidan eller ingen bevakning.",
    "member_twice": "{name} finns två gånger bland deltagarna.",
    "ledamot_not_serving": "{name} är ledamot och tjänstgör alltid (H16). Bara en ersättare kan vara "
    "icke tjänstgörande.",
}


def said(error: Exception, lang: str) -> str:
    """The message in the page's language: Swedish (:func:`swedish`, or an error's ``message_sv``), or on an
    English page the parser's / server's own English words, without the file name and line prefix."""
    if lang != "en":
        sv = getattr(error, "message_sv", None)
        return sv if isinstance(sv, str) else swedish(error) if isinstance(error, ConfigError) else str(error)
    text = str(error)
    if isinstance(error, ConfigError) and error.source and text.startswith(error.source):
        text = text.split(": ", 1)[-1]
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def swedish(error: ConfigError) -> str:
    """The message for the secretary: Swedish for a coded rule, else the parser's own text."""
    if isinstance(error, RosterError) and error.code in SV:
        params = dict(error.params)
        hint = params.get("hint", "")
        params["hint_sv"] = f" Menade du {hint!r}?" if hint else ""
        try:
            return SV[error.code].format(**params)
        except (KeyError, IndexError):
            return SV[error.code]
    return f"Listan kunde inte sparas: {error}"
