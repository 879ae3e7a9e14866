"""Sending a remote member her invitation (H7; issue 15), from the secretary's meeting page
(:mod:`collector.web.planning`): the self-test link from ``[http] public_url`` (never the request's
Host), the mail sent in a worker thread with a deadline, and each sending claimed in
``invitations`` before the SMTP call (:mod:`collector.planning.records`) with the sequence the
page's button names, so a double click or a form posted again never sends twice."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from collector.auth import Principal
from collector.planning import invitation, mailer, messages, records
from collector.web import selftest_links
from collector.web.context import WebDeps
from collector.web.meeting_form import say
from collector.web.msgids import N_
from likavillkor.roster import Meeting, Participant

if TYPE_CHECKING:
    from collector.web.planning import Planning

log = logging.getLogger(__name__)

#: a sending still ``sending`` this long after its deadline was abandoned (the collector stopped mid-call)
ABANDONED_GRACE_S = 60.0


def mail_domain(public_url: str) -> str:
    host = urlsplit(public_url).hostname or ""
    return host if "." in host else "likavillkor.invalid"


async def send(
    plan: Planning, meeting: Meeting, p: Participant, who: Principal, sequence: int, lang: str = "sv"
) -> str | None:
    """Send ``p`` her invitation (H7): None when it went, else the Swedish reason (also recorded)."""
    if not p.email:
        return say(N_("plan.err.no_email"), lang, name=p.name)
    if not plan.smtp.configured:
        return say(N_("plan.no_smtp"), lang)
    deadline = plan.smtp.timeout_s * 4 + 5  # connect, STARTTLS, AUTH, DATA: each step has timeout_s
    link = link_of(plan.web, meeting, p)
    try:
        return await asyncio.wait_for(
            asyncio.to_thread(_send_now, plan, meeting, p, who, sequence, link=link, deadline=deadline, lang=lang),
            timeout=deadline,
        )
    except TimeoutError:
        plan.web.count("invitation_slow")
        return say(N_("plan.err.slow"), lang, name=p.name)


def link_of(web: WebDeps, meeting: Meeting, p: Participant) -> str:
    """Her self-test link (H7) on ``[http] public_url``; empty when the meeting has none for her."""
    return next(
        (
            web.public_url + x.path
            for x in selftest_links.links_for_meeting(web.secret, meeting, web.link_grace_s)
            if x.member_id == p.member_id
        ),
        "",
    )


def _send_now(
    plan: Planning,
    meeting: Meeting,
    p: Participant,
    who: Principal,
    sequence: int,
    *,
    link: str,
    deadline: float,
    lang: str,
) -> str | None:
    """In a worker thread: claim the sending (once per sequence), mail it, record how it went."""
    web = plan.web
    engine = web.runtime.store.engine
    clock = web.runtime.clock
    try:
        sending = records.claim(
            engine,
            meeting.id,
            p.member_id,
            p.email or "",
            at=clock(),
            by=who.username,
            sequence=sequence,
            abandoned_after_s=deadline + ABANDONED_GRACE_S,
        )
    except records.AlreadySending:
        web.count("invitation_already_sent")
        return say(N_("plan.err.already"), lang, name=p.name)
    inv = invitation.Invitation(
        meeting,
        p,
        link,
        sender=plan.smtp.sender,
        organizer_name=plan.smtp.signature,
        servicedesk=plan.smtp.servicedesk,
        sequence=sending.sequence,
        domain=mail_domain(web.public_url),
    )
    try:
        mailer.send(plan.smtp, invitation.build(inv, dt.datetime.fromtimestamp(clock(), dt.UTC)))
    except mailer.MailError as exc:
        records.finish(engine, sending, ok=False, error=exc.message_sv, at=clock())
        web.count("invitation_failed")
        log.warning("invitation %s/%s (sending %d) failed: %s", meeting.id, p.member_id, sending.sequence, exc)
        return messages.said(exc, lang)
    except Exception as exc:  # never a sending left "sending" forever
        records.finish(engine, sending, ok=False, error="Oväntat fel vid sändningen.", at=clock())
        log.exception("invitation %s/%s failed", meeting.id, p.member_id)
        raise exc
    records.finish(engine, sending, ok=True, at=clock())
    web.count("invitation_sent")
    log.info("invitation %s/%s (sending %d) sent by %s", meeting.id, p.member_id, sending.sequence, who.username)
    return None
