"""The roster file edited from the page: comments kept, no lost edit, nothing half-saved, refusals in
Swedish for every rule the parser knows."""

import datetime as dt
import re
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from collector.planning.messages import SV, swedish
from collector.planning.rosterfile import MeetingEdit, ParticipantEdit, RosterFile, RosterRefused, StaleEdit
from likavillkor import roster as roster_module
from likavillkor.roster import NoticeDecision, load_roster

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "roster.example.toml"
CET = dt.timezone(dt.timedelta(hours=1))


def edit(meeting_id: str = "kf-2026-12-14", **over: object) -> MeetingEdit:
    base = dict(
        id=meeting_id,
        body="kommunfullmäktige",
        start=dt.datetime(2026, 12, 14, 18, 0, tzinfo=CET),
        end=dt.datetime(2026, 12, 14, 22, 0, tzinfo=CET),
        room="Fullmäktigesalen",
        program_url="https://teams.microsoft.com/l/meetup-join/abc",
        participants=[
            ParticipantEdit(
                name="Åsa Öst",
                device_id="kf-ipad-01",
                email="asa.ost@politik.kommun.example",
                requested_at=dt.datetime(2026, 12, 10, 8, 30, tzinfo=CET),
                notice_decision="allowed",
            ),
            ParticipantEdit(name="Per Ek", device_id="kf-pc-02", role="ersättare", serving=False),
        ],
    )
    base.update(over)
    return MeetingEdit(**base)  # type: ignore[arg-type]


@pytest.fixture
def rf(tmp_path: Path) -> RosterFile:
    path = tmp_path / "roster.toml"
    shutil.copy(EXAMPLE, path)
    path.chmod(0o640)
    return RosterFile(path)


def test_a_new_meeting_is_added_and_every_comment_stays(rf: RosterFile) -> None:
    before, rev = rf.read()
    new_rev = rf.save_meeting(edit(), rev)
    after, now_rev = rf.read()
    assert now_rev == new_rev != rev
    for line in before.splitlines():
        if line.lstrip().startswith("#"):
            assert line in after  # IT's comments and layout are kept
    roster = load_roster(rf.path)
    m = roster.meetings["kf-2026-12-14"]
    assert m.program_url.startswith("https://teams.microsoft.com/")
    asa = m.participants[0]
    assert asa.member_id == "asa.ost" and asa.notice_decision is NoticeDecision.ALLOWED
    assert asa.requested_at == dt.datetime(2026, 12, 10, 8, 30, tzinfo=CET).timestamp()
    assert not m.participants[1].serving
    assert rf.path.stat().st_mode & 0o777 == 0o640


def test_an_edit_on_a_stale_revision_is_refused_and_the_other_save_kept(rf: RosterFile) -> None:
    _, rev = rf.read()
    rf.save_meeting(edit(), rev)  # the other secretary saved first
    with pytest.raises(StaleEdit):
        rf.save_meeting(edit(room="Annan sal"), rev)
    assert load_roster(rf.path).meetings["kf-2026-12-14"].room == "Fullmäktigesalen"


def test_two_saves_at_once_never_lose_one(rf: RosterFile) -> None:
    """Both load the same revision and save at the same moment: exactly one wins, the other is told."""
    _, rev = rf.read()
    results: list[str] = []
    barrier = threading.Barrier(2)

    def save(i: int) -> None:
        barrier.wait()
        try:
            rf.save_meeting(edit(f"kf-extra-{i}"), rev)
            results.append("saved")
        except StaleEdit:
            results.append("stale")

    threads = [threading.Thread(target=save, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["saved", "stale"]
    assert sum(mid.startswith("kf-extra-") for mid in load_roster(rf.path).meetings) == 1


def test_a_renamed_meeting_replaces_the_old_one(rf: RosterFile) -> None:
    _, rev = rf.read()
    rev = rf.save_meeting(edit(), rev)
    rf.save_meeting(edit("kf-2026-12-15"), rev, replaces="kf-2026-12-14")
    ids = set(load_roster(rf.path).meetings)
    assert "kf-2026-12-15" in ids and "kf-2026-12-14" not in ids


@pytest.mark.parametrize(
    ("over", "needle"),
    [
        ({"body": "individutskottet"}, "bara fysiskt"),
        ({"body": "kommunstyrelsn"}, "Menade du"),
        ({"secret": True}, "Compodium"),
        ({"end": dt.datetime(2026, 12, 14, 17, 0, tzinfo=CET)}, "slutar innan"),
        ({"program_url": "http://teams.example/x"}, "https://"),
        (
            {"participants": [ParticipantEdit(name="A", device_id="d1"), ParticipantEdit(name="B", device_id="d1")]},
            "två deltagare",
        ),
        ({"participants": [ParticipantEdit(name="A", device_id="d1", serving=False)]}, "tjänstgör alltid"),
    ],
)
def test_a_roster_rule_broken_is_refused_in_swedish_and_nothing_written(
    rf: RosterFile, over: dict[str, Any], needle: str
) -> None:
    text, rev = rf.read()
    if over.get("body") == "individutskottet":
        over["body"] = next(b for b in _bodies() if "individutskott" in b)
    with pytest.raises(RosterRefused) as err:
        rf.save_meeting(edit(**over), rev)
    assert needle in swedish(err.value.error)
    assert rf.read()[0] == text


def test_every_rule_the_parser_can_refuse_has_a_swedish_message() -> None:
    source = Path(roster_module.__file__).read_text(encoding="utf-8")
    codes = set(re.findall(r'fail\("([a-z_]+)"', source))
    assert codes and codes <= set(SV), sorted(codes - set(SV))


def _bodies() -> list[str]:
    return list(roster_module.load_body_table().bodies)


def test_a_refusal_is_said_in_the_pages_language(rf: RosterFile) -> None:
    """Swedish first; on an English page the parser's own English words, without the file and line."""
    from collector.planning.icsimport import IcsError, parse_ics
    from collector.planning.messages import said

    _, rev = rf.read()
    with pytest.raises(RosterRefused) as err:
        rf.save_meeting(edit(end=dt.datetime(2026, 12, 14, 17, 0, tzinfo=CET)), rev)
    assert said(err.value.error, "sv") == "Mötet slutar innan det börjar."
    english = said(err.value.error, "en")
    assert english == "Meeting 'kf-2026-12-14' ends before it starts.", english
    with pytest.raises(IcsError) as ics:
        parse_ics(b"hello")
    assert said(ics.value, "sv") == "Filen är ingen kalenderinbjudan (.ics)."
    assert said(ics.value, "en") == "Not an iCalendar file."
