"""The secretary's planning pages (issue 15): create and edit a meeting and its remote participants,
import a calendar invitation (.ics), send each remote member her invitation (H7), and the notice
period (H6) with the chair's decision.

* The roster TOML stays the format underneath: every save goes through
  :class:`collector.planning.rosterfile.RosterFile` with the revision the form was loaded with (a
  stale save is refused and says so; the other person's edit is kept), the roster parser's rules
  (a refused save shows :func:`collector.planning.messages.swedish` beside the form, with what the
  secretary typed kept; nothing is written), then the page waits until the runtime's roster watcher
  has the new file in force before it answers.
* Invitations (:mod:`collector.web.invitations`): the link is built from ``[http] public_url``
  (``WebDeps.public_url``), never from the request's Host; sending runs in a worker thread with a
  deadline; each sending is claimed in ``invitations`` before the SMTP call, so a double click or a
  form posted again never sends twice. The meeting's page itself: :mod:`collector.web.meeting_plan`.
* Who: the secretary of the meeting's body and IT edit and send; the chair of the body (and IT)
  records the notice decision (H6); a chair may see the meeting's page and form, not change them.
"""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse
from starlette.datastructures import UploadFile

from collector.auth import Principal, Role
from collector.planning import icsimport, mailer, messages
from collector.planning.rosterfile import RosterFile, RosterRefused, StaleEdit
from collector.web import invitations, meeting_form
from collector.web.access import CHAIR_OWN, IT, SECRETARY, SECRETARY_OWN, STAFF_OWN, STAFF_ROLES, Access, declare
from collector.web.context import WebDeps
from collector.web.meeting_form import say
from collector.web.meeting_plan import overview
from collector.web.msgids import N_
from collector.web.render import language, render
from likavillkor.config import ConfigError
from likavillkor.roster import BodyTable, Meeting, Participant, load_body_table, slug

log = logging.getLogger(__name__)

#: how long a save waits for the runtime to have the new roster in force before answering
RELOAD_WAIT_S = 10.0
DECISIONS = ("allowed", "refused")


@dataclass(frozen=True, slots=True)
class Planning:
    """What the planning routes share: the roster file, the body table, the mail settings."""

    web: WebDeps
    roster: RosterFile
    bodies: BodyTable
    smtp: mailer.SmtpSection

    def body_names(self, who: Principal) -> list[str]:
        return sorted(b for b in self.bodies.bodies if who.may_see_body(b))


def router(web: WebDeps, access: Access) -> APIRouter:
    config = web.runtime.config
    bodies = load_body_table(config.bodies or None)
    plan = Planning(web, RosterFile(config.roster_path, bodies), bodies, config.smtp)
    r = APIRouter(include_in_schema=False)
    _new_meeting_routes(r, plan)
    _meeting_routes(r, plan)
    _invitation_routes(r, plan)
    _notice_routes(r, plan)
    return r


def _guard(web: WebDeps, roles: tuple[Role, ...], allowed: tuple[str, ...], *, own: bool = True) -> Any:
    """A page's who-may-call dependency: one of ``roles`` (``own``: on the body of the meeting in the
    path), declared as ``allowed`` for collector.web.access (tests/web/test_route_access.py)."""
    auth = web.auth
    body_of = auth.meeting_path_body if own else None
    return declare(auth.require_roles(*roles, body_of=body_of, html=True), *allowed)


# -- the routes, one group at a time (registered in this order)


def _new_meeting_routes(r: APIRouter, plan: Planning) -> None:
    """A new meeting: its blank form, saving it, and a calendar invitation (.ics) as its draft."""
    Secretary = Annotated[Principal, Depends(_guard(plan.web, (Role.SECRETARY, Role.IT), (SECRETARY, IT), own=False))]

    @r.get("/secretary/meetings/new")
    async def new_meeting(request: Request, who: Secretary) -> Response:
        _, revision = await asyncio.to_thread(plan.roster.read)
        return form_page(request, plan, who, meeting_form.FormValues(revision=revision))

    @r.post("/secretary/meetings/new")
    async def create_meeting(request: Request, who: Secretary) -> Response:
        return await save(request, plan, who, meeting_form.values_of_form(await _form(request)), creating=True)

    @r.post("/secretary/import")
    async def import_ics(request: Request, who: Secretary) -> Response:
        return await import_page(request, plan, who)


