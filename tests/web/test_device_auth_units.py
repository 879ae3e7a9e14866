"""Device sign-in, unit level: the pure decisions, the password file cache (injected clock), and the
three modes of ``[http] device_auth`` through a small FastAPI app (loopback and non-loopback clients)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient

from collector.auth import (
    Auth,
    DeviceAuthMode,
    DevicePasswords,
    Principal,
    UserFileError,
    add_user,
    broker_passwords,
    is_loopback,
    parse_basic,
    resolve_device_auth,
)
from collector.config import load as load_collector_config
from likavillkor.config import ConfigError


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_mode_defaults_to_passwords_only_with_a_password_file() -> None:
    assert resolve_device_auth("", "/etc/likavillkor/broker/passwords") is DeviceAuthMode.PASSWORDS
    assert resolve_device_auth("", "") is DeviceAuthMode.LOOPBACK
    assert resolve_device_auth("none", "") is DeviceAuthMode.NONE
    with pytest.raises(ValueError):
        resolve_device_auth("sometimes", "")


def test_config_refuses_passwords_mode_without_a_file() -> None:
    with pytest.raises(ConfigError, match="device_passwords"):
        load_collector_config(None, environ={"LIKAVILLKOR_COLLECTOR__HTTP__DEVICE_AUTH": "passwords"})
    with pytest.raises(ConfigError):
        load_collector_config(None, environ={"LIKAVILLKOR_COLLECTOR__HTTP__DEVICE_AUTH": "maybe"})


def test_parse_basic_and_loopback() -> None:
    assert parse_basic(basic("dev-a", "pw:with:colons")["Authorization"]) == ("dev-a", "pw:with:colons")
    assert parse_basic("Bearer abc") is None and parse_basic("") is None
    for bad in (
        "Basic",
        "Basic !!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":pw").decode(),
        "Basic " + "A" * 2000,
    ):
        with pytest.raises(ValueError):
            parse_basic(bad)
    assert is_loopback("127.0.0.1") and is_loopback("127.8.9.1") and is_loopback("::1")
    assert not is_loopback("10.0.0.5") and not is_loopback("testclient") and not is_loopback(None)


def test_the_users_file_cannot_make_a_device(tmp_path: Path) -> None:
    with pytest.raises(UserFileError):
        add_user(tmp_path / "users.toml", "dev-a", "long enough password", "device")
    (tmp_path / "u.toml").write_text('[[user]]\nusername = "x"\nrole = "device"\npassword_hash = "h"\n')
    from collector.auth import read_users

    with pytest.raises(UserFileError, match="device"):
        read_users(tmp_path / "u.toml")


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_password_file_cache_and_reload(tmp_path: Path) -> None:
    path = tmp_path / "passwords"
    path.write_text(broker_passwords.render_passwords({"dev-a": broker_passwords.hash_password("secret-a")}))
    clock = Clock()
    pw = DevicePasswords(path, cache_s=60, clock=clock)
    assert pw.verify("dev-a", "secret-a") and pw.verifications == 1
    assert pw.verify("dev-a", "secret-a") and pw.verifications == 1 and pw.cache_hits == 1  # cached
    assert not pw.verify("dev-a", "wrong") and not pw.verify("dev-b", "secret-a")
    clock.t += 61
    assert pw.verify("dev-a", "secret-a") and pw.verifications == 3  # expired: checked again
    # a changed file is re-read at once; the old password's cached success does not survive it
    path.write_text(
        broker_passwords.render_passwords(
            {"dev-a": broker_passwords.hash_password("secret-a2"), "dev-b": broker_passwords.hash_password("secret-b")}
        )
    )
    assert not pw.verify("dev-a", "secret-a") and pw.verify("dev-a", "secret-a2") and pw.verify("dev-b", "secret-b")
    # a broken file keeps the last good hashes; a missing one lets nobody in
    path.write_text("not a password file\n")
    assert pw.verify("dev-b", "secret-b") and pw.load_errors == 1
    path.unlink()
    assert not pw.verify("dev-b", "secret-b")


def app_for(auth: Auth) -> FastAPI:
    app = FastAPI()

    async def device_of(request: Request) -> str | None:
        return str(request.path_params["device_id"])

    device = Depends(auth.require_device_or_it(device_of))

    @app.get("/api/devices/{device_id}/meetings")
    async def meetings(device_id: str, who: Principal = device) -> dict[str, str]:
        return {"device": device_id, "who": who.username, "via": who.via}

    return app


def make_auth(tmp_path: Path, mode: DeviceAuthMode, passwords: DevicePasswords | None = None) -> Auth:
    return Auth(
        secret=b"s" * 32,
        users_path=tmp_path / "users.toml",
        meeting_body=lambda _m: None,
        device_auth=mode,
        device_passwords=passwords,
    )


def test_loopback_mode_answers_only_this_host(tmp_path: Path) -> None:
    app = app_for(make_auth(tmp_path, DeviceAuthMode.LOOPBACK))
    local = TestClient(app, client=("127.0.0.1", 40000))
    assert local.get("/api/devices/dev-a/meetings").json()["via"] == "loopback"
    assert local.get("/api/devices/dev-b/meetings").status_code == 200  # any device from this host
    remote = TestClient(app, client=("10.0.0.5", 40000))
    r = remote.get("/api/devices/dev-a/meetings")
    assert r.status_code == 401 and "device_passwords" in r.json()["detail"]
    assert remote.get("/api/devices/dev-a/meetings", headers=basic("dev-a", "x")).status_code == 401


def test_none_mode_is_open_and_passwords_mode_checks(tmp_path: Path) -> None:
    remote = TestClient(app_for(make_auth(tmp_path, DeviceAuthMode.NONE)), client=("10.0.0.5", 40000))
    assert remote.get("/api/devices/dev-a/meetings").status_code == 200
    path = tmp_path / "passwords"
    path.write_text(broker_passwords.render_passwords({"dev-a": broker_passwords.hash_password("secret-a")}))
    auth = make_auth(tmp_path, DeviceAuthMode.PASSWORDS, DevicePasswords(path))
    local = TestClient(app_for(auth), client=("127.0.0.1", 40000))
    assert local.get("/api/devices/dev-a/meetings").status_code == 401  # loopback is no password
    assert local.get("/api/devices/dev-a/meetings", headers=basic("dev-a", "secret-a")).json()["who"] == "dev-a"
    assert local.get("/api/devices/dev-b/meetings", headers=basic("dev-a", "secret-a")).status_code == 403
    assert auth.counters.device_ok == 2 and auth.counters.device_rejected == 0  # the 403 one signed in too
    with pytest.raises(ValueError):
        make_auth(tmp_path, DeviceAuthMode.PASSWORDS)
