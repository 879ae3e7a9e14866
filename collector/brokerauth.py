"""Broker credentials for Mosquitto, generated from the collector's device registry (the roster).

Every device in the roster (``Roster.devices``) gets an MQTT user named after its device id and a
random password; the collector gets a user of its own. The ACL pins each device to its own topic
prefix ``likavillkor/v1/devices/{id}/#`` (write only), so one member's tablet can neither speak for
another nor read another member's data; the collector may read everything under
``likavillkor/v1/#`` and write nothing. Anonymous clients are refused.

Output directory layout (``likavillkor-collector broker-credentials --roster R --out DIR``)::

    DIR/broker/passwords          Mosquitto password_file (PBKDF2-SHA512, ``$7$``), mode 0640
    DIR/broker/acl                Mosquitto acl_file, mode 0640
    DIR/broker/auth.conf          allow_anonymous false + password_file + acl_file, mode 0644
    DIR/devices/{id}.toml         each device's complete agent config (broker, login, collector URL
                                  with port, reflector, CA), mode 0600
    DIR/collector-mqtt.toml       the collector's [mqtt] section, mode 0600
    DIR/collector.env             the same as LIKAVILLKOR_COLLECTOR__MQTT__* variables, mode 0600
    WIN/{id}/agent.toml, ca.crt   with ``--windows-bundles WIN``: the device's config in Windows paths
                                  for deploy/windows/install-agent.ps1 (folder 0700, file 0600)

With ``--group G`` the broker files and DIR, DIR/broker are group G (0640/0750): on a Debian host
``likavillkor``, which both the collector's service user and ``mosquitto`` belong to.

Re-running keeps every existing password (read back from the credentials files) unless
``--rotate`` (everyone) or ``--rotate-device ID`` is given. A device that left the roster loses
its user, its ACL entry and its credentials file (revoked).

Password hashes are Mosquitto 2.x's ``$7$`` format, as ``mosquitto_passwd`` writes it:
``user:$7$ITERATIONS$base64(salt)$base64(PBKDF2-HMAC-SHA512(password, salt, ITERATIONS))``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import shutil
import string
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from likavillkor.config import ConfigError
from likavillkor.roster import load_body_table, load_roster
from likavillkor.topics import ROOT

log = logging.getLogger(__name__)

COLLECTOR_USER = "likavillkor-collector"
#: mosquitto_passwd 2.x defaults (src/password_mosq.h: PW_DEFAULT_ITERATIONS, SALT_LEN)
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12
PASSWORD_LENGTH = 32
#: MQTT-safe user names: no '/', '+', '#' (ACL %u substitution) and no ':' (password file)
_USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HASH_RE = re.compile(r"^\$7\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$")
_ALNUM = string.ascii_letters + string.digits


class CredentialError(Exception):
    """Bad input for the credentials: an unusable device id, a broken existing file."""


class Action(StrEnum):
    NEW = "new"
    KEPT = "kept"
    ROTATED = "rotated"
    #: the password file has a hash but its credentials file is gone: the device keeps working,
    #: no new file can be written without rotating
    KEPT_HASH_ONLY = "kept-hash-only"


@dataclass(frozen=True, slots=True)
class UserPlan:
    username: str
    action: Action
    hash: str
    #: the plain password to write to the credentials file; None for KEPT_HASH_ONLY
    password: str | None


# ---------------------------------------------------------------------------- hashing (pure)

def new_password() -> str:
    """32 random letters and digits, starting with a letter (so an environment override is never
    read as a TOML number or boolean)."""
    return secrets.choice(string.ascii_letters) + "".join(secrets.choice(_ALNUM) for _ in range(PASSWORD_LENGTH - 1))


def hash_password(password: str, *, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto's ``$7$`` hash (PBKDF2-HMAC-SHA512) of ``password``."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: str, encoded: str) -> bool:
    """True when ``encoded`` (a ``$7$`` hash) is the hash of ``password``; False for anything else."""
    match = _HASH_RE.match(encoded)
    if not match:
        return False
    try:
        salt = base64.b64decode(match.group(2), validate=True)
        want = base64.b64decode(match.group(3), validate=True)
    except (binascii.Error, ValueError):
        return False
    iterations = int(match.group(1))
    if not 1 <= iterations <= 10_000_000:
        return False
    got = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, iterations)
    return hmac.compare_digest(got, want)


# ---------------------------------------------------------------------------- files (pure)

def parse_password_file(text: str, *, source: str = "passwords") -> dict[str, str]:
    """``user:hash`` lines -> ``{user: hash}``; comments and blank lines ignored."""
    out: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user:
            raise CredentialError(f"{source} line {number}: expected 'user:hash'")
        out[user] = hashed
    return out


def render_passwords(hashes: Mapping[str, str]) -> str:
    """Mosquitto's password_file: one ``user:hash`` line per user, sorted."""
    head = "# Generated by likavillkor-collector broker-credentials. Do not edit: re-run it instead.\n"
    return head + "".join(f"{user}:{hashes[user]}\n" for user in sorted(hashes))


