"""Every coded refusal of :func:`likavillkor.roster.parse_roster`: its code, its params (the pages say
them in Swedish, collector.planning.messages), the line and the key at fault (H6, H7, H16, H21-H23)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import likavillkor.roster
from likavillkor.roster import RosterError, parse_roster

#: 15 lines: a meeting of two participants (devices a and b, on lines 10 and 15); each case edits it
BASE = """\
[[meeting]]
id = "m1"
body = "kommunstyrelsen"
start = 2026-12-01T09:00:00+01:00
end = 2026-12-01T12:00:00+01:00
room = "Salen"

[[meeting.participant]]
name = "Anna Andersson"
device_id = "a"

[[meeting.participant]]
name = "Bo Berg"
role = "ersättare"
device_id = "b"
"""

SECOND = """
[[meeting]]
id = "m1"
body = "kommunstyrelsen"
start = 2026-12-02T09:00:00+01:00
end = 2026-12-02T12:00:00+01:00
"""

#: (code, the roster, params beyond the meeting id, line, key)
CASES: list[tuple[str, str, dict[str, Any], int, str]] = [
    ("bad_meeting_id", BASE.replace('id = "m1"', 'id = "m 1"'), {"meeting": "m 1"}, 2, "id"),
    ("meeting_id_twice", BASE + SECOND, {}, 18, "id"),
    (
        "unknown_body",
        BASE.replace('"kommunstyrelsen"', '"kommunstyrelse"'),
        {"body": "kommunstyrelse", "hint": "kommunstyrelsen"},
        3,
        "body",
    ),
    ("unknown_body", BASE.replace('"kommunstyrelsen"', '"zzz"'), {"body": "zzz", "hint": ""}, 3, "body"),
    (
        "secret_not_compodium",
        BASE.replace('room = "Salen"', 'room = "Salen"\nsecret = true'),
        {"system": "teams"},
        7,
        "secret",
    ),
    (
        "system_exception_needed",
        BASE.replace('room = "Salen"', 'room = "Salen"\nsystem = "compodium"'),
        {"body": "kommunstyrelsen", "expected": "teams", "system": "compodium"},
        7,
        "system",
    ),
    (
        "physical_only",
        BASE.replace('"kommunstyrelsen"', '"socialnämndens individutskott"'),
        {"body": "socialnämndens individutskott"},
        8,
        "",
    ),
    (
        "program_url_not_https",
        BASE.replace('room = "Salen"', 'program_url = "http://x.se/p"'),
        {"url": "http://x.se/p"},
        6,
        "program_url",
    ),
    ("ends_before_start", BASE.replace("T12:00", "T08:00"), {}, 5, "end"),
    ("bad_device_id", BASE.replace('"b"', '"b/"'), {"device": "b/", "name": "Bo Berg"}, 15, "device_id"),
    ("device_twice", BASE.replace('"b"', '"a"'), {"device": "a", "name": "Bo Berg"}, 15, "device_id"),
    (
        "agentless_device",
        BASE.replace('device_id = "b"', 'device_id = "b"\nmonitoring = "agent"')
        + '\n[[device]]\nid = "b"\nkind = "ipad"\n',
        {"device": "b", "name": "Bo Berg", "kind": "ipad"},
        16,
        "monitoring",
    ),
    (
        "member_twice",
        BASE.replace('"Bo Berg"', '"Anna Andersson"'),
        {"member": "anna.andersson", "name": "Anna Andersson"},
        13,
        "name",
    ),
    (
        "member_twice",
        BASE.replace('device_id = "b"', 'device_id = "b"\nmember_id = "anna.andersson"'),
        {"member": "anna.andersson", "name": "Bo Berg"},
        16,
        "member_id",
    ),
    (
        "ledamot_not_serving",
        BASE.replace('device_id = "a"', 'device_id = "a"\nserving = false'),
        {"name": "Anna Andersson"},
        11,
        "serving",
    ),
]


def test_the_base_roster_is_accepted() -> None:
    roster = parse_roster(BASE)
    assert [p.member_id for p in roster.meetings["m1"].participants] == ["anna.andersson", "bo.berg"]
    assert roster.devices == {"a": "anna.andersson", "b": "bo.berg"}


@pytest.mark.parametrize(("code", "text", "params", "line", "key"), CASES, ids=[c[0] for c in CASES])
def test_each_refusal_names_its_code_params_line_and_key(
    code: str, text: str, params: dict[str, Any], line: int, key: str
) -> None:
    with pytest.raises(RosterError) as info:
        parse_roster(text, source="roster.toml")
    err = info.value
    assert (err.code, err.params, err.line, err.key) == (code, {"meeting": "m1", **params}, line, key)
    assert str(err).startswith(f"roster.toml line {line}: ")


def test_every_code_of_the_parser_is_covered() -> None:
    source = Path(likavillkor.roster.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'\bfail\(\s*"(\w+)"', source))
    assert len(raised) >= 13
    assert raised == {c[0] for c in CASES}
