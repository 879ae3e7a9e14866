"""The API's request and response bodies (Pydantic, for validation and /openapi.json). The meeting
view itself is the engine's ``MeetingView`` (msgspec), put into the schema by ``collector.web.app``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from collector.engine import ActionKind
from likavillkor import wire


class ActionIn(BaseModel):
    """A chair's or secretary's action (H5 votes, H15 adjourn/resume, H18 conflict of interest)."""

    kind: ActionKind
    by: str = Field(
        default="",
        max_length=200,
        description="who recorded it (name or role); a signed-in user is recorded as themself",
    )
    member_id: str | None = Field(default=None, max_length=128)
    item: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)
    substitute_id: str | None = Field(
        default=None,
        max_length=128,
        description="substitute: the ersättare (on this meeting's roster) who steps in for member_id (H16)",
    )
    at: float | None = Field(
        default=None,
        ge=946_684_800,
        le=4_102_444_800,
        allow_inf_nan=False,
        description="epoch seconds (2000-2100); default: now (collector clock)",
    )


class DeviceMeeting(BaseModel):
    id: str
    body: str
    start: float
    end: float
    system: str
    room: str


class CheckIn(BaseModel):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_.-]*$")
    status: wire.CheckStatus
    value: float | bool | str | None = Field(default=None)
    unit: str | None = Field(default=None, max_length=16)
    summary: str | None = Field(default=None, max_length=2000)
    rule: str | None = Field(default=None, max_length=16)


class BrowserSelftestIn(BaseModel):
    """What the browser self-test posts. The server decides ``overall`` from the checks."""

    started_at: float = Field(ge=946_684_800, le=4_102_444_800)
    duration_s: float = Field(ge=0, le=3600)
    checks: list[CheckIn] = Field(max_length=32)
    user_agent: str | None = Field(default=None, max_length=400)


class SelftestAccepted(BaseModel):
    overall: wire.CheckStatus
    outcome: str
    meeting_id: str
    member_id: str
    checks: int


class MemberStatus(BaseModel):
    meeting_id: str
    member_id: str
    name: str
    state: str | None
    selftest: dict[str, Any] | None
    mediapath: dict[str, Any] | None
    at: float
    #: why, main reason first, Swedish and English (`code`, `sv`, `en`, `rule`): e.g. an unmet
    #: precondition that puts the meeting at risk ("mobildata", H9) is shown to the member too (issue 11)
    reasons: list[dict[str, Any]] = []
    #: H18: excused for an item (*jäv*) since, for which item; when the chair recorded her return
    excused_at: float | None = None
    excused_item: str | None = None
    returned_at: float | None = None
    #: H17: her report that she does not take part on equal terms, while it stands
    unequal_at: float | None = None
    #: what her page says about these, in her language ("" when nothing)
    notice: str = ""
    unequal_text: str = ""


class UnequalIn(BaseModel):
    """The member's own report (H17): optional words for the chair."""

    note: str = Field(default="", max_length=500)


class UnequalAccepted(BaseModel):
    meeting_id: str
    member_id: str
    at: float
    message: str


class LinkOut(BaseModel):
    member_id: str
    name: str
    role: str
    device_id: str
    email: str | None
    url: str
    expires_at: float
    monitoring: str = "agent"  # issue 11: how she is watched; "browser" members keep companion_url open
    companion_url: str = ""  # the companion page (följesidan), same personal token as the self-test


class WebCounters(BaseModel):
    """Sign-in and page counters (bad input is counted, logged once, never a crash)."""

    auth: dict[str, int]
    pages: dict[str, int]
    event_streams: int


class FailingDeviceOut(BaseModel):
    device_id: str
    member_ids: list[str]
    incidents: int
    failures: int
    meetings: int
    kinds: dict[str, int]
    last_at: float