def _meeting_routes(r: APIRouter, plan: Planning) -> None:
    """A meeting's page and its form: the chair may look, the secretary (and IT) may save."""
    web = plan.web
    SecretaryOwn = Annotated[Principal, Depends(_guard(web, (Role.SECRETARY, Role.IT), (SECRETARY_OWN, IT)))]
    StaffOwn = Annotated[Principal, Depends(_guard(web, STAFF_ROLES, STAFF_OWN))]

    @r.get("/secretary/{meeting_id}")
    async def meeting_page(request: Request, meeting_id: str, who: StaffOwn) -> Response:
        return await overview(request, plan, who, web.meeting(meeting_id))

    @r.get("/secretary/{meeting_id}/edit")
    async def edit_meeting(request: Request, meeting_id: str, who: StaffOwn) -> Response:
        web.meeting(meeting_id)
        text, revision = await asyncio.to_thread(plan.roster.read)
        table = meeting_form.meeting_table(text, meeting_id)
        if table is None:
            raise HTTPException(404, "no such meeting")
        return form_page(request, plan, who, meeting_form.values_of_table(table, revision))

    @r.post("/secretary/{meeting_id}/edit")
    async def save_meeting(request: Request, meeting_id: str, who: SecretaryOwn) -> Response:
        values = meeting_form.values_of_form(await _form(request))
        values.replaces = meeting_id
        return await save(request, plan, who, values, creating=False)


def _invitation_routes(r: APIRouter, plan: Planning) -> None:
    """Sending a remote member her invitation (H7; collector.web.invitations)."""
    web = plan.web
    SecretaryOwn = Annotated[Principal, Depends(_guard(web, (Role.SECRETARY, Role.IT), (SECRETARY_OWN, IT)))]

    @r.post("/secretary/{meeting_id}/invitations/{member_id}")
    async def send_invitation(request: Request, meeting_id: str, member_id: str, who: SecretaryOwn) -> Response:
        meeting = web.meeting(meeting_id)
        person = _participant(meeting, member_id)
        form = await _form(request)
        try:
            sequence = int(str(form.get("sequence", "")))
        except ValueError:
            raise HTTPException(400, "sequence missing") from None
        message = await invitations.send(plan, meeting, person, who, sequence, language(request))
        return await overview(request, plan, who, meeting, message=message, sent=message is None, member=person)


def _notice_routes(r: APIRouter, plan: Planning) -> None:
    """The chair's decision on a late request (H6)."""
    web = plan.web
    ChairOwn = Annotated[Principal, Depends(_guard(web, (Role.CHAIR, Role.IT), (CHAIR_OWN, IT)))]

    @r.post("/secretary/{meeting_id}/notice/{member_id}")
    async def notice_decision(request: Request, meeting_id: str, member_id: str, who: ChairOwn) -> Response:
        meeting = web.meeting(meeting_id)
        person = _participant(meeting, member_id)
        form = await _form(request)
        decision = str(form.get("decision", ""))
        if decision not in DECISIONS:
            raise HTTPException(400, "decision must be allowed or refused")
        error = await decide(plan, meeting, person, who, decision, str(form.get("revision", "")), language(request))
        return await overview(
            request,
            plan,
            who,
            web.meeting(meeting_id),
            message=error,
            member=person,
            decided=decision if error is None else "",
        )


async def _form(request: Request) -> dict[str, Any]:
    """The posted form's fields (bounded by collector.web.bodylimit before it is read)."""
    return dict((await request.form()).items())


