"""Packages for IT (issue 16): the collector's wheel and Debian package, built here by
deploy/debian/build.sh and installed for real with dpkg (then purged); the Windows agent's
per-device bundles from broker-credentials and the PowerShell install script that consumes them
(parsed with tree-sitter's PowerShell grammar: no PowerShell runs on this machine)."""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import stat
import subprocess
import sys
import time
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.auth import broker as ba
from collector.auth import broker_files as bf
from likavillkor import __version__
from likavillkor.config import load
from tests.deploy.pki import make_pki
from tests.support.services import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PACKAGE = "likavillkor-collector"
SERVICE_USER = "likavillkor"
INSTALLED = (Path("/opt/likavillkor"), Path("/etc/likavillkor"), Path("/var/lib/likavillkor"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        ["bash", str(DEPLOY / "debian" / "build.sh"), str(out)],
        env={**os.environ, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    wheel, deb = (Path(line) for line in done.stdout.split())
    return wheel, deb


def test_wheel_holds_the_collector_its_data_and_its_entry_points(built: tuple[Path, Path]) -> None:
    wheel, _ = built
    assert wheel.name == f"likavillkor-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        meta = z.read(f"likavillkor-{__version__}.dist-info/METADATA").decode()
        entry = z.read(f"likavillkor-{__version__}.dist-info/entry_points.txt").decode()
    for needed in (
        "collector/cli.py",
        "collector/store/migrations/versions/0001_initial.py",
        "likavillkor/data/policy.toml",
        "agent/cli.py",
        "collector/auth/broker.py",
    ):
        assert needed in names, needed
    assert not any(n.startswith(("tests/", "build/")) or "__pycache__" in n for n in names)
    assert {"collector", "postgres", "agent"} <= {
        line.split(":", 1)[1].strip().split()[0].strip("'\"")
        for line in meta.splitlines()
        if line.startswith("Provides-Extra:")
    }
    assert "likavillkor-collector = collector.cli:main" in entry.replace("  ", " ")


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, timeout=60, check=True
    ).stdout.strip()


def test_deb_has_the_unit_the_wheel_the_host_scripts_and_checked_maintainer_scripts(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    _, deb = built
    require_binary("dpkg-deb")
    assert (_field(deb, "Package"), _field(deb, "Version"), _field(deb, "Architecture")) == (
        PACKAGE,
        __version__,
        "all",
    )
    assert "python3-venv" in _field(deb, "Depends") and "adduser" in _field(deb, "Depends")
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    for path in (
        "./lib/systemd/system/likavillkor-collector.service",
        f"./usr/share/likavillkor/wheels/likavillkor-{__version__}-py3-none-any.whl",
        "./usr/share/likavillkor/deploy/host/install.sh",
        "./usr/share/likavillkor/deploy/host/collector.toml",
        "./usr/share/likavillkor/deploy/mosquitto/conf.d/likavillkor.conf",
        "./usr/share/likavillkor/deploy/windows/install-agent.ps1",
    ):
        assert path in listing, path
    assert all(line.startswith(("d", "-")) and " root/root " in line for line in listing.splitlines())
    control = tmp_path / "control"
    subprocess.run(["dpkg-deb", "--control", str(deb), str(control)], check=True, timeout=60)
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(control / script, os.X_OK)
        done = subprocess.run(["sh", "-n", str(control / script)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr


def test_the_docs_package_commands_are_the_ones_tested_here() -> None:
    """docs/operations.md's "Packages" block runs build.sh and dpkg -i exactly as this module does."""
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    block = doc[doc.index("### Packages") :].split("```sh\n", 1)[1].split("```", 1)[0]
    assert "deploy/debian/build.sh dist/\n" in block
    assert f"dpkg -i dist/{PACKAGE}_{__version__}_all.deb\n" in block
    assert "/usr/share/likavillkor/deploy/host/install.sh --hostname" in block


def _dpkg(*args: str) -> subprocess.CompletedProcess[str]:
    """dpkg, waiting for its lock if another dpkg/apt runs on this machine at the same time."""
    deadline = time.monotonic() + 300
    while True:
        done = subprocess.run(
            ["dpkg", *args],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        if "lock" not in done.stderr or time.monotonic() > deadline:
            return done
        time.sleep(2)


@contextlib.contextmanager
def _installed(deb: Path) -> Iterator[None]:
    user_existed = SERVICE_USER in {p.pw_name for p in pwd.getpwall()}
    try:
        done = _dpkg("-i", str(deb))
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        yield
    finally:
        _dpkg("--purge", PACKAGE)
        if not user_existed:
            subprocess.run(["userdel", SERVICE_USER], capture_output=True, timeout=30, check=False)
            with contextlib.suppress(KeyError):
                grp.getgrnam(SERVICE_USER)
                subprocess.run(["groupdel", SERVICE_USER], capture_output=True, timeout=30, check=False)


def test_deb_installs_for_real_and_purges_clean(built: tuple[Path, Path], tmp_path: Path) -> None:
    """dpkg -i on this machine (as IT would), then dpkg --purge: nothing of it is left."""
    _, deb = built
    assert os.geteuid() == 0, "dpkg -i needs root (CI runs as root)"
    status = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True, text=True, timeout=60, check=False
    ).stdout
    assert "installed" not in status.split(), f"{PACKAGE} is already installed here: remove it first ({status})"
    leftovers = [p for p in INSTALLED if p.exists()]
    assert not leftovers, f"{leftovers} exist already on this machine: not a clean host for the package test"
    with _installed(deb):
        svc = pwd.getpwnam(SERVICE_USER)
        etc = Path("/etc/likavillkor").stat()
        assert (stat.S_IMODE(etc.st_mode), etc.st_uid, etc.st_gid) == (0o750, 0, svc.pw_gid)
        state = Path("/var/lib/likavillkor").stat()
        assert (stat.S_IMODE(state.st_mode), state.st_uid) == (0o750, svc.pw_uid)
        version = subprocess.run(
            ["/opt/likavillkor/bin/likavillkor-collector", "--version"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert version.stdout.strip() == f"likavillkor-collector {__version__}", version.stderr
        # the service user can run it and write its users file where the unit keeps it
        users = subprocess.run(
            [
                "runuser",
                "-u",
                SERVICE_USER,
                "--",
                "/opt/likavillkor/bin/likavillkor-collector",
                "users",
                "--users",
                "/var/lib/likavillkor/users.toml",
                "add-token",
                "probe",
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert users.returncode == 0 and users.stdout.startswith("lvt_"), users.stderr
        unit = Path("/lib/systemd/system/likavillkor-collector.service")
        verify = subprocess.run(
            [require_binary("systemd-analyze"), "verify", str(unit)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # ExecStart's program exists for real now
        assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr
        listed = _dpkg("-L", PACKAGE).stdout
        assert "/usr/share/likavillkor/deploy/host/install.sh" in listed
    assert not [p for p in INSTALLED if p.exists()]
    assert (
        "installed"
        not in subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True, text=True, timeout=60, check=False
        ).stdout.split()
    )


# ---- Windows: per-device bundles and the install script ---------------------------------------------

ROSTER = """
[[device]]
id = "ks-pc-01"
description = "Anna Anderssons bärbara"
[[device]]
id = "ks-pc-02"
description = "Bo Bergs bärbara"
"""


def _bundles(tmp_path: Path, *extra: str) -> tuple[int, Path]:
    roster = tmp_path / "roster.toml"
    roster.write_text(ROSTER)
    pki = make_pki(tmp_path / "pki")
    out = tmp_path / "out"
    code = ba.main(
        [
            "--roster",
            str(roster),
            "--out",
            str(out),
            "--mqtt-url",
            "mqtts://likavillkor.kommun.se:8883",
            "--windows-bundles",
            str(out / "windows"),
            "--bundle-ca",
            str(pki.ca_cert),
            *extra,
        ]
    )
    return code, out


def test_windows_bundles_are_complete_private_agent_configs(tmp_path: Path) -> None:
    from agent.config import AgentConfig, measurement_gaps

    code, out = _bundles(tmp_path)
    assert code == 0
    windows = out / "windows"
    assert stat.S_IMODE(windows.stat().st_mode) == 0o700
    for device in ("ks-pc-01", "ks-pc-02"):
        folder = windows / device
        assert sorted(p.name for p in folder.iterdir()) == ["agent.toml", "ca.crt"]
        assert stat.S_IMODE((folder / "agent.toml").stat().st_mode) == 0o600
        cfg = load(folder / "agent.toml", AgentConfig)
        assert cfg.device_id == cfg.mqtt.username == device
        assert cfg.mqtt.password == bf.read_credentials_password((out / "devices" / f"{device}.toml").read_text())
        assert cfg.data_dir == "C:\\ProgramData\\Likavillkor\\state"
        assert cfg.mqtt.ca_file == cfg.collector.ca_file == "C:\\ProgramData\\Likavillkor\\ca.crt"
        assert cfg.collector.url == "https://likavillkor.kommun.se:8860" and measurement_gaps(cfg) == []
        assert "-----BEGIN CERTIFICATE-----" in (folder / "ca.crt").read_text()
    # a device that leaves the roster loses its bundle; the other keeps its password
    before = (windows / "ks-pc-01" / "agent.toml").read_text()
    (tmp_path / "roster.toml").write_text(ROSTER.split('[[device]]\nid = "ks-pc-02"')[0])
    assert (
        ba.main(
            [
                "--roster",
                str(tmp_path / "roster.toml"),
                "--out",
                str(out),
                "--mqtt-url",
                "mqtts://likavillkor.kommun.se:8883",
                "--windows-bundles",
                str(windows),
            ]
        )
        == 0
    )
    assert not (windows / "ks-pc-02").exists()
    after = (windows / "ks-pc-01" / "agent.toml").read_text()
    assert tomllib.loads(after)["mqtt"]["password"] == tomllib.loads(before)["mqtt"]["password"]
    assert not (windows / "ks-pc-01" / "ca.crt").exists() and tomllib.loads(after)["mqtt"]["ca_file"] == ""


def test_bundle_ca_must_be_a_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "ca.crt"
    bogus.write_text("not a certificate")
    code, _ = _bundles(tmp_path, "--bundle-ca", str(bogus))
    assert code == 2 and "--bundle-ca" in capsys.readouterr().err


def _powershell_errors(source: bytes) -> list[str]:
    import tree_sitter
    import tree_sitter_powershell

    tree = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language())).parse(source)
    found: list[str] = []

    def walk(node: tree_sitter.Node) -> None:
        if node.type == "ERROR" or node.is_missing:
            found.append(f"line {node.start_point[0] + 1}: {node.text!r}"[:200])
        for child in node.children:
            walk(child)

    walk(tree.root_node)
    return found


def test_install_script_parses_and_restricts_the_credentials() -> None:
    script = DEPLOY / "windows" / "install-agent.ps1"
    source = script.read_bytes()
    assert _powershell_errors(source) == []
    assert _powershell_errors(source.replace(b"if ($Uninstall) {", b"if ($Uninstall {", 1))  # the check can fail
    text = source.decode()
    # what the bundle holds is what the script reads
    assert '"agent.toml"' in text and '"ca.crt"' in text
    # the credentials: no inheritance, only the member, SYSTEM (S-1-5-18), Administrators (S-1-5-32-544)
    assert "/inheritance:r /grant:r" in text
    assert 'Set-PrivateAcl $conf @("${System}:F", "${Admins}:F", "${Member}:R")' in text
    assert '$System = "*S-1-5-18"' in text and '$Admins = "*S-1-5-32-544"' in text
    assert "Users:R" not in text and "BUILTIN\\Users" not in text
    # a service with a log file
    assert "<logpath>$Data\\logs</logpath>" in text and "& $ServiceExe install" in text
    # the config the service runs with is the one from the bundle
    assert '-m agent run --config "$conf"' in text
    readme = (DEPLOY / "windows" / "README.md").read_text(encoding="utf-8")
    assert "install-agent.ps1" in readme and "BUILTIN\\Users:R" not in readme
