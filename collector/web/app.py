"""The collector's web app: ``create_app(runtime)`` builds it from the audience routers (chair,
secretary, member, IT, devices; sign-in), the body limits in front of every route
(collector/web/bodylimit.py), the error pages and the OpenAPI document (``/openapi.json``, Swagger UI
at ``/docs`` served from the collector itself: the meeting room may have no internet)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from importlib import resources
from typing import Any

import msgspec
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.auth import SELFTEST_HEADER, SESSION_COOKIE, Auth, DeviceAuthMode, is_loopback
from collector.engine.types import MeetingView
from collector.web import chair, context, devices, it, member, planning, secretary, selftest_links, signin
from collector.web.access import Access, public
from collector.web.bodylimit import BodyLimit, cookie_names, has_header
from collector.web.context import WebDeps
from collector.web.port import WebRuntime
from collector.web.render import html_errors
from likavillkor import __version__


def create_app(runtime: WebRuntime, *, auth: Auth | None = None) -> FastAPI:
    """The collector's app for ``runtime``; ``auth`` replaces the sign-in made from its config (tests,
    an identity provider). ``app.state.web`` is the web's state, ``app.state.auth`` its Auth."""
    app = FastAPI(
        title="Likavillkor collector",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        description="Watches that remote members attend on equal terms (H1-H23).",
    )
    web = context.build(runtime, auth)
    access = Access(web)
    app.state.web, app.state.auth, app.state.runtime = web, web.auth, runtime
    mount_docs(app)
    for audience in (signin, chair, secretary, planning, it, devices):
        app.include_router(audience.router(web, access))
    member.mount(app, web, access)
    devices.mount_peers(app, web, access)
    app.add_exception_handler(StarletteHTTPException, html_errors(web))
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(BodyLimit, precheck=body_precheck(web), count=web.count)
    mount_ha(app, runtime)
    describe_meeting_view(app)
    return app


def mount_ha(app: FastAPI, runtime: WebRuntime) -> None:
    """``[ha]`` (issue 17): ``GET /health/leader`` for HAProxy, and the standby's refusal of every
    other route (503 / websocket close 1013) until this collector leads and has caught up."""
    ha = getattr(runtime, "ha", None)
    if ha is None:
        return
    from fastapi import Depends

    from collector.ha.health import StandbyGuard, leader_router
    from collector.web.access import public

    app.include_router(leader_router(ha.lease), dependencies=[Depends(public)])
    app.add_middleware(StandbyGuard, is_leader=getattr(runtime, "leading"))  # noqa: B009 (not on the port)


def body_precheck(web: WebDeps) -> Callable[[Any], tuple[int, str] | None]:
    """For :class:`collector.web.bodylimit.BodyLimit`: refuse, before the body is read, a state-changing
    request that carries no credential for a route that needs one (401) and a self-test result for
    a link that is not valid (403, 410). The full check still runs in the route's access dependency."""
    auth = web.auth

    def check(scope: Any) -> tuple[int, str] | None:
        if scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            return None
        path = str(scope.get("path", ""))
        if path.startswith("/selftest/") and path.endswith("/result"):
            token = path[len("/selftest/") : -len("/result")]
            try:
                web.resolve_link(token)
            except selftest_links.InvalidLink as exc:
                web.count(f"selftest_link_{exc.reason.value}")
                return (410 if exc.reason is selftest_links.LinkError.EXPIRED else 403), exc.reason.value
            return None
        credentials = (
            has_header(scope, b"authorization")
            or SESSION_COOKIE in cookie_names(scope)
            or has_header(scope, SELFTEST_HEADER.lower().encode())
        )
        if path == "/api/mediapath/offer":
            if credentials or auth.device_auth is DeviceAuthMode.NONE:
                return None
            client = scope.get("client") or ("", 0)
            if auth.device_auth is DeviceAuthMode.LOOPBACK and is_loopback(client[0]):
                return None
            return 401, "sign in first (a self-test link, device credentials or staff)"
        if (path.startswith("/api/") or path == "/metrics") and not credentials:
            return 401, "sign in first"
        return None

    return check


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


