"""The collector's HTTP API (FastAPI). ``create_app(runtime)`` builds the app; other modules add
routers to it (auth and the chair's pages, issue 6). OpenAPI: ``/openapi.json``, ``/docs``."""

from __future__ import annotations

import importlib
import io
import logging
import math
from collections.abc import Sequence
from importlib import resources
from typing import Any, Literal

import msgspec
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import SQLAlchemyError

from collector import csvsafe, metrics
from collector.engine import Action, ActionKind
from collector.web import refusals
from likavillkor import __version__

log = logging.getLogger(__name__)

INCIDENT_COLUMNS = ("id", "meeting_id", "body", "member_id", "device_id", "kind", "started_at", "ended_at",
                    "peak_severity", "adjourned", "adjourned_s", "substitute_called", "metrics")


class ActionIn(BaseModel):
    """A chair's or secretary's action (H5 votes, H15 adjourn/resume, H18 conflict of interest)."""

    kind: ActionKind
    by: str = Field(default="", max_length=200,
                    description="who recorded it (name or role); a signed-in user is recorded as themself")
    member_id: str | None = Field(default=None, max_length=128)
    item: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=2000)
    substitute_id: str | None = Field(default=None, max_length=128,
                                      description="substitute: the ersättare (on this meeting's roster) who "
                                                  "steps in for member_id (H16)")
    at: float | None = Field(default=None, ge=946_684_800, le=4_102_444_800, allow_inf_nan=False,
                             description="epoch seconds (2000-2100); default: now (collector clock)")


class DeviceMeeting(BaseModel):
    id: str
    body: str
    start: float
    end: float
    system: str
    room: str


def _json(data: Any, status: int = 200) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json", status_code=status)


def incidents_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csvsafe.writer(buf)
    w.writerow(INCIDENT_COLUMNS)
    for r in rows:
        w.writerow([msgspec.json.encode(r[c]).decode() if c == "metrics" else ("" if r[c] is None else r[c])
                    for c in INCIDENT_COLUMNS])
    return buf.getvalue()


def api_router(runtime: Any, dependencies: Sequence[Any] = ()) -> APIRouter:
    """``dependencies`` (FastAPI ``Depends(...)``) apply to every route: the hook for auth (issue 6)."""
    r = APIRouter(prefix="/api", dependencies=list(dependencies))

    @r.get("/meetings", summary="All meetings with their current verdict")
    def meetings() -> Response:
        out = []
        for mid in runtime.meeting_ids():
            v = runtime.view(mid)
            if v is not None:
                out.append({"meeting_id": v.meeting_id, "body": v.body, "start": v.start, "end": v.end,
                            "verdict": v.verdict, "monitoring": v.monitoring, "system": v.system,
                            "participants": len(v.participants)})
        return _json(out)

    @r.get("/meetings/{meeting_id}", summary="The meeting view: verdict, reasons and every participant")
    def meeting(meeting_id: str) -> Response:
        body = runtime.view_json(meeting_id)
        if body is None:
            raise HTTPException(404, f"no meeting {meeting_id!r}")
        return Response(content=body, media_type="application/json")

    @r.post("/meetings/{meeting_id}/actions", status_code=201,
            summary="Record an action: adjourn, resume, vote start/end, item start, excuse, return, left, "
                    "substitute")
    def act(meeting_id: str, action: ActionIn, request: Request) -> Response:
        if runtime.view(meeting_id) is None:
            raise HTTPException(404, f"no meeting {meeting_id!r}")
        who = getattr(request.state, "principal", None)  # set by the sign-in guard (collector.pages)
        by = who.username if who is not None and (who.via == "session" or not action.by) else action.by
        a = Action(meeting_id=meeting_id, kind=action.kind, at=action.at or runtime.clock(), by=by,
                   member_id=action.member_id, item=action.item, note=action.note,
                   substitute_id=action.substitute_id)
        try:
            changes = runtime.act(a)
        except ValueError as exc:
            # the engine's message (English) for API clients; the code for the chair's page (collector.web.refusals)
            return JSONResponse(status_code=409, content={"detail": str(exc), "code": refusals.code_of(exc)})
        return _json({"action": a, "changes": changes}, 201)

    @r.get("/meetings/{meeting_id}/actions", summary="Actions recorded for a meeting")
    def actions(meeting_id: str) -> Response:
        if runtime.view(meeting_id) is None:
            raise HTTPException(404, f"no meeting {meeting_id!r}")
        with runtime.lock:
            return _json(runtime.engine.actions(meeting_id))

    @r.get("/devices/{device_id}/meetings", response_model=list[DeviceMeeting],
           summary="The meetings a device takes part in (the agent's scheduler)")
    def device_meetings(device_id: str) -> Any:
        return runtime.device_meetings(device_id)

    @r.get("/devices/{device_id}/probe-key",
           summary="The device's SSID and key for signed path probes (the agent; issue 11)")
    def device_probe_key(device_id: str) -> Response:
        doc = runtime.probe_key(device_id)
        if doc is None:
            raise HTTPException(404, f"no probe key for {device_id!r}: not on the roster, or the reflector is off")
        return _json(doc)

    @r.get("/incidents", summary="Incident history (personal data: retention applies)")
    def incidents(since: float | None = None, until: float | None = None, body: str | None = None,
                  member: str | None = None, device: str | None = None, kind: str | None = None,
                  meeting: str | None = None,
                  format: Literal["json", "csv"] = Query("json")) -> Response:
        runtime.store.flush(2.0)
        try:
            rows = runtime.store.incidents(since=since, until=until, body=body, member=member, device=device,
                                           kind=kind, meeting=meeting)
        except SQLAlchemyError as exc:
            raise HTTPException(503, f"the database is not reachable: {str(exc).splitlines()[0][:200]}") from None
        if format == "csv":
            return Response(content=incidents_csv(rows), media_type="text/csv; charset=utf-8")
        return _json(rows)

    @r.get("/health", summary="Broker connection, ingest counters, store/InfluxDB queues, unknown devices")
    def health() -> Response:
        return _json(runtime.health())

    return r