def _participant(meeting: Meeting, member_id: str) -> Participant:
    for p in meeting.participants:
        if p.member_id == member_id:
            return p
    raise HTTPException(404, "no such participant")


# -- the meeting form --------------------------------------------------------------------------------


def form_page(
    request: Request,
    plan: Planning,
    who: Principal,
    values: meeting_form.FormValues,
    *,
    errors: list[str] | None = None,
    stale: bool = False,
    status: int = 200,
    notes: tuple[str, ...] = (),
) -> Response:
    bodies = plan.body_names(who)
    if values.body and values.body.casefold() not in bodies:
        bodies = [values.body, *bodies]
    return render(
        request,
        plan.web,
        "meeting_edit.html",
        status=status,
        who=who,
        v=values,
        errors=errors or [],
        stale=stale,
        bodies=bodies,
        notes=notes,
        may_edit=who.role in (Role.SECRETARY, Role.IT),
        roles=meeting_form.ROLES,
        systems=meeting_form.SYSTEMS,
        monitoring=meeting_form.MONITORING,
        action=f"/secretary/{quote(values.replaces)}/edit" if values.replaces else "/secretary/meetings/new",
        ics_max_bytes=icsimport.MAX_BYTES,
    )


async def save(
    request: Request, plan: Planning, who: Principal, values: meeting_form.FormValues, *, creating: bool
) -> Response:
    """Validate, save through RosterFile (lock, revision, the roster's rules, atomic write), wait for
    the runtime to load it, then show the meeting's page. Refusals: the form again, as typed."""
    web = plan.web
    lang = language(request)
    edit, errors = meeting_form.edit_of(values, lang)
    if edit is not None and not who.may_see_body(edit.body):
        errors = [say(N_("plan.err.not_your_body"), lang, body=edit.body)]
        edit = None
    if edit is not None and creating and edit.id in web.runtime.roster().meetings:
        errors = [messages.SV["meeting_id_twice"].format(meeting=edit.id)]
        edit = None
    if edit is None:
        web.count("roster_edit_unreadable")
        return form_page(request, plan, who, values, errors=errors, status=422)
    try:
        await asyncio.to_thread(plan.roster.save_meeting, edit, values.revision, replaces=values.replaces or None)
    except StaleEdit as exc:
        web.count("roster_edit_stale")
        log.info("roster edit of %s by %s refused: %s", edit.id, who.username, exc)
        return form_page(request, plan, who, values, stale=True, errors=[say(N_("plan.err.stale"), lang)], status=409)
    except RosterRefused as exc:
        web.count("roster_edit_refused")
        log.info("roster edit of %s by %s refused: %s", edit.id, who.username, exc)
        return form_page(request, plan, who, values, errors=[messages.said(exc.error, lang)], status=422)
    except ConfigError as exc:  # the file on disk is unreadable (too large): say so, write nothing
        web.count("roster_edit_refused")
        log.warning("roster edit of %s by %s refused: %s", edit.id, who.username, exc)
        return form_page(request, plan, who, values, errors=[messages.said(exc, lang)], status=422)
    log.info("roster: meeting %s saved by %s (%d participants)", edit.id, who.username, len(edit.participants))
    loaded = await reloaded(web, lambda roster: _in_force(roster, edit.id, values.replaces))
    query = "?lang=en&" if lang == "en" else "?"
    note = "saved" if loaded else "saved_pending"
    return RedirectResponse(f"/secretary/{quote(edit.id)}{query}note={note}", status_code=303)


def _in_force(roster: Any, meeting_id: str, replaced: str) -> bool:
    return meeting_id in roster.meetings and (not replaced or replaced == meeting_id or replaced not in roster.meetings)


