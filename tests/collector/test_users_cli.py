"""``likavillkor-collector users``: day-two commands (list, remove, revoke-token) and a users file the
collector's service user can read after IT ran the command as root (issue 16: every signed-in
request answered 500 because ``users.toml`` was root-only)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from collector import auth
from collector.cli import main


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["users", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_remove_and_revoke_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    users = str(tmp_path / "users.toml")
    monkeypatch.setattr(sys, "stdin", _Line("a-long-password-1\n"))
    assert _cli(capsys, "--users", users, "add-user", "ordf", "--role", "chair", "--body", "Kommunstyrelsen")[0] == 0
    token = _cli(capsys, "--users", users, "add-token", "prometheus", "--role", "it")[1].strip()
    assert _cli(capsys, "--users", users, "add-token", "backup-script")[0] == 0
    code, out, _ = _cli(capsys, "--users", users, "list")
    assert code == 0
    lines = out.splitlines()
    assert any(line.startswith("user  ordf\tchair\tkommunstyrelsen") for line in lines)
    assert any(line.startswith("token prometheus\tit") for line in lines)
    assert token not in out and "argon2" not in out  # no secrets, no hashes beyond a 12-digit prefix
    assert auth.hash_token(token)[:12] in out

    assert _cli(capsys, "--users", users, "revoke-token", "prometheus")[0] == 0
    data = auth.read_users(Path(users))
    assert auth.hash_token(token) not in data.tokens and [t.name for t in data.tokens.values()] == ["backup-script"]
    code, _, err = _cli(capsys, "--users", users, "revoke-token", "prometheus")
    assert code == 1 and "no API token" in err

    assert _cli(capsys, "--users", users, "remove", "ORDF")[0] == 0  # user names are case-insensitive
    assert auth.read_users(Path(users)).users == {}
    code, _, err = _cli(capsys, "--users", users, "remove", "ordf")
    assert code == 1 and "no user" in err


def test_revoke_by_hash_prefix_when_names_repeat(tmp_path: Path) -> None:
    users = tmp_path / "users.toml"
    first = auth.add_api_token(users, "script")
    second = auth.add_api_token(users, "script")
    assert auth.revoke_tokens(users, auth.hash_token(first)[:12]) == 1
    assert list(auth.read_users(users).tokens) == [auth.hash_token(second)]
    assert auth.revoke_tokens(users, "scr") == 0  # a short prefix is not a hash prefix


def test_users_file_is_private_and_keeps_its_owner(tmp_path: Path) -> None:
    """Written 0600 (it belongs to the service user, see below), never wider, whatever the umask (issue 12)."""
    users = tmp_path / "users.toml"
    old = os.umask(0o077)
    try:
        auth.add_api_token(users, "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(users.stat().st_mode) == 0o600


def test_as_root_a_new_users_file_belongs_to_the_data_directorys_owner(tmp_path: Path) -> None:
    """IT runs ``users add-token`` as root in the service's StateDirectory (owned by the service
    user): the file must belong to that user and group, or the service cannot read it. Runs the real
    command as root against a directory owned by another user (nobody)."""
    assert os.geteuid() == 0, "this test needs root (CI runs as root)"
    nobody = pwd.getpwnam("nobody")
    # pytest's tmp_path lies under a 0700 directory that nobody cannot enter: a traversable one
    root = Path(tempfile.mkdtemp(prefix="lv-users-", dir="/tmp"))
    try:
        root.chmod(0o755)
        _as_root_check(root, nobody)
    finally:
        shutil.rmtree(root)


def _as_root_check(root: Path, nobody: pwd.struct_passwd) -> None:
    data = root / "state"
    data.mkdir()
    os.chown(data, nobody.pw_uid, nobody.pw_gid)
    data.chmod(0o750)
    users = data / "users.toml"
    done = subprocess.run(
        [sys.executable, "-m", "collector", "users", "--users", str(users), "add-token", "p"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    st = users.stat()
    assert (st.st_uid, st.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    # the service user itself can read it (not only in theory)
    read = subprocess.run(
        ["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups", "cat", str(users)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert read.returncode == 0 and "[[token]]" in read.stdout, read.stderr
    # a rewrite keeps the owner
    auth.add_api_token(users, "q")
    assert (users.stat().st_uid, users.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)


def test_owner_decision() -> None:
    assert auth.users_file_owner(Path("/nonexistent/x/users.toml"), euid=0) is None
    assert auth.users_file_owner(Path("/"), euid=1000) is None
    assert auth.users_file_owner(Path("/etc/passwd"), euid=0) == (0, 0)


class _Line:
    def __init__(self, text: str) -> None:
        self.text = text

    def readline(self) -> str:
        return self.text
