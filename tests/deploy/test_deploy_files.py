"""The deployment files hang together: Compose is valid against the Compose specification's schema
(offline: deploy/schema/), every path it mounts exists, every setting it passes is a real config
key, Grafana's provisioning matches the mounts, the systemd units pass systemd's own checks, and
the example roster parses. No container engine runs here."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from collector.auth import broker as broker_cli
from collector.cli import build_parser as collector_parser
from collector.config import ENV_PREFIX as COLLECTOR_ENV
from collector.config import CollectorConfig
from likavillkor.config import load
from likavillkor.roster import Role, System, load_roster
from tests.support.services import require_binary

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VAR_RE = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    return data


def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads((DEPLOY / "schema" / "compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator.check_schema(schema)
    return jsonschema.Draft201909Validator(schema)


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} with ``env``."""

    def one(m: re.Match[str]) -> str:
        name, rest = m.group(1), m.group(2) or ""
        if name in env:
            return env[name]
        if rest.startswith((":-", "-")):
            return rest.split("-", 1)[1]
        raise AssertionError(f"${{{name}}} is required and not set")

    return VAR_RE.sub(one, text)


def _env_example() -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (DEPLOY / "env.example").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key] = value or f"test-{key.lower()}"
    return out


def test_compose_is_valid_against_the_compose_specification() -> None:
    errors = sorted(_validator().iter_errors(_compose()), key=str)
    assert errors == [], "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_schema_check_catches_a_broken_compose_file() -> None:
    broken = copy.deepcopy(_compose())
    broken["services"]["mosquitto"]["restart_policy"] = "always"  # not a service key
    broken["services"]["grafana"]["ports"] = "3000:3000"  # must be a list
    assert len(list(_validator().iter_errors(broken))) >= 2


def test_every_required_variable_is_in_env_example() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    required = {m.group(1) for m in VAR_RE.finditer(text) if not (m.group(2) or "").startswith((":-", "-"))}
    assert required, "compose.yaml should take its secrets from .env"
    assert required <= set(_env_example()), required - set(_env_example())
    _interpolate(text, _env_example())  # and everything resolves


def test_every_bind_mount_and_build_path_exists() -> None:
    compose = _compose()
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith(("./", "../")):
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
        build = service.get("build")
        if build:
            context = (DEPLOY / build["context"]).resolve()
            assert context == ROOT and (context / build["dockerfile"]).is_file()


def _service_env(service: dict[str, Any]) -> dict[str, str]:
    env = _env_example()
    return {k: _interpolate(str(v), env) for k, v in service.get("environment", {}).items()}


def test_collector_service_settings_are_real_config_keys_and_a_real_command(tmp_path: Path) -> None:
    service = _compose()["services"]["collector"]
    env = {k: v for k, v in _service_env(service).items() if k.startswith(COLLECTOR_ENV + "__")}
    roster = tmp_path / "roster.toml"
    roster.write_text((DEPLOY / "roster.example.toml").read_text(encoding="utf-8"))
    out = tmp_path / "credentials"
    assert broker_cli.main(["--roster", str(roster), "--out", str(out), "--mqtt-url", "mqtts://h:8883"]) == 0
    for line in (out / "collector.env").read_text().splitlines():
        key, _, value = line.partition("=")
        env[key] = value
    cfg = load(None, CollectorConfig, env_prefix=COLLECTOR_ENV, environ=env)  # unknown keys raise
    assert cfg.mqtt.url.startswith("mqtts://") and cfg.mqtt.username == broker_cli.COLLECTOR_USER
    tls = "/etc/likavillkor/tls"
    assert (cfg.http.tls_cert, cfg.http.tls_key) == (f"{tls}/server.crt", f"{tls}/server.key")
    assert cfg.influx.url == "http://influxdb:8086"
    args = collector_parser().parse_args(service["command"])
    assert (args.command, args.config) == ("run", "/etc/likavillkor/collector.toml")
    ports = {p.split(":")[-1] for p in service["ports"]}
    assert ports == {f"{cfg.http.port}/tcp", f"{cfg.reflector.port}/udp"}