async def reloaded(web: WebDeps, done: Callable[[Any], bool]) -> bool:
    """Wait until the runtime has the saved roster in force (``done(roster)``): its watcher
    (collector/runtime/roster_watch.py, every second in the housekeeping thread) loads the new file.
    Not loaded from here: two threads loading at once could put an older file in force after a
    newer one. The page after a save shows the roster in force, or says it is on its way."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RELOAD_WAIT_S
    while not done(web.runtime.roster()):
        if loop.time() > deadline:
            log.warning("the saved roster is not in force after %.0f s", RELOAD_WAIT_S)
            return False
        await asyncio.sleep(0.1)
    return True


async def import_page(request: Request, plan: Planning, who: Principal) -> Response:
    """An Outlook/Exchange invitation (.ics) -> a new meeting's form, filled in; the body limit
    (collector.web.bodylimit) bounded the upload before it was read."""
    lang = language(request)
    form = await request.form()
    upload = form.get("ics")
    _, revision = await asyncio.to_thread(plan.roster.read)
    blank = meeting_form.FormValues(revision=revision)
    if not isinstance(upload, UploadFile):
        return form_page(request, plan, who, blank, errors=[say(N_("plan.err.no_file"), lang)], status=422)
    data = await upload.read(icsimport.MAX_BYTES + 1)
    try:
        drafts = icsimport.parse_ics(data, plan.bodies)
    except icsimport.IcsError as exc:
        plan.web.count("ics_refused")
        log.info("calendar import by %s refused: %s", who.username, exc)
        return form_page(request, plan, who, blank, errors=[messages.said(exc, lang)], status=422)
    if not drafts:
        return form_page(request, plan, who, blank, errors=[say(N_("plan.err.only_cancelled"), lang)], status=422)
    draft = drafts[0]
    notes = list(draft.notes)
    if len(drafts) > 1:
        notes.append(say(N_("plan.note.several"), lang, n=len(drafts)))
    notes.append(say(N_("plan.note.complete"), lang))
    plan.web.count("ics_imported")
    return form_page(request, plan, who, meeting_form.values_of_draft(draft, revision), notes=tuple(notes))


# -- the chair's notice decision (H6) --------------------------------------------------------------


async def decide(
    plan: Planning, meeting: Meeting, p: Participant, who: Principal, decision: str, revision: str, lang: str = "sv"
) -> str | None:
    """The chair's decision on a late request (H6) -> the roster (``notice_decision``) and an
    ``actions`` row (kind ``notice_decision``, the decision in ``note``). None, or the Swedish reason."""
    web = plan.web
    text, _ = await asyncio.to_thread(plan.roster.read)
    table = meeting_form.meeting_table(text, meeting.id)
    if table is None:
        return say(N_("plan.err.meeting_gone"), lang)
    values = meeting_form.values_of_table(table, revision)
    for row in values.participants:
        if (row["member_id"] or slug(row["name"])) == p.member_id:
            row["notice_decision"] = decision
    edit, errors = meeting_form.edit_of(values, lang)
    if edit is None:
        return " ".join(errors)
    try:
        await asyncio.to_thread(plan.roster.save_meeting, edit, revision, replaces=meeting.id)
    except StaleEdit:
        web.count("roster_edit_stale")
        return say(N_("plan.err.stale"), lang)
    except (RosterRefused, ConfigError) as exc:
        err = exc.error if isinstance(exc, RosterRefused) else exc
        return messages.said(err, lang)
    web.runtime.store.put(
        "action",
        {
            "meeting_id": meeting.id,
            "kind": "notice_decision",
            "at": web.runtime.clock(),
            "by": who.username,
            "member_id": p.member_id,
            "item": None,
            "note": decision,
        },
    )
    log.info("notice (H6) for %s/%s: %s by %s", meeting.id, p.member_id, decision, who.username)

    def done(roster: Any) -> bool:
        m = roster.meetings.get(meeting.id)
        return m is not None and any(
            x.member_id == p.member_id and x.notice_decision == decision for x in m.participants
        )

    await reloaded(web, done)
    return None