def render_acl(device_ids: Iterable[str], *, collector_user: str = COLLECTOR_USER, root: str = ROOT) -> str:
    """Mosquitto's acl_file. Lines before any ``user`` apply to anonymous clients: none.

    The collector reads everything under ``{root}/#`` and writes nothing. Each device writes only
    under ``{root}/devices/{its id}/#`` and reads nothing (members never see each other's data)."""
    lines = [
        "# Generated by likavillkor-collector broker-credentials. Do not edit: re-run it instead.",
        "# Anonymous clients: no access (and allow_anonymous false refuses them anyway).",
        "",
        "# The collector: reads every device's messages, publishes nothing.",
        f"user {collector_user}",
        f"topic read {root}/#",
    ]
    for device in sorted(set(device_ids)):
        lines += ["", f"# device {device}: its own topics only", f"user {device}",
                  f"topic write {root}/devices/{device}/#"]
    return "\n".join(lines) + "\n"


def render_auth_conf(broker_dir: str) -> str:
    """The Mosquitto config snippet that switches authentication on. Mosquitto honours
    ``include_dir`` only in its main config file: Compose's mosquitto.conf (a main file)
    ``include_dir``s the directory; on a Debian host the file is linked into ``/etc/mosquitto/conf.d/``,
    which Debian's main file includes (deploy/host/install.sh)."""
    d = broker_dir.rstrip("/")
    return (
        "# Generated by likavillkor-collector broker-credentials.\n"
        "# Every client must log in; each user is held to the ACL. Each listener must also say\n"
        "# `use_username_as_clientid true` (deploy/mosquitto/mosquitto.conf; Mosquitto reads it per\n"
        "# listener only, never from an included file): no client can take over another's session.\n"
        "allow_anonymous false\n"
        f"password_file {d}/passwords\n"
        f"acl_file {d}/acl\n"
    )


def _toml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, slots=True)
class AgentTarget:
    """Where a device's agent reaches the municipality: everything beside its login that the agent's
    config needs so that it measures what the chair sees (path probes, meeting ids, self-tests)."""

    mqtt_url: str
    collector_url: str
    reflector_host: str
    reflector_port: int
    ca_file: str = ""


def default_collector_url(mqtt_url: str, port: int = 8860) -> str:
    """``https://{the broker's host}:8860``: one host, one certificate (docs/tls.md)."""
    host = urlsplit(mqtt_url).hostname or ""
    return f"https://{host}:{port}"


