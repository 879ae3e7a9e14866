"""The agent's own words (agent/i18n.py: status labels, check groups, the frame of the self-test
output) are complete in Swedish and English. They stay tables, not gettext catalogs: the agent runs
on members' devices without Babel (docs/translation.md); this test is their untranslated-string check."""

from __future__ import annotations

import string
from typing import Any

from agent.checks.base import Text
from agent.i18n import GROUPS, LANGS, STATUS, WORDS
from agent.selftest import CHECKS
from likavillkor.wire import CheckStatus


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_agent_text_is_in_both_languages_with_the_same_placeholders() -> None:
    tables: dict[str, dict[Any, Text]] = {"STATUS": dict(STATUS), "GROUPS": GROUPS, "WORDS": WORDS}
    for table, entries in tables.items():
        for key, text in entries.items():
            assert set(text) == set(LANGS), (table, key)
            assert all(text[lang].strip() for lang in LANGS), f"{table}[{key!r}] lacks a text: {text}"
            assert fields(text["sv"]) == fields(text["en"]), (table, key, text)


def test_every_status_and_check_group_has_a_label() -> None:
    assert set(STATUS) == set(CheckStatus)
    assert {c.group for c in CHECKS} <= set(GROUPS)
