"""Who was invited, when, and how it went (H7): one row per sending in ``invitations``.

:func:`claim` inserts the row as ``sending`` *before* the SMTP call, under the unique key
(meeting, member, sequence): a second click, or a second collector, racing for the same sending
fails to insert and is told the invitation is already on its way, so nothing is sent twice.
:func:`finish` records the outcome. A repeat is an explicit new sending with the next sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from collector.store import schema as s


class AlreadySending(Exception):
    """Another sending of this invitation is claimed and not finished."""


@dataclass(frozen=True, slots=True)
class Sending:
    id: int
    meeting_id: str
    member_id: str
    email: str
    sequence: int
    status: str
    error: str | None
    at: float
    by: str


#: the reason recorded for a sending left ``sending`` by a collector that stopped during the SMTP call
ABANDONED_SV = "Sändningen avbröts (collectorn stoppades under sändningen). Skicka igen."


def claim(
    engine: sa.Engine,
    meeting_id: str,
    member_id: str,
    email: str,
    *,
    at: float,
    by: str,
    sequence: int | None = None,
    abandoned_after_s: float | None = None,
) -> Sending:
    """Claim the next sending of this member's invitation. Raises :class:`AlreadySending` while an
    earlier one is still ``sending`` or when another caller took the same sequence. ``sequence``: the
    sending the caller means (the page's button says which); another one is refused, so a form posted
    twice (a double click, the browser's back button) never sends a second time.
    ``abandoned_after_s``: a ``sending`` older than this (past every deadline of the SMTP call: its
    collector stopped) is recorded ``failed`` with :data:`ABANDONED_SV` instead of blocking forever."""
    t = s.invitations
    with engine.begin() as conn:
        if abandoned_after_s is not None:
            conn.execute(
                t.update()
                .where(
                    t.c.meeting_id == meeting_id,
                    t.c.member_id == member_id,
                    t.c.status == "sending",
                    t.c.at < at - abandoned_after_s,
                )
                .values(status="failed", error=ABANDONED_SV)
            )
        rows = conn.execute(
            sa.select(t.c.sequence, t.c.status).where(t.c.meeting_id == meeting_id, t.c.member_id == member_id)
        ).all()
        if any(status == "sending" for _, status in rows):
            raise AlreadySending(f"{meeting_id}/{member_id}")
        next_sequence = max((seq for seq, _ in rows), default=-1) + 1
        if sequence is not None and sequence != next_sequence:
            raise AlreadySending(f"{meeting_id}/{member_id}: sending {sequence} asked, next is {next_sequence}")
        sequence = next_sequence
        try:
            key = conn.execute(
                t.insert().values(
                    meeting_id=meeting_id,
                    member_id=member_id,
                    email=email,
                    sequence=sequence,
                    status="sending",
                    at=at,
                    by=by,
                )
            ).inserted_primary_key
        except sa.exc.IntegrityError:
            raise AlreadySending(f"{meeting_id}/{member_id}") from None
    assert key is not None
    return Sending(int(key[0]), meeting_id, member_id, email, sequence, "sending", None, at, by)


def finish(engine: sa.Engine, sending: Sending, *, ok: bool, error: str = "", at: float) -> None:
    t = s.invitations
    with engine.begin() as conn:
        conn.execute(
            t.update()
            .where(t.c.id == sending.id)
            .values(status="sent" if ok else "failed", error=error[:500] or None, at=at)
        )


def for_meeting(engine: sa.Engine, meeting_id: str) -> dict[str, list[Sending]]:
    """Every sending per member, oldest first."""
    t = s.invitations
    out: dict[str, list[Sending]] = {}
    with engine.connect() as conn:
        for r in conn.execute(sa.select(t).where(t.c.meeting_id == meeting_id).order_by(t.c.sequence)):
            out.setdefault(r.member_id, []).append(
                Sending(r.id, r.meeting_id, r.member_id, r.email, r.sequence, r.status, r.error, r.at, r.by)
            )
    return out