def check_collector_url(url: str) -> str:
    """``http(s)://host:port``, the port spelled out (a bare https:// would be 443, not 8860)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("https", "http") or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise CredentialError(f"--collector-url {url!r}: expected https://host:8860 (with the port)")
    return url.rstrip("/")


def render_device_credentials(device_id: str, password: str, *, mqtt_url: str, ca_file: str,
                              target: AgentTarget | None = None) -> str:
    """The device's complete agent config (keys as in agent/config.py): install it as the agent's
    whole config file. With ``target`` it names the collector (meetings, self-test, media peer), the
    reflector (path probes) and the CA; without, only the broker login (the old format)."""
    text = (
        f"# Likavillkor agent config for device {device_id} (broker-credentials).\n"
        "# Secret: install on this device only (mode 0600), never mail it in clear text.\n"
        f"device_id = {_toml_str(device_id)}\n\n"
        "[mqtt]\n"
        f"url = {_toml_str(mqtt_url)}\n"
        f"username = {_toml_str(device_id)}\n"
        f"password = {_toml_str(password)}\n"
        f"# empty: the system's trust store verifies the broker's certificate\n"
        f"ca_file = {_toml_str(ca_file)}\n"
    )
    if target is None:
        return text
    return text + (
        "\n# The collector: meetings (ids, H8 self-test times), speed test and media peer.\n"
        "[collector]\n"
        f"url = {_toml_str(target.collector_url)}\n"
        f"ca_file = {_toml_str(target.ca_file)}\n"
        "\n# The reflector the path probes (STAMP) bounce off: the chair's network figures.\n"
        "[path]\n"
        f"host = {_toml_str(target.reflector_host)}\n"
        f"port = {target.reflector_port}\n"
    )


#: where deploy/windows/install-agent.ps1 puts a device's files
WINDOWS_DATA = "C:\\ProgramData\\Likavillkor"


def render_windows_agent_config(device_id: str, password: str, target: AgentTarget, *, with_ca: bool) -> str:
    """A Windows device's complete agent config for deploy/windows/install-agent.ps1: the device
    file with Windows paths (state and, when the bundle has one, the CA in C:\\ProgramData\\Likavillkor)."""
    ca = f"{WINDOWS_DATA}\\ca.crt" if with_ca else ""
    windows = AgentTarget(mqtt_url=target.mqtt_url, collector_url=target.collector_url,
                          reflector_host=target.reflector_host, reflector_port=target.reflector_port, ca_file=ca)
    body = render_device_credentials(device_id, password, mqtt_url=target.mqtt_url, ca_file=ca, target=windows)
    head, sep, rest = body.partition("\n\n[mqtt]")
    return (f"{head}\n# the outbox and the CA bundle (install-agent.ps1 makes it, SYSTEM and Administrators only)\n"
            f"data_dir = {_toml_str(WINDOWS_DATA + chr(92) + 'state')}{sep}{rest}"
            if sep else body)


def render_collector_credentials(username: str, password: str, *, mqtt_url: str, ca_file: str) -> str:
    """The collector's ``[mqtt]`` section (keys of collector/config.py's MqttSection)."""
    return (
        "# Likavillkor collector: broker credentials. Secret (mode 0600).\n"
        "# Paste into collector.toml, or use collector.env beside this file.\n"
        "[mqtt]\n"
        f"url = {_toml_str(mqtt_url)}\n"
        f"username = {_toml_str(username)}\n"
        f"password = {_toml_str(password)}\n"
        f"ca_file = {_toml_str(ca_file)}\n"
        "# the broker binds client ids to user names (use_username_as_clientid): the collector's\n"
        "# session is its own user's, which no device can log in as\n"
        f"client_id = {_toml_str(username)}\n"
    )


def render_collector_env(username: str, password: str, *, mqtt_url: str, ca_file: str) -> str:
    pairs = {"URL": mqtt_url, "USERNAME": username, "PASSWORD": password, "CA_FILE": ca_file, "CLIENT_ID": username}
    return "".join(f"LIKAVILLKOR_COLLECTOR__MQTT__{k}={v}\n" for k, v in pairs.items() if v)


def read_credentials_password(text: str) -> str | None:
    """The ``[mqtt] password`` of a credentials file, None when missing or unreadable."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None
    mqtt = data.get("mqtt")
    pw = mqtt.get("password") if isinstance(mqtt, dict) else None
    return pw if isinstance(pw, str) and pw else None


# ---------------------------------------------------------------------------- decisions (pure)

