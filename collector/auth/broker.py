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

The command line: :mod:`collector.auth.broker_cli` (the argument parser). The pure parts:
:mod:`collector.auth.broker_passwords` (hashes, the password file, the plan per user)
and :mod:`collector.auth.broker_files` (ACL, auth.conf, the devices' and the collector's files).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from collector.auth.broker_cli import build_parser
from collector.auth.broker_files import (
    AgentTarget,
    Layout,
    agent_target,
    check_mqtt_url,
    read_credentials_password,
    render_acl,
    render_auth_conf,
    render_collector_credentials,
    render_collector_env,
    render_device_credentials,
    render_windows_agent_config,
)
from collector.auth.broker_passwords import (
    COLLECTOR_USER,
    USER_RE,
    Action,
    CredentialError,
    UserPlan,
    check_usernames,
    parse_password_file,
    plan_all,
    render_passwords,
)
from likavillkor.config import ConfigError
from likavillkor.roster import load_body_table, load_roster
from likavillkor.topics import ROOT, validate_root

log = logging.getLogger(__name__)


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
    #: issue 17: the other brokers (the same password file and ACL serve every one of them) and the
    #: topic root (one per municipality on a shared broker)
    other_mqtt_urls: tuple[str, ...] = ()
    topic_root: str = ROOT
    #: further collectors (issue 17): the broker's ``use_username_as_clientid`` makes the user the
    #: session, so each collector of a pair needs a user of its own
    other_collector_users: tuple[str, ...] = ()


def generate(device_ids: Iterable[str], opts: Options) -> tuple[list[UserPlan], list[str]]:
    """Write every file of the layout for ``device_ids``; returns the plans and the revoked users."""
    lay = Layout(opts.out)
    ids = check_usernames(device_ids, opts.collector_user)
    others = list(opts.other_collector_users)
    check_usernames(others, opts.collector_user)
    if set(others) & set(ids):
        raise CredentialError(f"--other-collector-user {sorted(set(others) & set(ids))}: a device has that id")
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
    for other in others:
        pw = read_credentials_password(_read(lay.other_collector_toml(other)) or "")
        if pw:
            existing_pw[other] = pw
    users = [opts.collector_user, *others, *ids]
    plans, revoked = plan_all(
        users, existing_hashes=existing_hashes, existing_passwords=existing_pw, rotate=opts.rotate
    )
    _write_broker_files(lay, plans, ids, opts)
    _write_credentials(lay, plans, opts)
    for user in revoked:
        if USER_RE.match(user):  # never a path out of devices/, whatever the old file held
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
        write_secret(
            folder / "agent.toml",
            render_windows_agent_config(
                plan.username,
                plan.password,
                opts.target,
                with_ca=bool(ca_text),
                other_brokers=opts.other_mqtt_urls,
                root=opts.topic_root,
            ),
            0o600,
        )
        if ca_text:
            write_secret(folder / "ca.crt", ca_text, 0o644)
        else:
            (folder / "ca.crt").unlink(missing_ok=True)


def _write_broker_files(lay: Layout, plans: Sequence[UserPlan], ids: Sequence[str], opts: Options) -> None:
    write_secret(lay.passwords, render_passwords({p.username: p.hash for p in plans}), 0o640)
    acl = render_acl(
        ids, collector_user=opts.collector_user, root=opts.topic_root, other_collectors=opts.other_collector_users
    )
    write_secret(lay.acl, acl, 0o640)
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
        if plan.username in opts.other_collector_users:
            text = render_collector_credentials(
                plan.username,
                plan.password,
                mqtt_url=opts.collector_mqtt_url or opts.mqtt_url,
                ca_file=opts.collector_ca_file or opts.ca_file,
                other_brokers=opts.other_mqtt_urls,
                root=opts.topic_root,
            )
            write_secret(lay.other_collector_toml(plan.username), text, 0o600)
        elif plan.username == opts.collector_user:
            url = opts.collector_mqtt_url or opts.mqtt_url
            ca = opts.collector_ca_file or opts.ca_file
            collector_text = render_collector_credentials(
                plan.username,
                plan.password,
                mqtt_url=url,
                ca_file=ca,
                other_brokers=opts.other_mqtt_urls,
                root=opts.topic_root,
            )
            write_secret(lay.collector_toml, collector_text, 0o600)
            collector_env = render_collector_env(
                plan.username,
                plan.password,
                mqtt_url=url,
                ca_file=ca,
                other_brokers=opts.other_mqtt_urls,
                root=opts.topic_root,
            )
            write_secret(lay.collector_env, collector_env, 0o600)
        else:
            write_secret(
                lay.device_file(plan.username),
                render_device_credentials(
                    plan.username,
                    plan.password,
                    mqtt_url=opts.mqtt_url,
                    ca_file=opts.ca_file,
                    target=opts.target,
                    other_brokers=opts.other_mqtt_urls,
                    root=opts.topic_root,
                ),
                0o600,
            )


# ---------------------------------------------------------------------------- CLI


def _summary(plans: Sequence[UserPlan], revoked: Sequence[str], lay: Layout) -> list[str]:
    lines = [f"{p.username}: {p.action.value}" for p in plans]
    lines += [f"{u}: revoked (no longer in the roster)" for u in revoked]
    lines.append(
        f"broker files: {lay.broker}/ — Debian host: link {lay.auth_conf} into /etc/mosquitto/conf.d/ "
        "(include_dir works only in the main mosquitto.conf); Compose: the shipped mosquitto.conf "
        "reads it. Then reload Mosquitto."
    )
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
        for other in args.other_mqtt_url:
            check_mqtt_url(other, option="--other-mqtt-url")
        if args.mqtt_url in args.other_mqtt_url or len(set(args.other_mqtt_url)) != len(args.other_mqtt_url):
            raise CredentialError("--other-mqtt-url: a broker named twice")
        try:
            validate_root(args.topic_root)
        except ValueError as exc:
            raise CredentialError(f"--topic-root: {exc}") from None
        rotate: bool | frozenset[str] = True if args.rotate else frozenset(args.rotate_device)
        unknown = sorted(set(args.rotate_device) - set(roster.devices) - {args.collector_user})
        if unknown:
            raise CredentialError(f"--rotate-device {', '.join(unknown)}: not a device in the roster")
        target = agent_target(args.mqtt_url, args.collector_url, args.reflector, args.ca_file)
        opts = Options(
            out=Path(args.out),
            collector_user=args.collector_user,
            mqtt_url=args.mqtt_url,
            collector_mqtt_url=args.collector_mqtt_url,
            ca_file=args.ca_file,
            collector_ca_file=args.collector_ca_file,
            broker_dir=args.broker_dir,
            rotate=rotate,
            group=args.group,
            target=target,
            windows_dir=Path(args.windows_bundles) if args.windows_bundles else None,
            bundle_ca=Path(args.bundle_ca) if args.bundle_ca else None,
            other_mqtt_urls=tuple(args.other_mqtt_url),
            topic_root=args.topic_root,
            other_collector_users=tuple(dict.fromkeys(args.other_collector_user)),
        )
        plans, revoked = generate(roster.devices, opts)
    except (ConfigError, CredentialError, OSError, LookupError) as exc:
        print(f"broker-credentials: {exc}", file=sys.stderr)
        return 2
    for plan in plans:
        if plan.action is Action.KEPT_HASH_ONLY:
            log.warning(
                "%s: credentials file missing; the old password still works. "
                "Use --rotate-device %s to issue a new file.",
                plan.username,
                plan.username,
            )
    print("\n".join(_summary(plans, revoked, Layout(opts.out))))
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    sys.exit(main(sys.argv[1:]))