def mount_optional(app: FastAPI, runtime: Any, dependencies: Sequence[Any] = ()) -> None:
    """Routers from other modules; a missing module is logged, never fatal."""
    def on_mediapath(result: dict[str, Any]) -> None:
        """A media path result (H13 roll-call helper) -> the engine and the database. Only for a
        device on the roster: an unknown device's result is counted by the peer, not recorded."""
        device_id = str(result.get("device_id") or "")
        if not runtime.index.known(device_id):
            log.warning("media path result from a device on no roster: %s", device_id[:64])
            return
        meeting = result.get("meeting_id")
        runtime.record_mediapath(device_id, str(meeting) if meeting else None, result)

    specs: list[tuple[str, str, Any]] = [
        ("collector.speedtest_server", "/speedtest", lambda mod: mod.router()),
        ("collector.media_peer", "/api/mediapath", lambda mod: mod.router(on_mediapath)),
    ]
    for module, prefix, make in specs:
        try:
            mod = importlib.import_module(module)
            router = make(mod)
            app.include_router(router, prefix=prefix, dependencies=list(dependencies))
            if hasattr(router, "media_peer"):
                app.state.media_peer = router.media_peer
            if hasattr(router, "speedtest_counters"):
                app.state.speedtest_counters = router.speedtest_counters
            runtime.optional_modules[module] = "loaded"
        except Exception as exc:
            runtime.optional_modules[module] = f"not loaded: {exc}"
            log.warning("%s not mounted at %s: %s", module, prefix, exc)


