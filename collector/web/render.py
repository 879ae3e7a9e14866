"""Responses: JSON (msgspec) for the API; for pages the Jinja templates, the language choice (Swedish
first), and the headers every page gets (Content-Security-Policy: everything from the collector
itself, no CDN; no caching)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from collector.auth import Principal
from collector.web import i18n, icons

if TYPE_CHECKING:
    from collector.web.context import WebDeps

STOCKHOLM = ZoneInfo("Europe/Stockholm")
LANG_COOKIE = "lv_lang"
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)

_env = Environment(
    loader=PackageLoader("collector.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _when(t: float) -> str:
    return dt.datetime.fromtimestamp(t, STOCKHOLM).strftime("%Y-%m-%d %H:%M")


def _clock(t: float | None) -> str:
    return "" if t is None else dt.datetime.fromtimestamp(t, STOCKHOLM).strftime("%H:%M:%S")


def language(request: Request) -> str:
    q = request.query_params.get("lang")
    if q in i18n.LANGS:
        return q
    return i18n.lang_of(request.cookies.get(LANG_COOKIE))


def render(request: Request, web: WebDeps, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    lang = language(request)
    who: Principal | None = ctx.get("who")
    other = "en" if lang == "sv" else "sv"
    params = dict(request.query_params)
    params["lang"] = other
    html = _env.get_template(name).render(
        lang=lang,
        other_lang=other,
        other_lang_url=f"{request.url.path}?{urlencode(params)}",
        lang_q="?lang=en" if lang == "en" else "",
        t=lambda k: i18n.t(k, lang),
        icon=icons.svg,
        when=_when,
        clock=_clock,
        csrf=web.auth.csrf_token(who) if who and who.via == "session" else "",
        **ctx,
    )
    response = HTMLResponse(html, status_code=status)
    if request.query_params.get("lang") in i18n.LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="strict", httponly=True)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def json_response(data: Any, status: int = 200) -> Response:
    return Response(content=msgspec.json.encode(data), media_type="application/json", status_code=status)


_PAGE_ERRORS = {403: "forbidden", 404: "not_found"}


def html_errors(web: WebDeps) -> Callable[..., Any]:
    """A browser asking for a page gets a page for 403/404, not JSON; the API keeps FastAPI's JSON."""
    from fastapi.exception_handlers import http_exception_handler

    async def handler(request: Request, exc: StarletteHTTPException) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        if wants_html and exc.status_code in _PAGE_ERRORS and not request.url.path.startswith("/api/"):
            lang = language(request)
            return render(
                request,
                web,
                "error.html",
                status=exc.status_code,
                who=None,
                message=i18n.t(_PAGE_ERRORS[exc.status_code], lang),
                detail="",
            )
        return await http_exception_handler(request, exc)

    return handler
