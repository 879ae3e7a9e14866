"""Sign-in, sessions, CSRF, API tokens and role checks (collector.auth), on a real FastAPI app
served in-process by Starlette's test client. Times come from an injected clock."""

# no `from __future__ import annotations`: FastAPI must resolve the Annotated aliases built in app_for()

import io
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient

from collector import auth
from collector.auth import Auth, Principal, Role, signing

PW = "a long enough password"


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.toml"
    auth.add_user(path, "ordf", PW, "chair", bodies=["Kommunstyrelsen"], name="Eva")
    auth.add_user(path, "it", PW, "it")
    return path


class Clock:
    def __init__(self) -> None:
        self.t = 1_800_000_000.0

    def __call__(self) -> float:
        return self.t


def app_for(users: Path, clock: Clock) -> tuple[TestClient, Auth]:
    bodies = {"ks": "kommunstyrelsen", "sn": "socialnämnden"}
    a = Auth(secret=b"k" * 32, users_path=users, meeting_body=bodies.get, clock=clock, session_s=3600)
    app = FastAPI()
    Staff = Annotated[
        Principal, Depends(a.require_roles(Role.CHAIR, Role.SECRETARY, Role.IT, body_of=a.meeting_path_body))
    ]

    @app.post("/login")
    async def login(request: Request) -> Response:
        who = await a.authenticators[0].complete(request)
        response = Response(status_code=204 if who else 401)
        if who:
            a.new_session(response, who, request)
        return response

    @app.post("/logout")
    async def logout(request: Request, who: Annotated[Principal, Depends(a.require_roles())]) -> Response:
        response = Response(status_code=204)
        a.end_session(request, response)
        return response

    @app.get("/m/{meeting_id}")
    def read(meeting_id: str, who: Staff) -> dict[str, str]:
        return {"who": who.username, "csrf": a.csrf_token(who) if who.via == "session" else ""}

    @app.post("/m/{meeting_id}")
    def write(meeting_id: str, who: Staff) -> dict[str, str]:
        return {"who": who.username}

    return TestClient(app), a


def signed_in(client: TestClient, username: str) -> str:
    r = client.post("/login", data={"username": username, "password": PW})
    assert r.status_code == 204
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    return str(client.get("/m/ks").json()["csrf"])


def test_users_file_holds_argon2_hashes_and_token_digests_only(users: Path) -> None:
    token = auth.add_api_token(users, "grafana", "it")
    text = users.read_text()
    assert "$argon2id$" in text and PW not in text and token not in text and auth.hash_token(token) in text
    data = auth.read_users(users)
    assert data.users["ordf"].bodies == ("kommunstyrelsen",) and data.users["ordf"].role is Role.CHAIR
    checker = auth.PasswordAuthenticator(lambda: data)
    assert checker.check("ORDF", PW) is not None  # usernames are case-insensitive
    assert checker.check("ordf", PW + "x") is None and checker.check("nobody", PW) is None


@pytest.mark.parametrize(
    ("username", "password", "role", "bodies", "error"),
    [
        ("anna", PW, "member", [], "self-test link"),
        ("x", "short", "it", [], "at least 10"),
        ("chair", PW, "chair", [], "at least one body"),
        ("has space", PW, "it", [], "without spaces"),
    ],
)
def test_add_user_refuses_bad_input(
    tmp_path: Path, username: str, password: str, role: str, bodies: list[str], error: str
) -> None:
    with pytest.raises(auth.UserFileError, match=error):
        auth.add_user(tmp_path / "u.toml", username, password, role, bodies=bodies)


def test_cli_adds_a_user_with_the_password_from_stdin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PW + "\n"))
    assert (
        auth.main(
            ["--users", str(tmp_path / "u.toml"), "add-user", "sekr", "--role", "secretary", "--body", "Socialnämnden"]
        )
        == 0
    )
    assert auth.read_users(tmp_path / "u.toml").users["sekr"].bodies == ("socialnämnden",)
    assert auth.main(["--users", str(tmp_path / "u.toml"), "add-user", "bad", "--role", "chair"]) == 2


