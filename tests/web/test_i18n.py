"""The pages' texts come from gettext catalogs (collector/web/locale, issue 13): every msgid is
translated in Swedish and English, the catalogs hold exactly what ``pybabel extract`` finds, and every
value the engine shows (states, verdicts, actions, incident kinds, severities, refusals, self-test
check ids) has a name in both languages. The pages themselves: tests/web/test_i18n_pages.py."""

from __future__ import annotations

import dataclasses
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Message
from babel.messages.pofile import read_po

from agent.selftest import CHECKS
from collector.engine import Action, ActionKind, Engine
from collector.engine import decide as decide_mod
from collector.engine.debounce import Judge, incident_kind
from collector.engine.incidents import severity_name
from collector.engine.types import ParticipantState, Verdict
from collector.web import i18n, refusals
from likavillkor.policy import load_policy
from likavillkor.roster import Participant, Role
from tests.engine.conftest import START, Feeder, roster

ROOT = Path(__file__).resolve().parents[2]


def po(lang: str) -> dict[str, Message]:
    with i18n.po_path(lang).open("rb") as f:
        return {m.id: m for m in read_po(f) if m.id and isinstance(m.id, str)}


def incident_kinds() -> set[str]:
    """Every incident kind the engine can open under the shipped policy."""
    judge = Judge(load_policy().for_meeting("teams", "kommunstyrelsen"))
    kinds = {incident_kind(name) for name in judge.names}
    kinds |= set(decide_mod._LINK_KIND.values())
    return kinds | {"connection_lost", "media_path_failed", "media_path_degraded"}


def check_ids() -> set[str]:
    """Self-test check ids: the agent's checks and findings, and the browser self-test's rows."""
    ids = {c.group for c in CHECKS} | {c.error_id for c in CHECKS}
    for path in (ROOT / "agent" / "checks").glob("*.py"):
        ids |= set(re.findall(r'\bid="([a-z_]+(?:\.[a-z_]+)*)"', path.read_text(encoding="utf-8")))
    js = (ROOT / "collector/web/static/selftest.js").read_text(encoding="utf-8")
    ids |= set(re.findall(r'(?:record\(|var id = )"([a-z_.]+)"', js))
    ids |= {f"checklist.{k[len('st.chk.') :]}" for k in i18n.CATALOGS["sv"] if k.startswith("st.chk.")}
    return ids


def test_every_msgid_has_a_swedish_and_an_english_text() -> None:
    sv, en = po("sv"), po("en")
    assert len(sv) > 200 and set(sv) == set(en)
    for lang, catalog in (("sv", sv), ("en", en)):
        untranslated = sorted(k for k, m in catalog.items() if not m.string or m.fuzzy)
        assert not untranslated, f"{lang}: no text for {untranslated} (docs/translation.md)"
    # the loader reads every entry, and the languages differ where a translator would expect it
    assert set(i18n.CATALOGS["sv"]) == set(sv) == set(i18n.CATALOGS["en"])
    assert i18n.t("verdict.adjourn", "sv") == "Ajournera" and i18n.t("verdict.adjourn", "en") == "Adjourn"


def test_a_fuzzy_or_empty_entry_counts_as_untranslated(tmp_path: Path) -> None:
    po_file = tmp_path / "x.po"
    po_file.write_text(
        'msgid ""\nmsgstr "Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "a"\nmsgstr "A"\n\nmsgid "b"\nmsgstr ""\n\n#, fuzzy\nmsgid "c"\nmsgstr "C"\n',
        encoding="utf-8",
    )
    assert i18n.read_catalog(po_file) == {"a": "A"}
    assert i18n.t("no.such.key", "sv") == "no.such.key"  # an untranslated key shows as itself


