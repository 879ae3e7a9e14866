"""Real PostgreSQL, InfluxDB 1.x and VictoriaMetrics for tests, from Debian's packages, on free
loopback ports in a temporary directory, stopped by PID (never a mock; missing binary = failure)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.services import free_port, require_binary, stop_pid, wait_port

PG_BIN_DIRS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


def _pg_binary(name: str) -> str:
    return require_binary(name, *(str(d / name) for d in PG_BIN_DIRS))


@dataclass
class Postgres:
    host: str
    port: int
    root: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(
            f"host={self.host} port={self.port} user=postgres dbname=postgres", autocommit=True, connect_timeout=10
        ) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def start(self) -> None:
        log = open(self.root / "postgres.log", "ab")  # noqa: SIM115 - owned by the child
        self.proc = subprocess.Popen(
            [
                _pg_binary("postgres"),
                "-D",
                str(self.datadir),
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
            **_as_postgres(),
        )  # type: ignore[call-overload]
        log.close()
        wait_port(self.host, self.port, timeout=30)
        _wait_pg_ready(self)

    def stop(self) -> None:
        """Fast shutdown (SIGINT): SIGTERM would wait for every client to disconnect."""
        if self.proc is not None:
            if self.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGINT)
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    stop_pid(self.proc, timeout=5)
            self.proc = None


def _as_postgres() -> dict[str, object]:
    """Run as the ``postgres`` user when we are root (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return {}
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise RuntimeError(
            "PostgreSQL needs a 'postgres' user when tests run as root: "
            "install the postgresql package (scripts/test.sh)"
        ) from None
    return {"user": pw.pw_uid, "group": pw.pw_gid}


@contextlib.contextmanager
def running_postgres() -> Iterator[Postgres]:
    """A throw-away PostgreSQL cluster (trust auth on loopback, fsync off); run as ``postgres`` when root."""
    initdb = _pg_binary("initdb")
    ids = _as_postgres()
    root = Path(tempfile.mkdtemp(prefix="likavillkor-pg-"))
    if ids:
        os.chown(root, ids["user"], ids["group"])  # type: ignore[arg-type]
    subprocess.run(
        [initdb, "-D", str(root / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
        **ids,
    )  # type: ignore[call-overload]
    pg = Postgres("127.0.0.1", free_port(), root)
    try:
        pg.start()
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def _wait_pg_ready(pg: Postgres, timeout: float = 30.0) -> None:
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(f"host={pg.host} port={pg.port} user=postgres dbname=postgres", connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@dataclass
class InfluxV1:
    """Debian's InfluxDB 1.6: /write and /query (InfluxQL); no /api/v2 (that came in 1.8)."""

    url: str
    proc: subprocess.Popen[bytes] | None = None

    def query(self, q: str, db: str) -> list[dict[str, object]]:
        r = httpx.get(f"{self.url}/query", params={"db": db, "q": q, "epoch": "ns"}, timeout=10)
        r.raise_for_status()
        out: list[dict[str, object]] = []
        for result in r.json().get("results", []):
            for series in result.get("series", []):
                for values in series["values"]:
                    row = dict(zip(series["columns"], values, strict=True))
                    row.update(series.get("tags", {}))
                    out.append(row)
        return out

    def create_database(self, db: str) -> None:
        r = httpx.post(f"{self.url}/query", params={"q": f'CREATE DATABASE "{db}"'}, timeout=10)
        r.raise_for_status()


@contextlib.contextmanager
def running_influxdb1(workdir: Path, *, auth: bool = False) -> Iterator[InfluxV1]:
    """``auth``: ``auth-enabled = true`` (as deploy/host/influxdb.conf): create the first admin with
    an unauthenticated ``CREATE USER ... WITH ALL PRIVILEGES``, then every request needs a login."""
    binary = require_binary("influxd", "/usr/bin/influxd")
    workdir.mkdir(parents=True, exist_ok=True)
    port, rpc = free_port(), free_port()
    conf = workdir / "influxdb.conf"
    conf.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{workdir}/meta"\n'
        f'[data]\n  dir = "{workdir}/data"\n  wal-dir = "{workdir}/wal"\n  query-log-enabled = false\n'
        "[monitor]\n  store-enabled = false\n"
        f'[http]\n  bind-address = "127.0.0.1:{port}"\n  log-enabled = false\n'
        + ("  auth-enabled = true\n" if auth else "")
        + "[continuous_queries]\n  enabled = false\n"
    )
    log = open(workdir / "influxd.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen([binary, "run", "-config", str(conf)], stdout=log, stderr=log, start_new_session=True)
    db = InfluxV1(f"http://127.0.0.1:{port}", proc)
    try:
        wait_port("127.0.0.1", port, timeout=30)
        _wait_http(f"{db.url}/ping")
        yield db
    finally:
        stop_pid(proc)
        log.close()


@dataclass
class VictoriaMetrics:
    """Accepts InfluxDB line protocol at /api/v2/write and /write; field ``f`` of measurement ``m``
    becomes the metric ``m_f``; string fields are dropped; numbers are read back with /api/v1/export."""

    url: str
    proc: subprocess.Popen[bytes] | None = None

    def export(self, match: str) -> list[dict[str, object]]:
        r = httpx.post(f"{self.url}/api/v1/export", data={"match[]": match}, timeout=10)
        r.raise_for_status()
        import json

        return [json.loads(line) for line in r.text.splitlines() if line.strip()]

    def flush(self) -> None:
        """Make freshly written points searchable now (instead of after ~30 s)."""
        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()

    def wait_export(self, match: str, count: int, timeout: float = 10.0) -> list[dict[str, object]]:
        """Poll until ``count`` series match (or the timeout); returns what was found."""
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            found = self.export(match)
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.2)


@contextlib.contextmanager
def running_victoria_metrics(workdir: Path, port: int | None = None) -> Iterator[VictoriaMetrics]:
    binary = require_binary("victoria-metrics", "/usr/bin/victoria-metrics")
    workdir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    log = open(workdir / "victoria-metrics.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            binary,
            f"-storageDataPath={workdir}/data",
            f"-httpListenAddr=127.0.0.1:{port}",
            "-search.disableCache",
            "-search.latencyOffset=0s",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    vm = VictoriaMetrics(f"http://127.0.0.1:{port}", proc)
    try:
        wait_port("127.0.0.1", port, timeout=30)
        _wait_http(f"{vm.url}/health")
        yield vm
    finally:
        stop_pid(proc)
        log.close()


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code < 300:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {timeout} s")
        time.sleep(0.1)
