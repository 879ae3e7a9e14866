"""A ``systemctl`` for a throw-away root on a machine without systemd as PID 1 (CI containers).

``tests/deploy/test_host_install.py`` puts this first on PATH (as ``systemctl``) and runs
deploy/host/install.sh and the commands of docs/operations.md. Each service is started from its unit
file, the way systemd would: ``ExecStartPre=`` then ``ExecStart=`` with ``User=``/``Group=`` (and the
user's supplementary groups, as systemd's initgroups), ``Environment=``, ``EnvironmentFile=``,
``LoadCredential=`` (copied to ``%d``, owned by the service user, 0400), ``StateDirectory=``,
``UMask=``. The unit is ``$LIKAVILLKOR_PREFIX/etc/systemd/system/NAME.service`` (installed there by
install.sh, paths already in the prefix), else Debian's ``/lib/systemd/system/NAME.service`` with its
absolute /etc, /var and /run paths moved into the prefix. Services named in
``$LIKAVILLKOR_SHIM_EXTERNAL`` (e.g. postgresql) are provided by the test and treated as running.

Not emulated: sandboxing (ProtectSystem=, ...: ``systemd-analyze verify``/``security`` check those),
Type=notify readiness (the test waits for the ports), restarts on failure.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

SYSTEM_DIRS = (Path("/lib/systemd/system"), Path("/usr/lib/systemd/system"))
_HOST_PATH = re.compile(r"(?<![\w./-])/(etc|var|run)/")


def prefix() -> str:
    return os.environ.get("LIKAVILLKOR_PREFIX", "")


def move(text: str, root: str) -> str:
    """Absolute /etc, /var and /run paths in ``text`` moved under ``root`` (not those already there)."""
    return _HOST_PATH.sub(lambda m: f"{root}/{m.group(1)}/", text) if root else text


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, _, value = line.partition("=")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def find_unit(name: str) -> tuple[dict[str, list[str]], bool]:
    """The ``[Service]`` section and whether its paths needed moving (a system unit)."""
    unit = name if name.endswith(".service") else f"{name}.service"
    own = Path(f"{prefix()}/etc/systemd/system/{unit}")
    if own.is_file():
        return parse_unit(own.read_text()).get("Service", {}), False
    for d in SYSTEM_DIRS:
        if (d / unit).is_file():
            return parse_unit(move((d / unit).read_text(), prefix())).get("Service", {}), True
    raise SystemExit(f"systemctl (test): no unit {unit}")


def run_dir() -> Path:
    d = Path(f"{prefix()}/run/unitrun")
    d.mkdir(parents=True, exist_ok=True)
    return d


def pid_of(name: str) -> int | None:
    try:
        pid = int((run_dir() / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None
    return None if state == "Z" else pid


def _env_words(value: str) -> dict[str, str]:
    return dict(w.split("=", 1) for w in shlex.split(value) if "=" in w)


def _env_file(path: str) -> dict[str, str]:
    optional = path.startswith("-")
    path = path.lstrip("-")
    try:
        text = Path(path).read_text()
    except OSError:
        if optional:
            return {}
        raise
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            k, _, v = line.partition("=")
            out[k.strip()] = v.strip().strip('"')
    return out


def _expand(words: list[str], env: dict[str, str]) -> list[str]:
    """systemd's ExecStart variables: ``$VAR`` alone is split into words, ``${VAR}`` is one word."""
    out: list[str] = []
    for w in words:
        m = re.fullmatch(r"\$(\w+)", w)
        if m:
            out += env.get(m.group(1), "").split()
        else:
            out.append(re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), w))
    return out


def start(name: str) -> None:
    if name in os.environ.get("LIKAVILLKOR_SHIM_EXTERNAL", "").split():
        return
    if pid_of(name):
        return
    svc, _ = find_unit(name)
    user = svc.get("User", ["root"])[-1]
    pw = pwd.getpwnam(user)
    gid = grp.getgrnam(svc["Group"][-1]).gr_gid if "Group" in svc else pw.pw_gid
    groups = set(os.getgrouplist(user, gid)) | {
        grp.getgrnam(g).gr_gid for v in svc.get("SupplementaryGroups", []) for g in v.split()
    }
    unit_id = name if name.endswith(".service") else f"{name}.service"
    creds = Path(f"{prefix()}/run/credentials/{unit_id}")
    spec = {"%d": str(creds), "%%": "%"}

    def specifiers(value: str) -> str:
        return re.sub(r"%[d%]", lambda m: spec[m.group(0)], value)

    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "HOME": pw.pw_dir,
        "USER": user,
        "LOGNAME": user,
    }
    for value in svc.get("Environment", []):
        env.update({k: specifiers(v) for k, v in _env_words(value).items()})
    for value in svc.get("EnvironmentFile", []):
        env.update(_env_file(value))
    if "LoadCredential" in svc:
        shutil.rmtree(creds, ignore_errors=True)
        creds.mkdir(parents=True)
        for value in svc["LoadCredential"]:
            cid, _, source = value.partition(":")
            shutil.copyfile(source, creds / cid)
            os.chown(creds / cid, pw.pw_uid, gid)
            (creds / cid).chmod(0o400)
        os.chown(creds, pw.pw_uid, gid)
        creds.chmod(0o500)
    for value in svc.get("StateDirectory", []):
        for d in value.split():
            state = Path(f"{prefix()}/var/lib/{d}")
            state.mkdir(parents=True, exist_ok=True)
            os.chown(state, pw.pw_uid, gid)
            state.chmod(int(svc.get("StateDirectoryMode", ["0755"])[-1], 8))
    umask = int(svc.get("UMask", ["0022"])[-1], 8)
    for pre in svc.get("ExecStartPre", []):
        subprocess.run(
            _expand(shlex.split(specifiers(pre.lstrip("-@+!"))), env),
            env=env,
            check=not pre.startswith("-"),
            timeout=60,
        )
    argv = _expand(shlex.split(specifiers(svc["ExecStart"][-1].lstrip("-@+!"))), env)
    log = open(run_dir() / f"{name}.log", "ab")  # noqa: SIM115 - the child's
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        user=pw.pw_uid,
        group=gid,
        extra_groups=sorted(groups),
        umask=umask,
        cwd="/",
    )
    (run_dir() / f"{name}.pid").write_text(str(proc.pid))


def stop(name: str, timeout: float = 30.0) -> None:
    pid = pid_of(name)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_of(name) and time.monotonic() < deadline:
        time.sleep(0.1)
    if pid_of(name):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("-")]
    now = "--now" in argv
    if not args:
        return 2
    cmd, names = args[0], [n.removesuffix(".service") for n in args[1:]]
    if cmd == "daemon-reload":
        return 0
    for name in names:
        if cmd in ("start",) or (cmd == "enable" and now):
            start(name)
        elif cmd == "restart":
            if name not in os.environ.get("LIKAVILLKOR_SHIM_EXTERNAL", "").split():
                stop(name)
            start(name)
        elif cmd == "stop":
            stop(name)
        elif cmd == "reload":
            pid = pid_of(name)
            if pid is None:
                print(f"{name} is not running", file=sys.stderr)
                return 1
            os.kill(pid, signal.SIGHUP)  # ExecReload=/bin/kill -HUP $MAINPID
        elif cmd == "is-active":
            running = pid_of(name) is not None or name in os.environ.get("LIKAVILLKOR_SHIM_EXTERNAL", "").split()
            print("active" if running else "inactive")
            if not running:
                return 3
        elif cmd in ("enable", "disable"):
            continue
        else:
            print(f"systemctl (test): {cmd} not emulated", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
