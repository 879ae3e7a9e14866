"""Which refusal an engine ``ValueError`` is, as a stable code the catalogs translate (``refusal.<code>``).

The engine refuses an invalid action (H5, H15, H16, H18) with an English message for the API and the
logs. The web layer, not the engine, maps it to a code, so the chair's Swedish page shows a Swedish
sentence: ``code_of`` takes the exception's own ``code`` attribute when the engine sets one, and
otherwise recognises the message. tests/web/test_i18n.py drives every refusal through a real engine
and fails when one maps to ``other``.
"""

from __future__ import annotations

import re

#: (pattern of the engine's message, code), first match wins: the more specific patterns come first
PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), code)
    for p, code in (
        (r"^unknown meeting ", "unknown_meeting"),
        (r" is already adjourned$", "already_adjourned"),
        (r" is not adjourned", "not_adjourned"),
        (r"^a vote is already running ", "vote_running"),
        (r"^no vote is running ", "no_vote"),
        (r"^item_start needs the item", "item_needed"),
        (r" needs member_id$", "member_needed"),
        (r" is not a remote participant of meeting ", "not_remote"),
        (r" cannot be excused", "cannot_excuse"),
        (r" is not excused", "not_excused"),
        (r" has already left meeting ", "already_left"),
        (r"^a substitute is already recorded ", "substitute_recorded"),
        (r" is not replaced", "not_replaced"),
        (r"^substitute needs substitute_id", "substitute_needed"),
        (r" is not on the roster of meeting ", "substitute_not_on_roster"),
        (r", not an ersättare$", "substitute_not_ersattare"),
        (r" already serves in meeting ", "substitute_serving"),
        (r" cannot step in: no contact", "substitute_no_contact"),
        (r" cannot step in: ", "substitute_unavailable"),
        (r" cannot be confirmed present: ", "present_unavailable"),
        (r" has contact with her device: nothing to confirm$", "present_has_contact"),
        (r"^present needs a reason", "present_reason_needed"),
        (r"^the reason is longer than ", "present_reason_too_long"),
        (r"^unknown roll call mark ", "roll_call_mark"),
        (r" does not take part now .*nothing to report", "not_taking_part"),
    )
)
OTHER = "other"


def code_of(exc: Exception) -> str:
    """The refusal's code: the exception's ``code`` if it has one, else from its message, else ``other``."""
    code = getattr(exc, "code", None)
    if isinstance(code, str) and code:
        return code
    message = str(exc)
    for pattern, found in PATTERNS:
        if pattern.search(message):
            return found
    return OTHER
