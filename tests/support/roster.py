"""Rosters for tests, in one place: the roster TOML a test needs is written or built here, never
copied into the test file.

- :func:`write_roster`: one meeting running now with numbered members (collector, faults, e2e).
- :func:`write_web_roster`: the web suite's municipality (two bodies, meetings before, now and after).
- :func:`fixed_roster`: a meeting at a fixed date (unit tests, credentials generation), one member
  Anna by default; the ``roster_text`` fixture in tests/conftest.py returns it.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

#: the fixed meeting's times (1 December 2026, 09:00-12:00 Swedish winter time)
FIXED_START = "2026-12-01T09:00:00+01:00"
FIXED_END = "2026-12-01T12:00:00+01:00"


def iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def fixed_roster(
    meeting_id: str = "ks-1",
    members: tuple[tuple[str, str], ...] = (("Anna Andersson", "anna-ipad"),),
    *,
    body: str = "kommunstyrelsen",
) -> str:
    """A roster TOML with one meeting at :data:`FIXED_START`; ``members``: (name, device id) pairs."""
    lines = [
        "[[meeting]]",
        f'id = "{meeting_id}"',
        f'body = "{body}"',
        f"start = {FIXED_START}",
        f"end = {FIXED_END}",
        "",
    ]
    for name, device_id in members:
        lines += ["[[meeting.participant]]", f'name = "{name}"', f'device_id = "{device_id}"', ""]
    return "\n".join(lines)


def write_roster(
    path: Path,
    devices: list[str],
    *,
    meeting_id: str = "ks-test",
    start: float | None = None,
    duration_s: float = 7200,
    body: str = "kommunstyrelsen",
) -> Path:
    """One meeting that started a minute ago; member ``i`` ("Ledamot i", ``member-i``) on ``devices[i]``."""
    start = time.time() - 60 if start is None else start
    lines = [
        "[[meeting]]",
        f'id = "{meeting_id}"',
        f'body = "{body}"',
        f"start = {iso(start)}",
        f"end = {iso(start + duration_s)}",
        'room = "Sessionssalen"',
        "",
    ]
    for i, d in enumerate(devices):
        lines += [
            "[[meeting.participant]]",
            f'name = "Ledamot {i}"',
            f'member_id = "member-{i}"',
            f'device_id = "{d}"',
            "",
        ]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_web_roster(path: Path, now: float) -> None:
    """ks-test (kommunstyrelsen, running now) with Anna and Bo, ks-later (tomorrow) and ks-earlier
    (yesterday) with Anna; sn-test (socialnämnden, running now) with Zoe."""
    path.write_text(
        f"""
[[meeting]]
id = "ks-test"
body = "kommunstyrelsen"
start = {iso(now - 60)}
end = {iso(now + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Anna Andersson"
member_id = "anna"
device_id = "dev-a"
email = "anna@example.org"

[[meeting.participant]]
name = "Bo Berg"
member_id = "bo"
device_id = "dev-b"
role = "ersättare"

[[meeting]]
id = "ks-later"
body = "kommunstyrelsen"
start = {iso(now + 86400)}
end = {iso(now + 86400 + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Anna Andersson"
member_id = "anna"
device_id = "dev-a"

[[meeting]]
id = "ks-earlier"
body = "kommunstyrelsen"
start = {iso(now - 86400)}
end = {iso(now - 86400 + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Anna Andersson"
member_id = "anna"
device_id = "dev-a"

[[meeting]]
id = "sn-test"
body = "socialnämnden"
start = {iso(now - 60)}
end = {iso(now + 7200)}
room = "Rum 2"

[[meeting.participant]]
name = "Zoe Zetterberg"
member_id = "zoe"
device_id = "dev-z"
""",
        encoding="utf-8",
    )


def write_companion_roster(path: Path, now: float) -> None:
    """ks-test running now: Anna on her companion iPad, Bo on an agent, Cecilia unwatched (issue 11)."""
    path.write_text(
        f"""
[[meeting]]
id = "ks-test"
body = "kommunstyrelsen"
start = {iso(now - 60)}
end = {iso(now + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Anna Andersson"
member_id = "anna"
device_id = "anna-ipad"

[[meeting.participant]]
name = "Bo Berg"
member_id = "bo"
device_id = "dev-b"

[[meeting.participant]]
name = "Cecilia Carlsson"
member_id = "cecilia"
device_id = "cecilia-ipad"
monitoring = "none"

[[device]]
id = "anna-ipad"
kind = "ipad"

[[device]]
id = "cecilia-ipad"
kind = "ipad"
""",
        encoding="utf-8",
    )


def write_chair_roster(path: Path, now: float) -> None:
    """The chair's page (issue 15): ks-chair running now (Anna and Cilla ledamöter, Bo ersättare not
    serving); ks-soon starting in 10 minutes (Dan, past the 15-minute deadline, H8); ks-pre in 40
    minutes (Eva, before it); ks-tablet running now with eight members, long names included."""
    names = [
        "Anna-Karin Wahlström Lindqvist",
        "Per Olof Sundberg",
        "Maria Hedenstierna-Abrahamsson",
        "Li Wu",
        "Sven-Erik Ångström",
        "Fatima al-Hassan",
        "Gunnel Öberg",
        "Hugo Ek",
    ]
    tablet = "".join(
        f'\n[[meeting.participant]]\nname = "{n}"\nmember_id = "t{i}"\ndevice_id = "dev-t{i}"\n'
        + ('role = "ersättare"\n' if i % 3 == 2 else "")
        for i, n in enumerate(names)
    )
    path.write_text(
        f"""
[[meeting]]
id = "ks-chair"
body = "kommunstyrelsen"
start = {iso(now - 60)}
end = {iso(now + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Anna Andersson"
member_id = "anna"
device_id = "dev-a"

[[meeting.participant]]
name = "Bo Berg"
member_id = "bo"
device_id = "dev-b"
role = "ersättare"

[[meeting.participant]]
name = "Cilla Carlsson"
member_id = "cilla"
device_id = "dev-c"

[[meeting]]
id = "ks-soon"
body = "kommunstyrelsen"
start = {iso(now + 600)}
end = {iso(now + 600 + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Dan Dahl"
member_id = "dan"
device_id = "dev-d"

[[meeting]]
id = "ks-pre"
body = "kommunstyrelsen"
start = {iso(now + 2400)}
end = {iso(now + 2400 + 7200)}
room = "Sessionssalen"

[[meeting.participant]]
name = "Eva Ek"
member_id = "eva"
device_id = "dev-e"

[[meeting]]
id = "ks-tablet"
body = "kommunstyrelsen"
start = {iso(now - 60)}
end = {iso(now + 7200)}
room = "Sessionssalen"
{tablet}""",
        encoding="utf-8",
    )