#: Swagger UI's files, vendored from the npm package swagger-ui-dist (collector/web/static/swagger/,
#: README.md there): the meeting room may have no internet, so /docs loads nothing from a CDN
SWAGGER_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
SWAGGER_PREFIX = "/docs/assets/"
OPENAPI_URL = "/openapi.json"


def docs_html(openapi_url: str, title: str) -> HTMLResponse:
    """Swagger UI for ``openapi_url`` with every asset served by the collector. ``validatorUrl: null``:
    Swagger UI would otherwise fetch a badge from validator.swagger.io."""
    return get_swagger_ui_html(
        openapi_url=openapi_url,
        title=title,
        swagger_js_url=SWAGGER_PREFIX + "swagger-ui-bundle.js",
        swagger_css_url=SWAGGER_PREFIX + "swagger-ui.css",
        swagger_favicon_url=SWAGGER_PREFIX + "favicon-32x32.png",
        swagger_ui_parameters={"validatorUrl": None},
    )


def mount_docs(app: FastAPI) -> None:
    """``/openapi.json``, ``/docs`` (Swagger UI) and its assets, open to anyone: they name no member
    and hold no data (trying a route needs credentials)."""
    swagger = resources.files("collector.web").joinpath("static", "swagger")

    @app.get(OPENAPI_URL, include_in_schema=False, dependencies=[Depends(public)])
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(public)])
    def docs() -> HTMLResponse:
        return docs_html(OPENAPI_URL, f"{app.title} - API")

    @app.get(SWAGGER_PREFIX + "{name}", include_in_schema=False, dependencies=[Depends(public)])
    def docs_asset(name: str) -> Response:
        media_type = SWAGGER_ASSETS.get(name)  # a fixed list: no path is built from the request
        if media_type is None:
            raise HTTPException(404, "not found")
        return Response(
            swagger.joinpath(name).read_bytes(),
            media_type=media_type,
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )


_ERROR = {"application/json": {"schema": {"type": "object", "properties": {"detail": {}}}}}


def _errors_of(path: str, method: str, op: dict[str, Any]) -> dict[str, str]:
    """The answers the access layer and the routes give besides their own: 401 (not signed in),
    403 (wrong role, body, link or CSRF token), 404 (no such meeting/device), 400 (a body that is
    not JSON), 409 (an action the engine refuses)."""
    link = path.startswith("/selftest/")
    extra: dict[str, str] = {}
    if op.get("security") or link:
        extra["410" if link else "401"] = "the link has expired" if link else "sign in first"
        extra["403"] = "not allowed (role, body, link or CSRF token)"
    if "{" in path:
        extra["404"] = "not found"
    if "requestBody" in op:
        extra["400"] = "the body is not valid JSON"
        extra["413"] = "the body is larger than this route's limit (docs/security.md)"
    if method == "post" and link:
        extra["429"] = "too many results through this link or device: see Retry-After"
    if method == "post" and path.endswith("/actions"):
        extra["409"] = "the engine refused the action"
    return extra


def _document_errors(schema: dict[str, Any]) -> None:
    for path, item in schema.get("paths", {}).items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for code, text in _errors_of(path, method, op).items():
                op["responses"].setdefault(code, {"description": text, "content": _ERROR})
            formats = [p for p in op.get("parameters", []) if p.get("name") == "format"]
            if formats and "csv" in json.dumps(formats[0].get("schema", {})) and "200" in op["responses"]:
                op["responses"]["200"].setdefault("content", {})["text/csv"] = {"schema": {"type": "string"}}


def describe_meeting_view(app: FastAPI) -> None:
    """Put the engine's MeetingView (a msgspec struct) into /openapi.json as the response of
    ``GET /api/meetings/{meeting_id}``, so clients and schemathesis can check it."""
    base = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return dict(app.openapi_schema)
        schema = base()
        (ref,), components = msgspec.json.schema_components([MeetingView], ref_template="#/components/schemas/{name}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(components)
        op = schema.get("paths", {}).get("/api/meetings/{meeting_id}", {}).get("get")
        if op is not None:
            ok = op.setdefault("responses", {}).setdefault("200", {"description": "the meeting view"})
            ok["content"] = {"application/json": {"schema": ref}}
        _document_errors(schema)
        app.openapi_schema = schema
        return dict(schema)

    app.openapi = openapi  # type: ignore[method-assign]
