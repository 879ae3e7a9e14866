"""The roster TOML edited from the secretary's page, safely.

The TOML file stays the format underneath, so IT can keep it in version control: edits go through
tomlkit, which keeps every comment and the layout outside the meeting being edited. A save

1. takes an exclusive lock (``<roster>.lock``, fcntl) so two saves never interleave,
2. re-reads the file and refuses the edit when it changed since the editor loaded it (the page sends
   the revision it loaded, a SHA-256 of the text): no lost edit when two people save,
3. validates the whole new roster with the same parser the collector uses
   (:func:`likavillkor.roster.parse_roster`); a rule broken -> :class:`RosterRefused` with the rule's
   code, and nothing is written,
4. writes a temporary file beside it, fsyncs, and renames it over the old one (never half-written),
   keeping the file's mode.

The collector's roster watcher then reloads the file as it does after a hand edit.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.items import AoT, Table

from likavillkor.config import ConfigError
from likavillkor.roster import BodyTable, Roster, RosterError, parse_roster

MAX_ROSTER_BYTES = 4 << 20


class StaleEdit(Exception):
    """The file changed since the editor loaded it."""


class RosterRefused(Exception):
    """The edited roster breaks a rule; ``error`` is the parser's (a :class:`RosterError` when the
    rule has a code)."""

    def __init__(self, error: ConfigError) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(slots=True)
class ParticipantEdit:
    name: str
    device_id: str
    role: str = "ledamot"
    member_id: str = ""
    email: str = ""
    serving: bool | None = None
    monitoring: str = ""
    requested_at: dt.datetime | None = None
    notice_decision: str = ""


@dataclass(slots=True)
class MeetingEdit:
    id: str
    body: str
    start: dt.datetime
    end: dt.datetime
    room: str = ""
    system: str = ""
    system_exception: str = ""
    secret: bool = False
    program_url: str = ""
    participants: list[ParticipantEdit] = field(default_factory=list)


def revision_of(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class RosterFile:
    def __init__(self, path: str | Path, bodies: BodyTable | None = None) -> None:
        self.path = Path(path)
        self.bodies = bodies

    def read(self) -> tuple[str, str]:
        """The text and its revision ("" and the empty revision for a file not yet made)."""
        try:
            if self.path.stat().st_size > MAX_ROSTER_BYTES:
                raise ConfigError(f"roster over {MAX_ROSTER_BYTES} bytes", source=str(self.path))
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        return text, revision_of(text)

    def load(self) -> tuple[Roster, str]:
        text, rev = self.read()
        return parse_roster(text, source=str(self.path), bodies=self.bodies), rev

    def save_meeting(self, edit: MeetingEdit, base_revision: str, *, replaces: str | None = None) -> str:
        """Create or replace one meeting (``replaces``: the id it had when loaded, for a renamed
        meeting). Returns the new revision."""
        return self._change(base_revision, lambda doc: _put_meeting(doc, edit, replaces or edit.id))

    def delete_meeting(self, meeting_id: str, base_revision: str) -> str:
        return self._change(base_revision, lambda doc: _drop_meeting(doc, meeting_id))

    def _change(self, base_revision: str, edit: Any) -> str:
        with self._locked():
            text, rev = self.read()
            if rev != base_revision:
                raise StaleEdit(f"roster changed since revision {base_revision} (now {rev})")
            doc = tomlkit.parse(text)
            edit(doc)
            new = tomlkit.dumps(doc)
            try:
                parse_roster(new, source=str(self.path), bodies=self.bodies)
            except RosterError as exc:
                raise RosterRefused(exc) from None
            except ConfigError as exc:
                raise RosterRefused(exc) from None
            self._write(new)
            return revision_of(new)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _write(self, text: str) -> None:
        mode = self.path.stat().st_mode & 0o777 if self.path.exists() else 0o640
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _meetings(doc: Any) -> AoT:
    existing = doc.get("meeting")
    if existing is None:
        doc.append("meeting", tomlkit.aot())
        existing = doc["meeting"]
    return existing


def _index_of(meetings: AoT, meeting_id: str) -> int | None:
    for i, table in enumerate(meetings):
        if table.get("id") == meeting_id:
            return i
    return None


def _put_meeting(doc: Any, edit: MeetingEdit, old_id: str) -> None:
    meetings = _meetings(doc)
    i = _index_of(meetings, old_id)
    if i is None:
        meetings.append(_meeting_table(edit, tomlkit.table()))
    else:
        _meeting_table(edit, meetings[i])


def _drop_meeting(doc: Any, meeting_id: str) -> None:
    meetings = _meetings(doc)
    i = _index_of(meetings, meeting_id)
    if i is None:
        raise KeyError(meeting_id)
    del meetings[i]


def _set(table: Table, key: str, value: Any, default: Any) -> None:
    """Write a field, or drop it when it holds the default (the file stays as short as by hand)."""
    if value == default or value is None:
        if key in table:
            del table[key]
    else:
        table[key] = value


def _meeting_table(edit: MeetingEdit, table: Table) -> Table:
    table["id"] = edit.id
    table["body"] = edit.body
    table["start"] = edit.start
    table["end"] = edit.end
    _set(table, "room", edit.room, "")
    _set(table, "system", edit.system, "")
    _set(table, "system_exception", edit.system_exception, "")
    _set(table, "secret", edit.secret, False)
    _set(table, "program_url", edit.program_url, "")
    if "participant" in table:
        del table["participant"]
    if edit.participants:
        people = tomlkit.aot()
        for p in edit.participants:
            people.append(_participant_table(p))
        table["participant"] = people
    return table


def _participant_table(p: ParticipantEdit) -> Table:
    t = tomlkit.table()
    t["name"] = p.name
    _set(t, "member_id", p.member_id, "")
    t["role"] = p.role
    _set(t, "serving", p.serving, None)
    t["device_id"] = p.device_id
    _set(t, "monitoring", p.monitoring, "")
    _set(t, "email", p.email, "")
    _set(t, "requested_at", p.requested_at, None)
    _set(t, "notice_decision", p.notice_decision, "")
    return t