def check_mqtt_url(url: str, *, option: str = "--mqtt-url") -> str:
    """``mqtts://host[:port]`` (or ``mqtt://`` for a broker without TLS), else CredentialError."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise CredentialError(f"{option} {url!r}: the port is not a number from 1 to 65535") from None
    if parts.scheme not in ("mqtts", "mqtt") or not parts.hostname or parts.path not in ("", "/"):
        raise CredentialError(f"{option} {url!r}: expected mqtts://host:8883")
    return url


def agent_target(mqtt_url: str, collector_url: str, reflector: str, ca_file: str) -> AgentTarget:
    """The devices' collector URL (default ``https://<broker host>:8860``) and reflector
    (default the collector's host, port 8862), checked; CredentialError names the option."""
    url = check_collector_url(collector_url or default_collector_url(mqtt_url))
    host, port = urlsplit(url).hostname or "", 8862
    if reflector:
        rhost, sep, rport = reflector.rpartition(":")
        if not sep or not rhost or not rport.isdigit() or not 1 <= int(rport) <= 65535:
            raise CredentialError(f"--reflector {reflector!r}: expected HOST:PORT, e.g. likavillkor.kommun.se:8862")
        host, port = rhost.strip("[]"), int(rport)
    return AgentTarget(mqtt_url=mqtt_url, collector_url=url, reflector_host=host, reflector_port=port,
                       ca_file=ca_file)


def check_group(name: str) -> int:
    """The group's id (a name, or a number such as Compose's collector uid 10001), or
    CredentialError before anything is written."""
    import grp  # POSIX only; the broker's host

    if name.isdigit():
        return int(name)
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise CredentialError(f"--group {name!r}: no such group on this machine") from None


def check_usernames(device_ids: Iterable[str], collector_user: str) -> list[str]:
    """The device ids sorted, or :class:`CredentialError` for one unusable as an MQTT user."""
    ids = sorted(set(device_ids))
    for name in [collector_user, *ids]:
        if not _USER_RE.match(name):
            raise CredentialError(f"{name!r} cannot be an MQTT user name: use letters, digits, '.', '_' or '-'")
    if collector_user in ids:
        raise CredentialError(f"device id {collector_user!r} is the collector's user name: rename the device")
    return ids


def plan_user(username: str, *, existing_hash: str | None, existing_password: str | None, rotate: bool,
              make_password: Callable[[], str] = new_password,
              hasher: Callable[[str], str] = hash_password) -> UserPlan:
    """Keep, create or rotate one user's password."""
    if rotate:
        pw = make_password()
        return UserPlan(username, Action.ROTATED, hasher(pw), pw)
    if existing_password is not None:
        keep = existing_hash is not None and verify_password(existing_password, existing_hash)
        return UserPlan(username, Action.KEPT, existing_hash if keep and existing_hash else hasher(existing_password),
                        existing_password)
    if existing_hash is not None:
        return UserPlan(username, Action.KEPT_HASH_ONLY, existing_hash, None)
    pw = make_password()
    return UserPlan(username, Action.NEW, hasher(pw), pw)


def plan_all(users: Sequence[str], *, existing_hashes: Mapping[str, str], existing_passwords: Mapping[str, str],
             rotate: bool | Iterable[str], make_password: Callable[[], str] = new_password,
             hasher: Callable[[str], str] = hash_password) -> tuple[list[UserPlan], list[str]]:
    """Plans for ``users`` and the users of ``existing_hashes`` that are revoked (not in ``users``)."""
    rotate_set = set(users) if rotate is True else (set() if rotate is False else set(rotate))
    plans = [plan_user(u, existing_hash=existing_hashes.get(u), existing_password=existing_passwords.get(u),
                       rotate=u in rotate_set, make_password=make_password, hasher=hasher) for u in users]
    revoked = sorted(set(existing_hashes) - set(users))
    return plans, revoked


# ---------------------------------------------------------------------------- I/O

def write_secret(path: Path, text: str, mode: int) -> None:
    """Write atomically with ``mode`` from the start (never briefly world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        os.write(fd, text.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None


@dataclass(frozen=True, slots=True)
class Layout:
    out: Path

    @property
    def broker(self) -> Path:
        return self.out / "broker"

    @property
    def passwords(self) -> Path:
        return self.broker / "passwords"

    @property
    def acl(self) -> Path:
        return self.broker / "acl"

    @property
    def auth_conf(self) -> Path:
        return self.broker / "auth.conf"

    @property
    def devices(self) -> Path:
        return self.out / "devices"

    def device_file(self, device_id: str) -> Path:
        return self.devices / f"{device_id}.toml"

    @property
    def collector_toml(self) -> Path:
        return self.out / "collector-mqtt.toml"

    @property
    def collector_env(self) -> Path:
        return self.out / "collector.env"


@dataclass(frozen=True, slots=True)
class Options:
    out: Path
    collector_user: str = COLLECTOR_USER
    mqtt_url: str = ""
    collector_mqtt_url: str = ""
    ca_file: str = ""
    collector_ca_file: str = ""
    broker_dir: str = ""
    rotate: bool | frozenset[str] = False
    group: str = ""
    #: the collector and reflector written into every device's file; None: the broker login only
    target: AgentTarget | None = None
    #: per-device bundles for deploy/windows/install-agent.ps1 (DIR/<id>/agent.toml [+ ca.crt])
    windows_dir: Path | None = None
    #: the CA (PEM) copied into every bundle; empty: the devices trust the broker's chain already
    bundle_ca: Path | None = None


def generate(device_ids: Iterable[str], opts: Options) -> tuple[list[UserPlan], list[str]]:
    """Write every file of the layout for ``device_ids``; returns the plans and the revoked users."""
    lay = Layout(opts.out)
    ids = check_usernames(device_ids, opts.collector_user)
    if opts.group:
        check_group(opts.group)
    old_text = _read(lay.passwords)
    existing_hashes = parse_password_file(old_text, source=str(lay.passwords)) if old_text else {}
    existing_pw: dict[str, str] = {}
    for device in ids:
        pw = read_credentials_password(_read(lay.device_file(device)) or "")
        if pw:
            existing_pw[device] = pw
    collector_pw = read_credentials_password(_read(lay.collector_toml) or "")
    if collector_pw:
        existing_pw[opts.collector_user] = collector_pw
    users = [opts.collector_user, *ids]
    plans, revoked = plan_all(users, existing_hashes=existing_hashes, existing_passwords=existing_pw,
                              rotate=opts.rotate)
    _write_broker_files(lay, plans, ids, opts)
    _write_credentials(lay, plans, opts)
    for user in revoked:
        if _USER_RE.match(user):  # never a path out of devices/, whatever the old file held
            lay.device_file(user).unlink(missing_ok=True)
            if opts.windows_dir is not None:
                shutil.rmtree(opts.windows_dir / user, ignore_errors=True)
    if opts.windows_dir is not None:
        _write_windows_bundles(opts.windows_dir, plans, opts)
    return plans, revoked


def _write_windows_bundles(root: Path, plans: Sequence[UserPlan], opts: Options) -> None:
    """One folder per device: what deploy/windows/install-agent.ps1 installs on that PC (secret: 0700)."""
    if opts.target is None:
        raise CredentialError("--windows-bundles needs the collector's address (--collector-url)")
    ca_text = opts.bundle_ca.read_text(encoding="ascii") if opts.bundle_ca else ""
    if opts.bundle_ca and "-----BEGIN CERTIFICATE-----" not in ca_text:
        raise CredentialError(f"--bundle-ca {opts.bundle_ca}: no PEM certificate in it")
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o700)
    for plan in plans:
        if plan.password is None or plan.username == opts.collector_user:
            continue
        folder = root / plan.username
        folder.mkdir(exist_ok=True)
        folder.chmod(0o700)
        write_secret(folder / "agent.toml", render_windows_agent_config(plan.username, plan.password, opts.target,
                                                                       with_ca=bool(ca_text)), 0o600)
        if ca_text:
            write_secret(folder / "ca.crt", ca_text, 0o644)
        else:
            (folder / "ca.crt").unlink(missing_ok=True)


def _write_broker_files(lay: Layout, plans: Sequence[UserPlan], ids: Sequence[str], opts: Options) -> None:
    write_secret(lay.passwords, render_passwords({p.username: p.hash for p in plans}), 0o640)
    write_secret(lay.acl, render_acl(ids, collector_user=opts.collector_user), 0o640)
    write_secret(lay.auth_conf, render_auth_conf(opts.broker_dir or str(lay.broker.resolve())), 0o644)
    if opts.group:
        # the broker (mosquitto) and the collector's service user read these: both in the group
        gid = check_group(opts.group)
        for path in (lay.passwords, lay.acl, lay.auth_conf):
            os.chown(path, -1, gid)
        for directory in (lay.out, lay.broker):
            os.chown(directory, -1, gid)
            directory.chmod(0o750)


def _write_credentials(lay: Layout, plans: Sequence[UserPlan], opts: Options) -> None:
    lay.devices.mkdir(parents=True, exist_ok=True)
    lay.devices.chmod(0o700)
    for plan in plans:
        if plan.password is None:
            continue
        if plan.username == opts.collector_user:
            url = opts.collector_mqtt_url or opts.mqtt_url
            ca = opts.collector_ca_file or opts.ca_file
            write_secret(lay.collector_toml, render_collector_credentials(plan.username, plan.password,
                                                                          mqtt_url=url, ca_file=ca), 0o600)
            write_secret(lay.collector_env, render_collector_env(plan.username, plan.password,
                                                                 mqtt_url=url, ca_file=ca), 0o600)
        else:
            write_secret(lay.device_file(plan.username),
                         render_device_credentials(plan.username, plan.password, mqtt_url=opts.mqtt_url,
                                                   ca_file=opts.ca_file, target=opts.target), 0o600)


# ---------------------------------------------------------------------------- CLI

def build_parser(prog: str = "likavillkor-collector broker-credentials") -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Generate Mosquitto's password and ACL files and each "
                                "device's credentials from the roster. Existing passwords are kept.")
    p.add_argument("--roster", required=True, help="the roster TOML (meetings, participants, [[device]])")
    p.add_argument("--out", required=True, help="output directory (see docs/operations.md)")
    p.add_argument("--bodies", default="", help="a body table replacing the shipped one (H22)")
    p.add_argument("--mqtt-url", required=True, help="broker URL written into the devices' files, "
                   "e.g. mqtts://likavillkor.kommun.se:8883 (the name in the broker's certificate)")
    p.add_argument("--collector-mqtt-url", default="", help="broker URL for the collector (default: --mqtt-url)")
    p.add_argument("--ca-file", default="", help="CA file path on the devices (empty: system trust store)")
    p.add_argument("--collector-ca-file", default="", help="CA file path for the collector (default: --ca-file)")
    p.add_argument("--broker-dir", default="", help="where the broker reads DIR/broker from "
                   "(default: its absolute path here; Compose: /mosquitto/auth)")
    p.add_argument("--collector-url", default="", help="the collector's HTTPS address on the devices, with the "
                   "port (default: https://<the --mqtt-url host>:8860)")
    p.add_argument("--reflector", default="", metavar="HOST:PORT", help="the UDP reflector for the path probes "
                   "(default: the collector's host, port 8862)")
    p.add_argument("--windows-bundles", default="", metavar="DIR", help="also write DIR/<device id>/agent.toml "
                   "(+ ca.crt) for deploy/windows/install-agent.ps1 (Windows paths)")
    p.add_argument("--bundle-ca", default="", metavar="PEM", help="the CA copied into every Windows bundle "
                   "(devices that do not trust the municipality's internal CA)")
    p.add_argument("--collector-user", default=COLLECTOR_USER)
    p.add_argument("--group", default="", help="chgrp the broker files to this group (e.g. mosquitto)")
    p.add_argument("--rotate", action="store_true", help="issue new passwords to everyone")
    p.add_argument("--rotate-device", action="append", default=[], metavar="ID",
                   help="issue a new password to this device (repeatable), e.g. a lost tablet")
    return p


def _summary(plans: Sequence[UserPlan], revoked: Sequence[str], lay: Layout) -> list[str]:
    lines = [f"{p.username}: {p.action.value}" for p in plans]
    lines += [f"{u}: revoked (no longer in the roster)" for u in revoked]
    lines.append(f"broker files: {lay.broker}/ — Debian host: link {lay.auth_conf} into /etc/mosquitto/conf.d/ "
                 "(include_dir works only in the main mosquitto.conf); Compose: the shipped mosquitto.conf "
                 "reads it. Then reload Mosquitto.")
    lines.append(f"device configs: {lay.devices}/<id>.toml — each is that device's complete agent config")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already explained
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    try:
        bodies = load_body_table(args.bodies) if args.bodies else None
        roster = load_roster(args.roster, bodies=bodies)
        check_mqtt_url(args.mqtt_url)
        if args.collector_mqtt_url:
            check_mqtt_url(args.collector_mqtt_url, option="--collector-mqtt-url")
        rotate: bool | frozenset[str] = True if args.rotate else frozenset(args.rotate_device)
        unknown = sorted(set(args.rotate_device) - set(roster.devices) - {args.collector_user})
        if unknown:
            raise CredentialError(f"--rotate-device {', '.join(unknown)}: not a device in the roster")
        target = agent_target(args.mqtt_url, args.collector_url, args.reflector, args.ca_file)
        opts = Options(out=Path(args.out), collector_user=args.collector_user, mqtt_url=args.mqtt_url,
                       collector_mqtt_url=args.collector_mqtt_url, ca_file=args.ca_file,
                       collector_ca_file=args.collector_ca_file, broker_dir=args.broker_dir,
                       rotate=rotate, group=args.group, target=target,
                       windows_dir=Path(args.windows_bundles) if args.windows_bundles else None,
                       bundle_ca=Path(args.bundle_ca) if args.bundle_ca else None)
        plans, revoked = generate(roster.devices, opts)
    except (ConfigError, CredentialError, OSError, LookupError) as exc:
        print(f"broker-credentials: {exc}", file=sys.stderr)
        return 2
    for plan in plans:
        if plan.action is Action.KEPT_HASH_ONLY:
            log.warning("%s: credentials file missing; the old password still works. "
                        "Use --rotate-device %s to issue a new file.", plan.username, plan.username)
    print("\n".join(_summary(plans, revoked, Layout(opts.out))))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sys.exit(main(sys.argv[1:]))