def test_mosquitto_service_puts_files_where_mosquitto_conf_reads_them() -> None:
    service = _compose()["services"]["mosquitto"]
    script = service["command"][0]
    conf = (DEPLOY / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    settings = dict(line.split(" ", 1) for line in conf.splitlines() if line and not line.startswith("#"))
    assert f"-c {next(v.split(':')[1] for v in service['volumes'] if 'mosquitto.conf' in v)}" in script
    for key in ("cafile", "certfile", "keyfile"):
        path = settings[key]
        assert path.rsplit("/", 1)[0] + "/" in script and path.rsplit("/", 1)[1] in script, key
    assert "/mosquitto/auth/" in script and settings["include_dir"] == "/mosquitto/auth"
    assert settings["listener"] == "8883" and "8883:8883" in service["ports"]
    assert "allow_anonymous" not in settings  # it comes from the generated auth.conf: false


def test_grafana_provisioning_matches_the_mounts_and_uses_influxql() -> None:
    compose = _compose()
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("."))
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    prov = DEPLOY / "grafana" / "provisioning"
    providers = yaml.safe_load((prov / "dashboards" / "likavillkor.yaml").read_text())["providers"]
    assert [p["options"]["path"] for p in providers] == [mounts["../dashboards"]]
    ds_text = (prov / "datasources" / "likavillkor.yaml").read_text()
    env = _service_env(grafana)
    (source,) = yaml.safe_load(_interpolate(ds_text, env))["datasources"]
    assert (source["type"], source["jsonData"]["version"], source["uid"]) == (
        "influxdb",
        "InfluxQL",
        "likavillkor-influxdb",
    )
    influx_env = _service_env(compose["services"]["influxdb"])
    # the same database name and read-only login as the InfluxDB init script creates
    assert source["jsonData"]["dbName"] == influx_env["LIKAVILLKOR_INFLUXQL_DB"]
    assert source["user"] == influx_env["GRAFANA_INFLUX_USER"]
    assert source["secureJsonData"]["password"] == influx_env["GRAFANA_INFLUX_PASSWORD"] != ""
    assert source["url"].startswith("http://influxdb:")


def test_influxdb_init_script_is_valid_bash_and_maps_the_bucket_for_influxql() -> None:
    influx = _compose()["services"]["influxdb"]
    init_mount = next(v for v in influx["volumes"] if v.startswith("./influxdb/init:"))
    assert init_mount.split(":")[1] == "/docker-entrypoint-initdb.d"
    scripts = sorted((DEPLOY / "influxdb" / "init").glob("*.sh"))
    assert scripts
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} must be executable"
        subprocess.run([require_binary("bash"), "-n", str(script)], check=True, timeout=10)
    words = shlex.split(" ".join(s.read_text() for s in scripts).replace("\\\n", " "), comments=True)
    dbrp = words.index("dbrp")
    assert words[dbrp - 2 : dbrp + 2] == ["influx", "v1", "dbrp", "create"]
    assert "--default" in words and "--bucket-id" in words
    used = set(VAR_RE.findall(" ".join(s.read_text() for s in scripts)))
    provided = set(influx["environment"]) | {"DOCKER_INFLUXDB_INIT_BUCKET_ID"}
    assert {name for name, _ in used} <= provided