def test_roles_bodies_and_csrf(users: Path) -> None:
    client, _ = app_for(users, Clock())
    assert client.get("/m/ks").status_code == 401  # nothing without signing in
    csrf = signed_in(client, "ordf")
    assert client.get("/m/ks").json()["who"] == "ordf"
    assert client.get("/m/sn").status_code == 404  # another body's meeting: as if unknown (issue 12)
    assert client.get("/m/unknown").status_code == 404
    assert client.post("/m/ks").status_code == 403  # no CSRF token
    assert client.post("/m/ks", headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert client.post("/m/ks", headers={"X-CSRF-Token": csrf}).json() == {"who": "ordf"}
    it = TestClient(client.app)
    signed_in(it, "it")
    assert it.get("/m/sn").status_code == 200  # IT sees every body


def test_sessions_expire_are_signed_and_can_be_revoked(users: Path) -> None:
    clock = Clock()
    client, a = app_for(users, clock)
    csrf = signed_in(client, "ordf")
    cookie = client.cookies[auth.SESSION_COOKIE]
    body, mac = cookie.split(".")
    forged = signing._b64(signing._unb64(body).replace(b'"r":"chair"', b'"r":"it"')) + "." + mac
    assert TestClient(client.app, cookies={auth.SESSION_COOKIE: forged}).get("/m/sn").status_code == 401
    assert a.counters.session_rejected == 1
    clock.t += 3601  # the expiry inside the signed cookie is checked on the server
    assert client.get("/m/ks").status_code == 401
    clock.t -= 3601
    assert client.post("/logout", headers={"X-CSRF-Token": csrf}).status_code == 204
    assert TestClient(client.app, cookies={auth.SESSION_COOKIE: cookie}).get("/m/ks").status_code == 401


def test_a_removed_user_loses_the_session(users: Path) -> None:
    client, _ = app_for(users, Clock())
    signed_in(client, "ordf")
    data = auth.read_users(users)
    del data.users["ordf"]
    auth.write_users(users, data)
    assert client.get("/m/ks").status_code == 401


def test_api_tokens(users: Path) -> None:
    client, a = app_for(users, Clock())
    token = auth.add_api_token(users, "ci", "chair", bodies=["kommunstyrelsen"])
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/m/ks", headers=bearer).json()["who"] == "token:ci"
    assert client.post("/m/ks", headers=bearer).status_code == 200  # no cookie, no CSRF needed
    assert client.get("/m/sn", headers=bearer).status_code == 404
    assert client.get("/m/ks", headers={"Authorization": "Bearer lvt_forged"}).status_code == 401
    assert a.counters.token_rejected == 1


def test_sign_unsign_and_safe_next() -> None:
    token = auth.sign(b"s" * 32, "selftest", {"a": 1})
    assert auth.unsign(b"s" * 32, "selftest", token) == {"a": 1}
    for bad, reason in ((token[:-2] + "AA", "bad_signature"), ("x", "malformed"), ("a.b.c", "malformed")):
        with pytest.raises(auth.SignatureError, match=reason):
            auth.unsign(b"s" * 32, "selftest", bad)
    with pytest.raises(auth.SignatureError, match="bad_signature"):
        auth.unsign(b"s" * 32, "session", token)  # a link is never a session
    assert auth.safe_next("/chair/ks") == "/chair/ks"
    assert auth.safe_next("//evil.example/") == "/" and auth.safe_next("https://evil.example") == "/"


def test_the_hosts_local_token_is_it_and_private(tmp_path: Path, users: Path) -> None:
    token = auth.local_token(tmp_path)
    assert auth.local_token(tmp_path) == token  # created once
    assert (tmp_path / auth.LOCAL_TOKEN_FILE).stat().st_mode & 0o077 == 0
    a = Auth(secret=b"k" * 32, users_path=users, meeting_body=lambda _m: "kommunstyrelsen", local_token=token)
    app = FastAPI()

    @app.get("/m/{meeting_id}")
    def read(meeting_id: str, who: Annotated[Principal, Depends(a.require_roles(Role.IT))]) -> dict[str, str]:
        return {"who": who.username}

    client = TestClient(app)
    assert client.get("/m/ks", headers=auth.local_headers(tmp_path)).json() == {"who": "local"}
    assert client.get("/m/ks", headers={"Authorization": f"Bearer {token}x"}).status_code == 401


def test_client_headers_for_the_cli(tmp_path: Path) -> None:
    assert auth.client_headers(tmp_path, environ={}) == {}  # never creates a token
    assert not (tmp_path / auth.LOCAL_TOKEN_FILE).exists()
    token = auth.local_token(tmp_path)
    assert auth.client_headers(tmp_path, environ={}) == {"Authorization": f"Bearer {token}"}
    assert auth.client_headers(tmp_path, environ={auth.TOKEN_ENV: "lvt_x"}) == {"Authorization": "Bearer lvt_x"}


def test_password_guessing_is_throttled(users: Path) -> None:
    clock = Clock()
    a = Auth(secret=b"k" * 32, users_path=users, meeting_body=lambda _m: None, clock=clock)
    for _ in range(a.FAIL_MAX):
        assert not a.locked("ordf", "10.0.0.7")
        a.note_failure("ORDF", "10.0.0.7")
    assert a.locked("ordf", "10.0.0.7")
    assert not a.locked("ordf", "10.0.0.8")  # the chair elsewhere is not locked out by a guesser
    clock.t += a.FAIL_WINDOW_S + 1
    assert not a.locked("ordf", "10.0.0.7")
    for i in range(a.FAIL_MAX_ADDRESS):  # spraying many usernames from one address
        a.note_failure(f"user{i}", "10.0.0.9")
    assert a.locked("someone-new", "10.0.0.9")
    assert a.counters.login_failed == a.FAIL_MAX + a.FAIL_MAX_ADDRESS


def test_cookies_are_secure_over_https(users: Path) -> None:
    client, _ = app_for(users, Clock())
    https = TestClient(client.app, base_url="https://collector.example")
    r = https.post("/login", data={"username": "ordf", "password": PW})
    assert r.status_code == 204 and "Secure" in r.headers["set-cookie"]


def test_the_local_token_made_by_two_at_once_is_one(tmp_path: Path) -> None:
    """The collector starting and a tool polling its API beside it both find no token file: every
    caller must end with the token the file holds (O_EXCL; before, both wrote one and the collector
    kept a token the file no longer held, so the tool got 401 for good)."""
    import threading

    for round_ in range(20):
        d = tmp_path / f"r{round_}"
        start = threading.Barrier(8)
        got: list[str] = []

        def take(d: Path = d, start: threading.Barrier = start, got: list[str] = got) -> None:
            start.wait()
            got.append(auth.local_token(d))

        threads = [threading.Thread(target=take) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        on_disk = (d / auth.LOCAL_TOKEN_FILE).read_text(encoding="ascii").strip()
        assert got == [on_disk] * 8, (round_, set(got), on_disk)


def test_an_empty_local_token_file_is_replaced(tmp_path: Path) -> None:
    (tmp_path / auth.LOCAL_TOKEN_FILE).write_text("", encoding="ascii")
    token = auth.local_token(tmp_path)
    assert token.startswith("lvl_") and (tmp_path / auth.LOCAL_TOKEN_FILE).read_text().strip() == token
