"""The companion page (*följesidan*, issue 11): routes. The measurements and bounds are in
``collector/companion.py``; the engine's side in ``collector/engine/monitoring.py``.

* ``GET /companion/{token}`` — the page, for the member whose personal link it is (the self-test
  link's token, ``collector/web/selftest_links.py``): her own state in large text, Swedish first.
* ``WS /companion/{token}/ws`` — probes and echoes, page visibility, her state (docs/web.md).
* ``POST /companion/{token}/bye`` — ``navigator.sendBeacon`` on ``pagehide``: the page is closing.
* ``POST /companion/{token}/rtc`` — the page's WebRTC offer for an unordered data channel beside its
  socket (``collector/web/companion_rtc.py``), where the browser has ``RTCPeerConnection``.

A forged, expired or other member's link is refused with a clear message, counted
(``likavillkor_companion_events_total{event="link_..."}``), logged once a minute per reason, and
changes nothing else in the meeting.
"""

# No `from __future__ import annotations`: FastAPI resolves the Annotated dependencies at runtime.
import asyncio
import contextlib
import itertools
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from collector.companion import CompanionHub, Limits, ProbeStats, companion_sample, parse_message
from collector.web import i18n, selftest_links
from collector.web.access import MEMBER_OWN, LinkCheck, declare
from collector.web.context import WebDeps
from collector.web.port import WebRuntime
from collector.web.render import language, render
from likavillkor.roster import Meeting, Monitoring, Participant

log = logging.getLogger(__name__)
#: WebSocket close codes: 4403 invalid link, 4410 expired link, 4429 too many sockets, 1009 too big
CLOSE_INVALID, CLOSE_EXPIRED, CLOSE_BUSY, CLOSE_TOO_BIG = 4403, 4410, 4429, 1009
_CLEAN_CLOSE = (1000, 1001)  # the page closed the socket itself: closed, not lost


class _LogOnce:
    """One log line per reason a minute; the counters have the rest."""

    def __init__(self) -> None:
        self._last: dict[str, float] = {}

    def __call__(self, reason: str, detail: str = "") -> None:
        now = time.monotonic()
        if now - self._last.get(reason, -1e9) >= 60:
            self._last[reason] = now
            log.warning(
                "companion page: %s %s(further ones counted, not logged for a minute)",
                reason,
                f"({detail}) " if detail else "",
            )


_LINK_IN_PATH = re.compile(r"/(companion|selftest)/[A-Za-z0-9_.=-]{8,}")