def create_app(runtime: Any, *, api_dependencies: Sequence[Any] = ()) -> FastAPI:
    """The collector's app. ``api_dependencies`` guard ``/api/...`` and ``/metrics`` (e.g. an auth
    ``Depends``); the pages (collector/pages.py) are mounted when installed."""
    app = FastAPI(title="Likavillkor collector", version=__version__, docs_url=None, redoc_url=None,
                  description="Watches that remote members attend on equal terms (H1-H23).")
    mount_docs(app)
    app.state.runtime = runtime
    if not api_dependencies:  # sign-in (collector.pages) guards every route unless told otherwise
        api_dependencies = default_guards(runtime)
    app.include_router(api_router(runtime, api_dependencies))

    @app.get("/metrics", summary="Prometheus text format", response_class=Response,
             dependencies=list(api_dependencies))
    def prometheus() -> Response:
        text = metrics.from_health(runtime.health(), metrics.components(runtime, app.state))
        return Response(content=text,
                        media_type="text/plain; version=0.0.4; charset=utf-8")

    mount_optional(app, runtime, api_dependencies)
    mount_pages(app, runtime)
    limit_bodies(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    return app


def _finite(value: Any) -> Any:
    """NaN and ±Infinity as text: FastAPI echoes a refused input, and JSON has no such numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


async def _validation_error(request: Request, exc: Exception) -> Response:
    """422 with FastAPI's error list, also for a NaN or Infinity it refused (issue 12), never a 500."""
    from fastapi.encoders import jsonable_encoder

    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    return JSONResponse(status_code=422, content={"detail": jsonable_encoder(_finite(list(errors)))})


def limit_bodies(app: FastAPI) -> None:
    """Every body bounded by route before it is read, and credential-less requests refused before
    theirs is parsed (collector/bodylimit.py, issue 12); counted in the pages' counters."""
    from collector.bodylimit import BodyLimit

    web = getattr(app.state, "web", None)
    precheck = importlib.import_module("collector.pages").body_precheck(web) if web is not None else None
    app.add_middleware(BodyLimit, precheck=precheck, count=web.count if web is not None else None)


#: Swagger UI's files, vendored from the npm package swagger-ui-dist (collector/web/static/swagger/,
#: README.md there): the meeting room may have no internet, so /docs loads nothing from a CDN
SWAGGER_ASSETS = {"swagger-ui-bundle.js": "text/javascript; charset=utf-8",
                  "swagger-ui.css": "text/css; charset=utf-8", "favicon-32x32.png": "image/png"}
SWAGGER_PREFIX = "/docs/assets/"


def docs_html(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI for ``openapi_url`` with every asset served by the collector. ``validatorUrl: null``:
    Swagger UI would otherwise fetch a badge from validator.swagger.io."""
    return get_swagger_ui_html(openapi_url=openapi_url, title=title,
                               swagger_js_url=SWAGGER_PREFIX + "swagger-ui-bundle.js",
                               swagger_css_url=SWAGGER_PREFIX + "swagger-ui.css",
                               swagger_favicon_url=SWAGGER_PREFIX + "favicon-32x32.png",
                               swagger_ui_parameters={"validatorUrl": None})


def mount_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) and its assets from the collector itself; like ``/openapi.json`` the
    page names no member and holds no data (trying a route needs credentials)."""
    swagger = resources.files("collector.web").joinpath("static", "swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return docs_html(app.openapi_url or "/openapi.json", f"{app.title} - API")

    @app.get(SWAGGER_PREFIX + "{name}", include_in_schema=False)
    def docs_asset(name: str) -> Response:
        media_type = SWAGGER_ASSETS.get(name)  # a fixed list: no path is built from the request
        if media_type is None:
            raise HTTPException(404, "not found")
        return Response(swagger.joinpath(name).read_bytes(), media_type=media_type,
                        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


def _signin_unavailable() -> None:
    raise HTTPException(503, "sign-in is not available: see the collector log")


def default_guards(runtime: Any) -> list[Any]:
    """The sign-in guards of collector.pages (a meeting's route: its chair/secretary or IT; the rest:
    IT). If they cannot load, the API stays closed (503), never open; MQTT ingest runs on."""
    try:
        return list(importlib.import_module("collector.pages").api_dependencies(runtime))
    except Exception as exc:
        log.error("sign-in not available, the API is closed: %s", exc)
        return [Depends(_signin_unavailable)]


def mount_pages(app: FastAPI, runtime: Any) -> None:
    """Sign-in and the chair's/IT pages (collector/pages.py, issue 6) when installed. ``app.state.auth``
    is its Auth (``require`` guards routes); the API routes above are not guarded here."""
    try:
        pages = importlib.import_module("collector.pages")
        app.state.auth = pages.setup(app, runtime)
        runtime.optional_modules["collector.pages"] = "loaded"
    except Exception as exc:
        runtime.optional_modules["collector.pages"] = f"not loaded: {exc}"
        log.warning("collector.pages not mounted: %s", exc)
