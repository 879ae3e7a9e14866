"""Sign-in is pluggable: a redirect-based authenticator (the shape of the municipality's OIDC / Entra ID)
signs a chair in through /login/{id} and /login/{id}/callback without any change to the pages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

from fastapi import FastAPI, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient

from collector.auth import Auth, Principal, Role
from collector.web import chair, signin
from collector.web.access import Access
from collector.web.context import WebDeps
from collector.web.port import WebRuntime
from likavillkor.roster import Roster


class _NoMeetings:
    """The two things sign-in and the home page ask of the runtime: the roster and the clock."""

    def roster(self) -> Roster:
        return Roster()

    def clock(self) -> float:
        return time.time()


class FakeIdentityProvider:
    """Stands in for OIDC: ``begin`` sends the browser away, ``complete`` checks the returned code."""

    def __init__(self) -> None:
        self.id = "entra"
        self.label = {"sv": "Logga in med kommunens konto", "en": "Sign in with the municipality's account"}
        self.form = False

    async def begin(self, request: Request) -> Response | None:
        return RedirectResponse("https://idp.example/authorize?state=s1", status_code=302)

    async def complete(self, request: Request) -> Principal | None:
        if request.query_params.get("code") != "good":
            return None
        return Principal(
            username="eva@kommun.se", role=Role.CHAIR, bodies=frozenset({"kommunstyrelsen"}), name="Eva", method=self.id
        )


def test_a_redirect_authenticator_signs_in_without_touching_the_pages(tmp_path: Path) -> None:
    auth = Auth(
        secret=b"k" * 32,
        users_path=tmp_path / "users.toml",
        meeting_body=lambda _m: None,
        authenticators=[FakeIdentityProvider()],
    )
    web = WebDeps(auth=auth, secret=b"k" * 32, runtime=cast(WebRuntime, _NoMeetings()))
    access = Access(web)
    app = FastAPI()
    app.include_router(signin.router(web, access))
    app.include_router(chair.router(web, access))
    client = TestClient(app, follow_redirects=False)
    assert "Logga in med kommunens konto" in client.get("/login").text
    assert client.get("/login/entra").headers["location"].startswith("https://idp.example/")
    assert client.get("/login/entra/callback?code=forged").status_code == 401
    assert client.get("/").status_code == 303  # still not signed in
    r = client.get("/login/entra/callback?code=good&next=/")
    assert r.status_code == 303 and r.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200 and "Eva" in home.text  # the user is not in users.toml: the IdP vouches
    assert client.get("/login/nosuch/callback").status_code == 404