def test_dockerfile_installs_the_collector_extras_and_runs_unprivileged() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.replace("\\\n", " ").splitlines() if ln.strip() and not ln.startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    install = next(ln for ln in lines if ln.startswith("RUN pip install"))
    extras = re.search(r'"\.\[([a-z,]+)\]"', install)
    assert extras and set(extras.group(1).split(",")) == {"collector", "postgres"}
    assert set(extras.group(1).split(",")) <= set(pyproject["project"]["optional-dependencies"])
    user = next(ln for ln in lines if ln.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("0", "root")
    entry = json.loads(next(ln for ln in lines if ln.startswith("ENTRYPOINT")).split(" ", 1)[1])
    assert entry == ["likavillkor-collector"] and entry[0] in pyproject["project"]["scripts"]
    cmd = json.loads(next(ln for ln in lines if ln.startswith("CMD")).split(" ", 1)[1])
    assert collector_parser().parse_args(cmd).command == "run"
    exposed = set(next(ln for ln in lines if ln.startswith("EXPOSE")).split()[1:])
    defaults = CollectorConfig()
    assert exposed == {f"{defaults.http.port}/tcp", f"{defaults.reflector.port}/udp"}


UNITS = sorted(p.name for p in (DEPLOY / "systemd").glob("*.service"))  # every unit shipped


def test_every_shipped_unit_is_checked() -> None:
    assert set(UNITS) == {"likavillkor-collector.service", "likavillkor-agent.service"}


def _unit(name: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in (DEPLOY / "systemd" / name).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


@pytest.mark.parametrize("name", UNITS)
def test_systemd_unit_passes_systemd_analyze_and_is_hardened(tmp_path: Path, name: str) -> None:
    unit = _unit(name)
    for key, value in {
        "ProtectSystem": "strict",
        "Restart": "on-failure",
        "NoNewPrivileges": "yes",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
    }.items():
        assert unit[key] == [value], key
    if name == "likavillkor-collector.service":
        # a fixed service user, not DynamicUser=: the broker's password file (root:likavillkor 0640)
        # and users.toml written by `users ...` as root must be readable by a known group (issue 16)
        assert unit["User"] == unit["Group"] == ["likavillkor"] and "DynamicUser" not in unit
    else:
        assert unit["DynamicUser"] == ["yes"]
    assert unit["StateDirectory"] and unit["CapabilityBoundingSet"] == [""]
    binary = shlex.split(unit["ExecStart"][0])[0]
    assert binary.startswith("/opt/likavillkor/bin/likavillkor-")
    copy_ = tmp_path / name
    # verify checks that ExecStart's program exists: point it at one that does
    copy_.write_text((DEPLOY / "systemd" / name).read_text().replace(binary, "/bin/true"))
    analyze = require_binary("systemd-analyze")
    done = subprocess.run([analyze, "verify", str(copy_)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr.strip() == "", done.stderr
    # systemd's own exposure score: 0 (locked down) .. 10 (unprotected); 2.5 or lower here
    done = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=25", str(copy_)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


def test_collector_unit_settings_are_real_config_keys() -> None:
    unit = _unit("likavillkor-collector.service")
    env = dict(v.split("=", 1) for v in unit["Environment"])
    env = {k: v.replace("%d", "/run/credentials/likavillkor-collector.service") for k, v in env.items()}
    cfg = load(None, CollectorConfig, env_prefix=COLLECTOR_ENV, environ=env)
    assert cfg.http.tls_key.endswith("/tls.key") and cfg.data_dir == "/var/lib/likavillkor"
    args = collector_parser().parse_args(shlex.split(unit["ExecStart"][0])[1:])
    assert args.command == "run"
    assert any(c.startswith(f"{Path(args.config).name}:") for c in unit["LoadCredential"])


def test_example_roster_parses_with_a_teams_and_a_secret_compodium_meeting(tmp_path: Path) -> None:
    roster = load_roster(DEPLOY / "roster.example.toml")
    ks = next(m for m in roster.meetings.values() if m.body == "kommunstyrelsen")
    sn = next(m for m in roster.meetings.values() if m.body == "socialnämnden")
    assert ks.system is System.TEAMS and not ks.secret and len(ks.participants) == 3
    assert sn.system is System.COMPODIUM and sn.secret  # H21
    assert {p.role for p in ks.participants} == {Role.LEDAMOT, Role.ERSATTARE}
    assert ks.start < ks.end and sn.start < sn.end
    out = tmp_path / "credentials"
    assert (
        broker_cli.main(
            [
                "--roster",
                str(DEPLOY / "roster.example.toml"),
                "--out",
                str(out),
                "--mqtt-url",
                "mqtts://likavillkor.kommun.example:8883",
            ]
        )
        == 0
    )
    assert {p.stem for p in (out / "devices").glob("*.toml")} == set(roster.devices)


def test_site_files_are_kept_out_of_git() -> None:
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "/site/" in ignored and "/.env" in ignored


def test_agent_unit_settings_are_real_config_keys(tmp_path: Path) -> None:
    from agent.config import ENV_PREFIX as AGENT_ENV
    from agent.config import AgentConfig

    unit = _unit("likavillkor-agent.service")
    env = dict(v.split("=", 1) for v in unit["Environment"])
    assert env and all(k.startswith(AGENT_ENV + "__") for k in env)
    cfg = load(None, AgentConfig, env_prefix=AGENT_ENV, environ=env)  # unknown keys raise
    assert cfg.data_dir == "/var/lib/" + unit["StateDirectory"][0]
    words = shlex.split(unit["ExecStart"][0])
    assert words[1:3] == ["run", "--config"] and words[3] == "%d/agent.toml"
    assert "agent.toml:/etc/likavillkor/agent.toml" in unit["LoadCredential"]


# ---- issue 16: the files the configs read are where the install puts them -------------------------


def _compose_collector_config(tmp_path: Path) -> CollectorConfig:
    """What the Compose collector runs with: site/collector.toml (the example, as the docs copy it)
    plus the service's environment and collector.env."""
    service = _compose()["services"]["collector"]
    env = {k: v for k, v in _service_env(service).items() if k.startswith(COLLECTOR_ENV + "__")}
    env[f"{COLLECTOR_ENV}__MQTT__PASSWORD"] = "x"
    return load(DEPLOY / "collector.example.toml", CollectorConfig, env_prefix=COLLECTOR_ENV, environ=env)


def _path_settings(cfg: CollectorConfig) -> dict[str, str]:
    """Every setting of the collector's config that names a file or directory it reads."""
    found = {
        "roster": cfg.roster,
        "data_dir": cfg.data_dir,
        "policy": cfg.policy,
        "bodies": cfg.bodies,
        "mqtt.ca_file": cfg.mqtt.ca_file,
        "http.tls_cert": cfg.http.tls_cert,
        "http.tls_key": cfg.http.tls_key,
        "http.device_passwords": cfg.http.device_passwords,
    }
    return {k: v for k, v in found.items() if v}


def test_compose_mounts_every_file_the_collector_config_reads(tmp_path: Path) -> None:
    """Each path the Compose collector's config reads lies in one of its mounts, and that mount's
    source holds the file there (site/ as the docs lay it out: credentials/ from broker-credentials)."""
    service = _compose()["services"]["collector"]
    mounts: dict[str, str] = {}
    for volume in service["volumes"]:
        source, target = _interpolate(volume, _env_example()).split(":")[:2]
        mounts[target] = source
    cfg = _compose_collector_config(tmp_path)
    site_layout = {"credentials/broker/passwords": broker_cli.Layout(Path("credentials")).passwords}
    for key, path in _path_settings(cfg).items():
        target = next((t for t in mounts if path == t or path.startswith(t.rstrip("/") + "/")), None)
        assert target is not None, f"{key} = {path}: not inside any of the collector's mounts {sorted(mounts)}"
        source = mounts[target]
        if source.startswith("./site"):
            rel = (source.removeprefix("./site/") + path.removeprefix(target)).strip("/")
            if rel.startswith("credentials/"):
                assert Path(rel) == site_layout.get(rel, Path(rel)), key
    assert cfg.http.device_passwords == "/etc/likavillkor/credentials/broker/passwords"


def test_example_config_reads_the_password_file_where_broker_credentials_writes_it(tmp_path: Path) -> None:
    """collector.example.toml's device_passwords is the file `broker-credentials --out
    /etc/likavillkor/credentials` (docs/operations.md, the unit, install.sh) writes."""
    cfg = load(DEPLOY / "collector.example.toml", CollectorConfig)
    assert Path(cfg.http.device_passwords) == broker_cli.Layout(Path("/etc/likavillkor/credentials")).passwords
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert "--out /etc/likavillkor/credentials" in doc
    host = (DEPLOY / "host" / "collector.toml").read_text(encoding="utf-8")
    host_cfg = loads_collector(
        host.replace("@HOSTNAME@", "h")
        .replace("@MQTT_PORT@", "8883")
        .replace("@HTTP_PORT@", "8860")
        .replace("@REFLECTOR_PORT@", "8862")
        .replace("@INFLUX_PORT@", "8086")
        .replace("@RETENTION_DAYS@", "90")
        .replace("@STORE_URL@", "postgresql+psycopg://u:p@h/d")
        .replace("@INFLUX_PASSWORD@", "pw")
    )
    assert host_cfg.http.device_passwords == cfg.http.device_passwords
    assert (host_cfg.influx.api, host_cfg.influx.username, host_cfg.influx.password) == ("v1", "likavillkor", "pw")
    unit = _unit("likavillkor-collector.service")
    assert "-/etc/likavillkor/credentials/collector.env" in unit["EnvironmentFile"]


def loads_collector(text: str) -> CollectorConfig:
    from likavillkor.config import loads

    return loads(text, CollectorConfig, source="deploy/host/collector.toml")


def test_host_mosquitto_conf_d_file_has_no_include_dir() -> None:
    """Mosquitto follows include_dir only in its main file: in a conf.d file it never loads the
    generated logins, and the broker refuses everyone (issue 16)."""
    text = (DEPLOY / "mosquitto" / "conf.d" / "likavillkor.conf").read_text(encoding="utf-8")
    settings = [line.split()[0] for line in text.splitlines() if line and not line.startswith("#")]
    assert "include_dir" not in settings and "listener" in settings
    assert not {"persistence", "persistence_location", "pid_file", "log_dest"} & set(settings)  # Debian's main file's
    install = (DEPLOY / "host" / "install.sh").read_text(encoding="utf-8")
    assert 'ln -sfn "$CRED/broker/auth.conf" "$P/etc/mosquitto/conf.d/likavillkor-auth.conf"' in install


def test_host_scripts_are_valid_bash() -> None:
    for script in sorted((DEPLOY / "host").glob("*.sh")):
        done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, f"{script}: {done.stderr}"
        assert os.access(script, os.X_OK), f"{script} is not executable"


def test_compose_docs_credentials_command_yields_the_files_compose_mounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Compose section's broker-credentials command, taken from docs/operations.md and run in a
    deploy/ copy: every file the broker's and the collector's mounts and env_file name exists, the
    broker reads auth.conf where the container puts it, the collector's uid may read the passwords."""
    doc = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    section = doc[doc.index("### With Compose") : doc.index("### With systemd on a Debian host")]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    command = next(line for line in block.splitlines() if "likavillkor-collector broker-credentials" in line)
    argv = shlex.split(command.split("#", 1)[0])
    site = tmp_path / "site"
    site.mkdir()
    (site / "roster.toml").write_text((DEPLOY / "roster.example.toml").read_text(encoding="utf-8"))
    monkeypatch.chdir(tmp_path)
    from collector.cli import main as collector_main

    assert collector_main(argv[1:]) == 0
    compose = _compose()
    for name in ("mosquitto", "collector"):
        service = compose["services"][name]
        sources = [_interpolate(v, _env_example()).split(":")[0] for v in service.get("volumes", [])]
        sources += [_interpolate(e, _env_example()) for e in service.get("env_file", [])]
        for source in sources:
            if source.startswith("./site/credentials"):
                assert (tmp_path / source).exists(), f"{name}: {source} is not written by the documented command"
    broker = site / "credentials" / "broker"
    assert "password_file /mosquitto/auth/passwords" in (broker / "auth.conf").read_text()
    assert (broker / "passwords").stat().st_gid == 10001 and (broker / "passwords").stat().st_mode & 0o040