class RedactLinks(logging.Filter):
    """A personal link is a credential: uvicorn logs every WebSocket's path ("WebSocket /companion/
    <token>/ws" [accepted]) even without an access log, so the token is cut out of its records."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(_LINK_IN_PATH.sub(r"/\1/…", a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str):
            record.msg = _LINK_IN_PATH.sub(r"/\1/…", record.msg)
        return True


def member_state_texts(lang: str) -> dict[str, str]:
    return {k[len("comp.") :]: v for k, v in i18n.bundle(lang).items() if k.startswith("comp.")}


def mount(app: Any, web: WebDeps, limits: Limits | None = None) -> CompanionHub:
    """Add the companion routes to ``app``; ``app.state.companion`` is the hub (its counters go to
    ``/metrics``)."""
    hub = CompanionHub(limits or Limits())
    app.state.companion = hub
    uv = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RedactLinks) for f in uv.filters):
        uv.addFilter(RedactLinks())
    app.include_router(router(web, hub))
    return hub


def router(deps: WebDeps, hub: CompanionHub) -> APIRouter:
    runtime = deps.runtime
    r = APIRouter()
    limits = hub.limits
    warn = _LogOnce()
    ids = itertools.count()
    sessions: dict[int, _Session] = {}  # open sockets by id, for the WebRTC offer to join its socket

    def check(token: str) -> LinkCheck:
        try:
            meeting, p = deps.resolve_link(token)
        except selftest_links.InvalidLink as exc:
            hub.count(f"link_{exc.reason.value}")
            warn(f"refused link: {exc.reason.value}")
            return LinkCheck(error=exc.reason)
        return LinkCheck(meeting=meeting, participant=p)

    async def member_link(token: str) -> LinkCheck:
        """Who may call: the member whose personal link ``token`` is (signed, unexpired, on the roster)."""
        return check(token)

    MemberLink = Annotated[LinkCheck, Depends(declare(member_link, MEMBER_OWN))]

    def view_of(meeting_id: str, member_id: str) -> dict[str, Any]:
        view = runtime.view(meeting_id)
        mine = next((x for x in view.participants if x.member_id == member_id), None) if view else None
        if mine is None:
            return {"t": "s", "state": None, "verdict": None}
        reason = mine.reason
        return {
            "t": "s",
            "state": mine.state.value,
            "verdict": view.verdict.value if view else None,
            "monitoring": mine.monitoring,
            "watched": mine.companion_open or mine.monitoring == "agent",
            "reason": {"code": reason.code, "sv": reason.sv, "en": reason.en} if reason is not None else None,
            "rtt_ms": mine.rtt_ms,
            "loss_percent": mine.loss_percent,
            "at": deps.now(),
        }

    @r.get("/companion/{token}", include_in_schema=False)
    async def companion_page(request: Request, token: str, who: MemberLink) -> Response:
        lang = language(request)
        if who.error is not None:
            status = 410 if who.error is selftest_links.LinkError.EXPIRED else 403
            return render(
                request,
                deps,
                "error.html",
                status=status,
                who=None,
                message=selftest_links.TEXT[who.error][lang],
                detail="",
            )
        assert who.meeting is not None and who.participant is not None
        boot = {
            "lang": lang,
            "texts": member_state_texts(lang),
            "ws_path": f"/companion/{token}/ws",
            "bye_url": f"/companion/{token}/bye",
            "selftest_url": f"/selftest/{token}",
            "monitoring": who.participant.monitoring.value,
            "probe_timeout_ms": int(limits.answer_deadline_s * 3000),
            "rtc_url": f"/companion/{token}/rtc",
            "ice_servers": deps.ice_servers,
        }
        response = render(
            request, deps, "companion.html", who=None, meeting=who.meeting, participant=who.participant, boot=boot
        )
        host = request.headers.get("host", "")
        # older Safari does not let 'self' cover ws:/wss: name this host explicitly
        csp = response.headers["Content-Security-Policy"].replace(
            "connect-src 'self'", f"connect-src 'self' ws://{host} wss://{host}"
        )
        response.headers["Content-Security-Policy"] = csp
        return response

    @r.post("/companion/{token}/bye", status_code=204, include_in_schema=False)
    async def companion_bye(request: Request, token: str, who: MemberLink) -> Response:
        if who.error is not None:
            return Response(status_code=410 if who.error is selftest_links.LinkError.EXPIRED else 403)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.bye_max_bytes:
                hub.count("message_too_big")
                return Response(status_code=413)
        assert who.meeting is not None and who.participant is not None
        key = (who.meeting.id, who.participant.member_id)
        hub.count("bye")
        if who.participant.monitoring is Monitoring.BROWSER:
            # "bye 7 12": socket 7 hidden or closing, at the page's 12th visibility change. A beacon
            # leaves even when iOS suspends the page at once (screen locked), where the socket's own
            # message may not; one older than what the socket already said is stale and ignored.
            sock, seq = _bye_of(body)
            session = sessions.get(sock) if sock is not None else None
            if session is not None and session.key != key:
                session = None  # another member's socket: not hers to hide
            if session is not None and seq is not None and seq < session.vis_seq:
                hub.count("bye_stale")
                return Response(status_code=204)
            if session is not None:
                session.visible = False
                session.vis_seq = seq if seq is not None else session.vis_seq
            if sock is None:
                hub.visible.pop(key, None)
            elif session is not None or sock not in sessions:
                hub.set_visible(key, sock, False)
            if not hub.visible.get(key):
                await asyncio.to_thread(runtime.companion, key[0], key[1], False)
        return Response(status_code=204)

    @r.post("/companion/{token}/rtc", include_in_schema=False)
    async def companion_rtc(request: Request, token: str, who: MemberLink) -> Response:
        from collector.web.companion_rtc import MAX_SDP_BYTES, RtcPath

        if who.error is not None:
            return Response(status_code=410 if who.error is selftest_links.LinkError.EXPIRED else 403)
        assert who.meeting is not None and who.participant is not None
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_SDP_BYTES:
                hub.count("message_too_big")
                return Response(status_code=413)
        try:
            offer = json.loads(body)
            sock, sdp = int(offer["sock"]), str(offer["sdp"])
        except (ValueError, KeyError, TypeError):
            hub.count("rtc_bad_offer")
            return Response(status_code=400)
        session = sessions.get(sock)
        if session is None or session.key != (who.meeting.id, who.participant.member_id):
            hub.count("rtc_bad_offer")  # another member's socket, or none: refused, nothing changes
            return Response(status_code=409)
        if sum(1 for s in sessions.values() if s.rtc is not None) >= limits.max_rtc:
            hub.count("rtc_busy")
            return Response(status_code=503)
        if session.rtc is not None:
            await session.rtc.close()
        rtc = RtcPath(limits, deps.ice_servers)
        try:
            answer = await asyncio.wait_for(rtc.answer(sdp), 10.0)
        except Exception as exc:
            await rtc.close()
            hub.count("rtc_bad_offer")
            warn("rtc_bad_offer", f"{type(exc).__name__}: {exc}")
            return Response(status_code=400)
        session.rtc = rtc
        hub.count("rtc_offer")

        async def watch() -> None:
            hub.count("rtc_open" if await rtc.expire() else "rtc_timeout")

        session.spawn(watch())
        return JSONResponse(answer)

    @r.websocket("/companion/{token}/ws")
    async def companion_ws(websocket: WebSocket, token: str, who: MemberLink) -> None:
        await websocket.accept()
        if who.error is not None:
            lang = "en" if websocket.query_params.get("lang") == "en" else "sv"
            await _refuse(
                websocket,
                selftest_links.TEXT[who.error][lang],
                CLOSE_EXPIRED if who.error is selftest_links.LinkError.EXPIRED else CLOSE_INVALID,
            )
            return
        assert who.meeting is not None and who.participant is not None
        meeting, p = who.meeting, who.participant
        key = (meeting.id, p.member_id)
        refusal = hub.admit(key)
        if refusal is not None:
            hub.count(refusal)
            warn(refusal, p.member_id)
            await _refuse(websocket, "för många öppna följesidor / too many open companion pages", CLOSE_BUSY)
            return
        hub.count("opened")
        sock = next(ids)
        session = _Session(websocket, hub, runtime, deps, meeting, p, sock, view_of, warn, lambda: check(token))
        sessions[sock] = session
        try:
            await session.run()
        finally:
            sessions.pop(sock, None)
            if session.rtc is not None:
                await session.rtc.close()
            hub.release(key)
            was_watched = bool(hub.visible.get(key))
            hub.set_visible(key, sock, False)
            if session.close_code in _CLEAN_CLOSE:
                hub.count("closed")
                if p.monitoring is Monitoring.BROWSER and was_watched and not hub.visible.get(key):
                    await asyncio.to_thread(runtime.companion, key[0], key[1], False)
            else:  # no goodbye (network cut, device off): silence decides, as for an agent (H15)
                hub.count("closed_abnormal")

    return r


def _bye_of(body: bytes) -> tuple[int | None, int | None]:
    """``b"bye 7 12"`` -> (7, 12); ``b"bye 7"`` -> (7, None); anything else (None, None)."""
    parts = body.decode("ascii", "replace").split()
    nums = [int(p) for p in parts[1:3] if p.isdigit() and len(p) < 10]
    if not parts or parts[0] != "bye" or len(nums) != len(parts) - 1:
        return None, None
    return (nums[0] if nums else None), (nums[1] if len(nums) > 1 else None)


async def _refuse(websocket: WebSocket, text: str, code: int) -> None:
    with contextlib.suppress(Exception):
        await websocket.send_json({"t": "error", "message": text})
        await websocket.close(code)


class _Session:
    """One open companion socket: probes out, echoes and visibility in, a sample a second."""

    def __init__(
        self,
        websocket: WebSocket,
        hub: CompanionHub,
        runtime: WebRuntime,
        deps: WebDeps,
        meeting: Meeting,
        p: Participant,
        sock: int,
        view_of: Any,
        warn: _LogOnce,
        still_valid: Callable[[], LinkCheck],
    ) -> None:
        self.still_valid = still_valid  # the link is checked again every report: expiry, roster changes
        self.ws, self.hub, self.runtime, self.deps = websocket, hub, runtime, deps
        self.meeting, self.p, self.sock, self.view_of, self.warn = meeting, p, sock, view_of, warn
        self.key = (meeting.id, p.member_id)
        self.limits = hub.limits
        self.stats = ProbeStats(self.limits.window, self.limits.answer_deadline_s)
        self.visible = False
        self.vis_seq = 0  # the page's count of visibility changes (messages and beacons), newest wins
        self.close_code: int | None = None
        self.browser = p.monitoring is Monitoring.BROWSER
        self._closer: asyncio.Future[None] | None = None
        self.rtc: Any = None  # collector.web.companion_rtc.RtcPath, when the page has WebRTC
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        sender = asyncio.create_task(self._send_loop())
        sender.add_done_callback(self._sender_done)
        try:
            await self._receive_loop()
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender

    def _sender_done(self, task: "asyncio.Task[None]") -> None:
        """A failing sender must not leave the socket open and silent (silence would read as her loss):
        close it, so the page reconnects at once."""
        if task.cancelled() or task.exception() is None:
            return
        exc = task.exception()
        if isinstance(exc, WebSocketDisconnect | RuntimeError | OSError):
            return  # the socket is gone; the receive loop sees it
        self.hub.count("server_error")
        log.error("companion page sender failed: %s: %s", type(exc).__name__, exc)
        self._closer = asyncio.ensure_future(self.ws.close(1011))

    async def _receive_loop(self) -> None:
        limits, hub = self.limits, self.hub
        while True:
            try:
                event = await self.ws.receive()
            except (WebSocketDisconnect, RuntimeError) as exc:
                self.close_code = getattr(exc, "code", 1006)
                return
            if event["type"] == "websocket.disconnect":
                self.close_code = int(event.get("code") or 1006)
                return
            text, data = event.get("text"), event.get("bytes")
            raw: str | bytes = text if isinstance(text, str) else data if isinstance(data, bytes) else b""
            now = time.monotonic()
            if not hub.allow(self.key, now):
                hub.count("rate_limited")
                self.warn("rate_limited", self.p.member_id)
                continue
            if len(raw) > limits.max_message_bytes:
                hub.count("message_too_big")
                self.warn("message_too_big", self.p.member_id)
                self.close_code = CLOSE_TOO_BIG
                with contextlib.suppress(Exception):
                    await self.ws.close(CLOSE_TOO_BIG)
                return
            msg = parse_message(raw, limits.max_message_bytes)
            if msg is None:
                hub.count("message_bad")
                self.warn("message_bad", self.p.member_id)
                continue
            kind = msg["t"]
            if kind == "e":
                self.stats.echo(msg.get("n"), now)
            elif kind == "v":
                seq = msg.get("seq")
                if isinstance(seq, int) and not isinstance(seq, bool):
                    if seq < self.vis_seq:  # older than a beacon already heard
                        continue
                    self.vis_seq = seq
                await self._visibility(msg.get("visible") is True)
            elif kind == "bye":
                await self._visibility(False)
                self.close_code = 1000
                with contextlib.suppress(Exception):
                    await self.ws.close(1000)
                return
            else:
                hub.count("message_bad")

    async def _visibility(self, visible: bool) -> None:
        self.visible = visible
        self.hub.set_visible(self.key, self.sock, visible)
        if self.browser:  # an agent member is watched by her agent; "none" by nothing
            shown = bool(self.hub.visible.get(self.key))  # any of her sockets (a second window)
            await asyncio.to_thread(self.runtime.companion, self.key[0], self.key[1], shown)

    async def _send_loop(self) -> None:
        limits = self.limits
        next_report = time.monotonic() + limits.report_interval_s
        await self.ws.send_json({**self.view_of(*self.key), "sock": self.sock, "path": "websocket"})
        while True:
            await asyncio.sleep(limits.probe_interval_s)
            now = time.monotonic()
            await self.ws.send_json({"t": "p", "n": self.stats.send(now)})
            rtc = self.rtc
            if rtc is not None:
                rtc.probe(now)
            if now < next_report:
                continue
            next_report = now + limits.report_interval_s
            link = self.still_valid()
            if link.error is not None:  # expired, or she left the roster: refused from now on
                self.hub.count("link_revoked")
                self.close_code = CLOSE_EXPIRED if link.error is selftest_links.LinkError.EXPIRED else CLOSE_INVALID
                await _refuse(self.ws, selftest_links.TEXT[link.error]["sv"], self.close_code)
                return
            heard, rtt, jitter, loss = self.stats.report(now)
            path = "websocket"
            if rtc is not None and rtc.open:  # the data channel's figures are the network's own
                r_heard, r_rtt, r_jitter, r_loss = rtc.stats.report(now)
                heard = heard or r_heard
                if r_loss is not None:
                    rtt, jitter, loss, path = r_rtt, r_jitter, r_loss, "webrtc"
            if heard and self.visible and self.browser:  # an echo this second: evidence of contact
                msg = companion_sample(self.p.device_id, self.meeting.id, self.deps.now(), rtt, jitter, loss)
                outcome = await asyncio.to_thread(
                    self.runtime.ingest,
                    "sample",
                    msg,
                )
                self.hub.count(f"sample_{outcome}")
            await self.ws.send_json({**self.view_of(*self.key), "path": path})