def i18n_script(*args: str, locale: Path | None = None) -> None:
    """scripts/i18n.sh, the translator's workflow (docs/translation.md), with this venv's pybabel."""
    env = {**os.environ, "PYBABEL": str(Path(sys.executable).with_name("pybabel"))}
    if locale is not None:
        env["LOCALE"] = str(locale)
    done = subprocess.run(
        ["bash", "scripts/i18n.sh", *args], cwd=ROOT, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, done.stderr


def po_lines(path: Path) -> list[str]:
    return [line for line in path.read_text(encoding="utf-8").splitlines() if "POT-Creation-Date" not in line]


def test_the_update_step_leaves_the_committed_catalogs_as_they_are(tmp_path: Path) -> None:
    """The catalogs are in the form scripts/i18n.sh update writes: sorted, with the '#. sv:' comments
    of the current Swedish texts; running it changes nothing but the template's date."""
    copy = tmp_path / "locale"
    shutil.copytree(i18n.LOCALE_DIR, copy)
    i18n_script("update", locale=copy)
    for lang in i18n.LANGS:
        rel = Path(lang) / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
        assert po_lines(copy / rel) == po_lines(i18n.LOCALE_DIR / rel), f"{lang}: run scripts/i18n.sh update"


def test_the_catalogs_hold_exactly_what_pybabel_extract_finds(tmp_path: Path) -> None:
    pot = tmp_path / "likavillkor.pot"
    i18n_script("extract", str(pot))
    with pot.open("rb") as f:
        extracted = {m.id for m in read_po(f) if m.id}
    catalog = set(po("sv"))
    assert not extracted - catalog, f"not in the catalogs (scripts/i18n.sh update): {sorted(extracted - catalog)}"
    assert not catalog - extracted, f"in the catalogs, used nowhere: {sorted(catalog - extracted)}"


def test_the_catalogs_compile_and_gettext_reads_the_same_texts(tmp_path: Path) -> None:
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    i18n_script("compile", str(tmp_path / "locale"))
    for lang in i18n.LANGS:
        mo = gettext.translation(i18n.DOMAIN, tmp_path / "locale", languages=[lang])
        assert {k: mo.gettext(k) for k in i18n.CATALOGS[lang]} == i18n.CATALOGS[lang]


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_state_verdict_and_action_has_a_name(lang: str) -> None:
    keys = [f"state.{s}" for s in ParticipantState] + [f"verdict.{v}" for v in Verdict]
    keys += [f"act.{a}" for a in ActionKind]
    missing = [k for k in keys if k not in i18n.CATALOGS[lang]]
    assert not missing, missing


@pytest.mark.parametrize("lang", i18n.LANGS)
def test_every_incident_kind_severity_and_check_id_has_a_name(lang: str) -> None:
    kinds = incident_kinds()
    assert {"connection_lost", "mobile_data", "no_face", "camera_black", "mic_silent"} <= kinds
    assert not [k for k in kinds if f"incident.{k}" not in i18n.CATALOGS[lang]]
    assert not [s for s in map(severity_name, (1, 2)) if f"severity.{s}" not in i18n.CATALOGS[lang]]
    ids = check_ids()
    assert {
        "network.link",
        "camera",
        "network.rtt",
        "checklist.wifi",
        "mediapath.connect",
        "mediapath.roundtrip",
    } <= ids
    assert not [c for c in ids if i18n.named("check", c, lang) == c]
    # a finding the catalogs do not list by id is named by its group
    assert i18n.named("check", "camera.black", "sv") == "Kamera"
    assert i18n.named("check", "weird", "sv") == "weird"


def _refusals() -> list[str]:
    """Drive a real engine into every refusal of an action; the codes, in order."""
    r = roster("anna", "bo", "cid")
    ks = r.meetings["ks-1"]
    subs = tuple(Participant(m, m.title(), Role.ERSATTARE, f"{m}-ipad", serving=False) for m in ("eva", "gun", "hans"))
    r.meetings["ks-1"] = dataclasses.replace(ks, participants=(*ks.participants, *subs))
    for p in subs:
        r.devices[p.device_id] = p.member_id
    engine = Engine(r, load_policy(), now=START - 1800)
    feed = Feeder(engine)
    feed.run(["anna-ipad", "bo-ipad", "cid-ipad", "eva-ipad", "hans-ipad"], START - 100, START + 10)
    at = START + 10.0

    def act(kind: ActionKind, meeting: str = "ks-1", **kw: str | None) -> str | None:
        nonlocal at
        at += 0.01  # all within a second: eva stays in contact
        try:
            engine.act(Action(meeting_id=meeting, kind=kind, at=at, by="ordf", **kw))
        except ValueError as exc:
            return refusals.code_of(exc)
        return None

    assert act(ActionKind.LEFT, member_id="hans") is None
    feed.run(["bo-ipad", "eva-ipad"], START + 20, START + 330)  # anna and cid silent: replaced (H16)
    at = START + 330.0
    K = ActionKind
    codes = [act(K.ADJOURN, "nope"), act(K.RESUME)]
    assert act(K.ADJOURN) is None
    codes += [act(K.ADJOURN)]
    assert act(K.RESUME) is None
    codes += [act(K.VOTE_END)]
    assert act(K.VOTE_START) is None
    codes += [act(K.VOTE_START)]
    assert act(K.VOTE_END) is None
    codes += [
        act(K.ITEM_START),
        act(K.EXCUSE),
        act(K.EXCUSE, member_id="zed"),
        act(K.RETURN, member_id="bo"),
        act(K.EXCUSE, member_id="hans"),
        act(K.LEFT, member_id="hans"),
        act(K.UNEQUAL_TERMS, member_id="hans"),
        act(K.SUBSTITUTE, member_id="bo", substitute_id="eva"),
        act(K.SUBSTITUTE, member_id="anna"),
        act(K.SUBSTITUTE, member_id="anna", substitute_id="zed"),
        act(K.SUBSTITUTE, member_id="anna", substitute_id="bo"),
        act(K.SUBSTITUTE, member_id="anna", substitute_id="hans"),
        act(K.SUBSTITUTE, member_id="anna", substitute_id="gun"),
    ]
    assert act(K.SUBSTITUTE, member_id="anna", substitute_id="eva") is None
    codes += [
        act(K.SUBSTITUTE, member_id="anna", substitute_id="eva"),
        act(K.SUBSTITUTE, member_id="cid", substitute_id="eva"),
        act(K.PRESENT, member_id="bo"),
        act(K.PRESENT, member_id="bo", note="x" * 501),
        act(K.PRESENT, member_id="bo", note="syns i Teams"),
        act(K.PRESENT, member_id="anna", note="syns i Teams"),
        act(K.ROLL_CALL, member_id="bo", note="seen,smiling"),
    ]
    return [c or "accepted" for c in codes]


def test_every_engine_refusal_has_its_own_code_and_text() -> None:
    codes = _refusals()
    assert codes == [
        "unknown_meeting",
        "not_adjourned",
        "already_adjourned",
        "no_vote",
        "vote_running",
        "item_needed",
        "member_needed",
        "not_remote",
        "not_excused",
        "cannot_excuse",
        "already_left",
        "not_taking_part",
        "not_replaced",
        "substitute_needed",
        "substitute_not_on_roster",
        "substitute_not_ersattare",
        "substitute_unavailable",
        "substitute_no_contact",
        "substitute_recorded",
        "substitute_serving",
        "present_reason_needed",
        "present_reason_too_long",
        "present_has_contact",
        "present_unavailable",
        "roll_call_mark",
    ]
    texts = {k[len("refusal.") :] for k in i18n.CATALOGS["sv"] if k.startswith("refusal.")}
    assert texts == {*codes, refusals.OTHER}  # every refusal has a text, and every text a refusal
    assert refusals.code_of(ValueError("something new")) == refusals.OTHER


def test_an_engine_code_wins_over_the_message() -> None:
    class Refused(ValueError):
        code = "no_vote"

    assert refusals.code_of(Refused("unknown meeting 'x'")) == "no_vote"
