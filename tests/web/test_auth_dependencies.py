"""The access dependencies of :class:`collector.auth.Auth` that RETURN the caller (issue 13: a route
declares who may call it in its signature, no ``request.state`` side channel), the roles each one
declares (no request.state side channel), and the auth room's size limits."""

# no `from __future__ import annotations`: FastAPI must resolve the Annotated aliases built in app_for()
import ast
import base64
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

import collector.auth
from collector.auth import Auth, DeviceAuthMode, DevicePasswords, Principal, Role, allowed_roles
from collector.auth.broker_passwords import hash_password, render_passwords

PW = "a long enough password"
AUTH_DIR = Path(collector.auth.__file__).parent


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Auth, dict[str, str]]:
    users = tmp_path / "users.toml"
    collector.auth.add_user(users, "ordf", PW, "chair", bodies=["Kommunstyrelsen"], name="Eva")
    token = collector.auth.add_api_token(users, "ops", "it")
    passwords = tmp_path / "passwords"
    passwords.write_text(render_passwords({"dev-a": hash_password("secret-a"), "dev-b": hash_password("secret-b")}))
    a = Auth(
        secret=b"k" * 32,
        users_path=users,
        meeting_body={"ks": "kommunstyrelsen", "sn": "socialnämnden"}.get,
        device_auth=DeviceAuthMode.PASSWORDS,
        device_passwords=DevicePasswords(passwords),
    )
    return a, {"Authorization": f"Bearer {token}"}


def app_for(a: Auth) -> FastAPI:
    app = FastAPI()
    chair = a.require_meeting(Role.CHAIR, Role.IT)

    async def path_device(request: Request) -> str | None:
        return str(request.path_params.get("device_id", "")) or None

    def answer(request: Request, who: Principal) -> dict[str, Any]:
        return {
            "who": who.username,
            "role": who.role.value,
            "state": getattr(getattr(request.state, "principal", None), "username", None),
        }

    @app.get("/new/{meeting_id}")
    def new_style(meeting_id: str, request: Request, who: Annotated[Principal, Depends(chair)]) -> dict[str, Any]:
        return answer(request, who)

    @app.get("/dev/{device_id}")
    def device_new(
        device_id: str, request: Request, who: Annotated[Principal, Depends(a.require_device_or_it(path_device))]
    ) -> dict[str, Any]:
        return answer(request, who)

    @app.get("/open")
    async def anyone(who: Annotated[Principal | None, Depends(a.principal)]) -> dict[str, Any]:
        return {"who": who.username if who else None}

    return app


def test_require_roles_returns_the_caller_without_the_request_state(setup: tuple[Auth, dict[str, str]]) -> None:
    a, it = setup
    client = TestClient(app_for(a))
    assert client.get("/new/ks", headers=it).json() == {"who": "token:ops", "role": "it", "state": None}
    assert not hasattr(a, "require") and not hasattr(a, "require_device")  # the request.state side channel is gone
    for path in ("/new/ks",):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=basic("dev-a", "secret-a")).status_code == 401  # Basic is no Bearer
        assert client.get(path.replace("ks", "nope"), headers=it).status_code == 200  # IT: any meeting id
    chair_token = collector.auth.add_api_token(a.users_path, "ks-bot", "chair", bodies=["Kommunstyrelsen"])
    chair = {"Authorization": f"Bearer {chair_token}"}
    for path in ("/new",):
        assert client.get(f"{path}/ks", headers=chair).json()["who"] == "token:ks-bot"
        assert client.get(f"{path}/sn", headers=chair).status_code == 404  # another body's meeting: as if none
        assert client.get(f"{path}/nope", headers=chair).status_code == 404
    assert client.get("/open").json() == {"who": None}
    assert client.get("/open", headers=it).json() == {"who": "token:ops"}
    assert client.get("/open", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_require_device_or_it_returns_the_device_or_it(setup: tuple[Auth, dict[str, str]]) -> None:
    a, it = setup
    client = TestClient(app_for(a))
    got = client.get("/dev/dev-a", headers=basic("dev-a", "secret-a")).json()
    assert got == {"who": "dev-a", "role": "device", "state": None}
    assert client.get("/dev/dev-b", headers=basic("dev-a", "secret-a")).status_code == 403  # another device
    r = client.get("/dev/dev-a", headers=basic("dev-a", "wrong"))
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Basic")
    assert client.get("/dev/dev-a").status_code == 401
    assert client.get("/dev/dev-b", headers=it).json() == {"who": "token:ops", "role": "it", "state": None}
    assert a.counters.device_ok == 2 and a.counters.device_rejected == 1  # dev-a signed in 2 times, refused once


def test_every_access_dependency_declares_its_roles(setup: tuple[Auth, dict[str, str]]) -> None:
    a, _ = setup
    roles: dict[str, frozenset[Role] | None] = {}
    for route in app_for(a).routes:
        if isinstance(route, APIRoute):
            declared = [allowed_roles(d.call) for d in route.dependant.dependencies]
            roles[route.path] = next((r for r in declared if r is not None), None)
    assert roles == {
        "/new/{meeting_id}": frozenset({Role.CHAIR, Role.IT}),
        "/dev/{device_id}": frozenset({Role.DEVICE, Role.IT}),
        "/open": None,  # anonymous callers allowed: declares no role
    }
    assert allowed_roles(a.require_roles()) == frozenset(Role)
    assert allowed_roles(lambda: None) is None


def test_python_m_collector_auth_is_the_users_cli(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    run = subprocess.run(
        [sys.executable, "-m", "collector.auth", "--users", str(users), "add-token", "ci"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("lvt_")
    listed = subprocess.run(
        [sys.executable, "-m", "collector.auth", "--users", str(users), "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert listed.returncode == 0 and listed.stdout.startswith("token ci\tit\t")


def test_the_auth_room_keeps_modules_and_functions_small() -> None:
    """Issue 13: no module over ~400 lines, no function over ~60, in collector/auth/."""
    too_long = []
    for path in sorted(AUTH_DIR.glob("*.py")):
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 400:
            too_long.append(f"{path.name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > 60:
                    too_long.append(f"{path.name}:{node.name}: {length} lines")
    assert too_long == []
    assert {p.name for p in AUTH_DIR.glob("*.py")} >= {
        "__init__.py",
        "signing.py",
        "users.py",
        "users_cli.py",
        "devices.py",
        "sessions.py",
        "tokens.py",
        "broker.py",
        "probekeys.py",
    }
