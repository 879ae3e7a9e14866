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
    DIR/devices/{id}.toml         what the IT department hands to each device, mode 0600
    DIR/collector-mqtt.toml       the collector's [mqtt] section, mode 0600
    DIR/collector.env             the same as LIKAVILLKOR_COLLECTOR__MQTT__* variables, mode 0600

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
    """The Mosquitto config snippet that switches authentication on (``include_dir`` it)."""
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


def render_device_credentials(device_id: str, password: str, *, mqtt_url: str, ca_file: str) -> str:
    """The credentials file the IT department puts on the device (keys as in the agent's config)."""
    return (
        f"# Likavillkor: broker credentials for device {device_id}.\n"
        "# Secret: install on this device only (mode 0600), never mail it in clear text.\n"
        f"device_id = {_toml_str(device_id)}\n\n"
        "[mqtt]\n"
        f"url = {_toml_str(mqtt_url)}\n"
        f"username = {_toml_str(device_id)}\n"
        f"password = {_toml_str(password)}\n"
        f"# empty: the system's trust store verifies the broker's certificate\n"
        f"ca_file = {_toml_str(ca_file)}\n"
    )


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


def check_group(name: str) -> int:
    """The group's id, or CredentialError before anything is written."""
    import grp  # POSIX only; the broker's host

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
    return plans, revoked


def _write_broker_files(lay: Layout, plans: Sequence[UserPlan], ids: Sequence[str], opts: Options) -> None:
    write_secret(lay.passwords, render_passwords({p.username: p.hash for p in plans}), 0o640)
    write_secret(lay.acl, render_acl(ids, collector_user=opts.collector_user), 0o640)
    write_secret(lay.auth_conf, render_auth_conf(opts.broker_dir or str(lay.broker.resolve())), 0o644)
    if opts.group:
        for path in (lay.passwords, lay.acl, lay.auth_conf):
            shutil.chown(path, group=opts.group)


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
                                                   ca_file=opts.ca_file), 0o600)


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
    p.add_argument("--collector-user", default=COLLECTOR_USER)
    p.add_argument("--group", default="", help="chgrp the broker files to this group (e.g. mosquitto)")
    p.add_argument("--rotate", action="store_true", help="issue new passwords to everyone")
    p.add_argument("--rotate-device", action="append", default=[], metavar="ID",
                   help="issue a new password to this device (repeatable), e.g. a lost tablet")
    return p


def _summary(plans: Sequence[UserPlan], revoked: Sequence[str], lay: Layout) -> list[str]:
    lines = [f"{p.username}: {p.action.value}" for p in plans]
    lines += [f"{u}: revoked (no longer in the roster)" for u in revoked]
    lines.append(f"broker files: {lay.broker}/ (include_dir it from mosquitto.conf, then reload Mosquitto)")
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
        opts = Options(out=Path(args.out), collector_user=args.collector_user, mqtt_url=args.mqtt_url,
                       collector_mqtt_url=args.collector_mqtt_url, ca_file=args.ca_file,
                       collector_ca_file=args.collector_ca_file, broker_dir=args.broker_dir,
                       rotate=rotate, group=args.group)
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
