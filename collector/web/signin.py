"""Sign-in and sign-out (password form, or a redirect-based authenticator such as OIDC), and the
pages' static files. Open to anyone (``public``) except sign-out (``signed-in``)."""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
import logging
from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import RedirectResponse

from collector.auth import Principal, safe_next
from collector.web.access import Access, public
from collector.web.context import WebDeps
from collector.web.render import render

log = logging.getLogger(__name__)
STATIC_TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8", "svg": "image/svg+xml"}
Public = Depends(public)


def router(web: WebDeps, access: Access) -> APIRouter:
    r = APIRouter()
    static = resources.files("collector.web").joinpath("static")

    @r.get("/static/{name}", include_in_schema=False, dependencies=[Public])
    def static_file(name: str) -> Response:
        """A fixed set of file types, no directory walking."""
        ext = name.rsplit(".", 1)[-1]
        if "/" in name or ".." in name or ext not in STATIC_TYPES:
            raise HTTPException(404, "not found")
        f = static.joinpath(name)
        if not f.is_file():
            raise HTTPException(404, "not found")
        return Response(f.read_bytes(), media_type=STATIC_TYPES[ext], headers={"Cache-Control": "no-cache"})

    _login(r, web, access)
    return r


def _login(r: APIRouter, web: WebDeps, access: Access) -> None:
    auth = web.auth
    SignedIn = Annotated[Principal, Depends(access.signed_in)]

    @r.get("/login", include_in_schema=False, dependencies=[Public])
    async def login_page(request: Request, next: str = "/") -> Response:
        return render(
            request,
            web,
            "login.html",
            who=None,
            next=safe_next(next),
            failed=False,
            locked=False,
            authenticators=auth.authenticators,
        )

    @r.post("/login", include_in_schema=False, dependencies=[Public])
    async def login(request: Request, next: str = "/") -> Response:
        form = await request.form()
        method = str(form.get("method") or "password")
        username = str(form.get("username") or "")[:128].casefold()
        keys = (username, request.client.host if request.client else "?")
        if auth.locked(*keys):
            log.info("sign-in refused for %r from %s: too many failures", username[:64], keys[1])
            return _refused(web, request, next, 429, locked=True)
        who = None
        for a in auth.authenticators:  # (`next` is the page to return to here)
            if a.id == method:
                who = await a.complete(request)
        if who is None:
            auth.note_failure(*keys)
            log.info("failed sign-in for %r from %s", username[:64], keys[1])
            return _refused(web, request, next, 401)
        return _signed_in(web, request, who, next, "")

    _redirect_login(r, web)

    @r.post("/logout", include_in_schema=False)
    async def logout(request: Request, who: SignedIn) -> Response:
        response = RedirectResponse("/login", status_code=303)
        auth.end_session(request, response)
        return response


def _redirect_login(r: APIRouter, web: WebDeps) -> None:
    """A redirect-based sign-in (OIDC): out to the identity provider and back."""
    auth = web.auth

    @r.get("/login/{method}", include_in_schema=False, dependencies=[Public])
    async def login_redirect(request: Request, method: str) -> Response:
        """A redirect-based sign-in (OIDC): off to the identity provider."""
        for a in auth.authenticators:
            if a.id == method and not a.form:
                started = await a.begin(request)
                if started is not None:
                    return started
        raise HTTPException(404, "no such sign-in method")

    @r.get("/login/{method}/callback", include_in_schema=False, dependencies=[Public])
    async def login_callback(request: Request, method: str, next: str = "/") -> Response:
        """Back from the identity provider: the authenticator checks the answer and names the user."""
        for a in auth.authenticators:
            if a.id == method and not a.form:
                who = await a.complete(request)
                if who is None:
                    auth.note_failure(f"{method}-callback", request.client.host if request.client else "?")
                    return _refused(web, request, next, 401)
                return _signed_in(web, request, who, next, f", {method}")
        raise HTTPException(404, "no such sign-in method")


def _refused(web: WebDeps, request: Request, next: str, status: int, *, locked: bool = False) -> Response:
    return render(
        request,
        web,
        "login.html",
        status=status,
        who=None,
        next=safe_next(next),
        failed=True,
        locked=locked,
        authenticators=web.auth.authenticators,
    )


def _signed_in(web: WebDeps, request: Request, who: Principal, next: str, how: str) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    web.auth.new_session(response, who, request)
    log.info(
        "signed in: %r (%s%s) from %s",
        who.username[:64],
        who.role.value,
        how,
        request.client.host if request.client else "?",
    )
    return response
