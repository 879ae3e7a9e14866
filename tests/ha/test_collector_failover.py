"""Issue 17, the fault suite with real processes: two collectors (``[ha]``) on one PostgreSQL, two
Mosquittos, the shipped HAProxy in front, real agents with both brokers, and one device on mobile
data (an incident open across every fault, H9).

Each case injects one fault and then checks, waiting for states (never for a wall-clock budget;
the takeover time is measured by bench/bench_takeover.py):

- one collector leads again, and the chair (through HAProxy) sees the same states and verdict as
  before the fault;
- nobody was marked lost or replaced (no such state change is stored, H15/H16);
- the incident open across the fault is stored once (no duplicate incident);
- every chair action recorded so far is on the leader and stored once;
- every sample the phone published so far is stored (the agents' counts are checked at the end:
  published = stored + still in the outbox).

The collectors run as two PostgreSQL roles, so that one collector's database connections can be
cut for good (``NOLOGIN`` + ``pg_terminate_backend``) while the other keeps its own. For the
leader's whole network cut, that collector runs as a Unix user of its own whose traffic nftables
drops (tests/ha/netcut.py: no namespace, PostgreSQL and Mosquitto listen on loopback only).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as paho
import psycopg
import pytest

from likavillkor import topics, wire
from tests.faults.harness import Agent, tally
from tests.ha.netcut import WATCH_ADDR, NetCut, User, run_as, system_user
from tests.ha.test_haproxy import running_haproxy
from tests.support.collector import ROOT, CollectorProcess, device_test_policy
from tests.support.databases import Postgres
from tests.support.roster import write_roster
from tests.support.services import Mosquitto, free_port, running_mosquitto
from tests.support.waiting import wait_until

MEETING = "ks-ha"
AGENTS = ["ha-dev-0", "ha-dev-1"]
PHONE = "ha-phone"  # publishes on mobile data (H9): one incident open through every case
SILENCE_S = 6.0
LEASE_S = 4.0
RENEW_S = 1.0
PERIOD_S = 0.5
VENV_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin"
WAIT = 60.0


# -- the processes -------------------------------------------------------------------------------------
class Node(CollectorProcess):
    """One collector of the pair. A standby answers only /health/*, so it is waited for there."""

    def __init__(self, name: str, workdir: Path, config: Path, port: int, data: Path) -> None:
        super().__init__(workdir, config, port, data_dir=data)
        self.name = name
        #: a command the next boot runs the collector under (the network cut: ``setpriv`` to a
        #: user of its own, tests/ha/netcut.py)
        self.wrapper: list[str] = []

    def leader_status(self) -> int | None:
        try:
            return httpx.get(f"{self.base}/health/leader", timeout=3).status_code
        except httpx.HTTPError:
            return None

    def spawn(self, **popen: Any) -> subprocess.Popen[bytes]:
        if not self.wrapper:
            return super().spawn(**popen)
        cmd = [*self.wrapper, sys.executable, "-m", "collector", "run", "--config", str(self.config)]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=log, start_new_session=True, **popen)
        return self.proc

    def boot(self) -> None:
        self.spawn()
        wait_until(
            lambda: self._alive() and self.leader_status() in (200, 503),
            timeout=WAIT,
            what=f"collector {self.name} answers /health/leader",
            log=self.log,
        )

    def pause(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)


@dataclass
class Phone:
    """A device on mobile data, publishing to the second broker from the test (a thread)."""

    broker: Mosquitto
    published: list[int] = field(default_factory=list)
    boot: str = field(default_factory=lambda: "boot-" + uuid.uuid4().hex[:8])

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"phone-{self.boot}")
        self._client.connect(self.broker.host, self.broker.port, keepalive=10)
        self._client.loop_start()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        seq = 0
        while not self._stop.wait(PERIOD_S):
            s = wire.Sample(
                device_id=PHONE, boot_id=self.boot, seq=seq, ts=time.time(), meeting_id=MEETING,
                link=wire.LinkType.WWAN, battery_percent=80.0, battery_charging=True,
            )  # fmt: skip
            info = self._client.publish(topics.device_topic(PHONE, "sample"), wire.encode(s), qos=1)
            with contextlib.suppress(Exception):
                info.wait_for_publish(5)
            if info.is_published():
                self.published.append(seq)
            seq += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.loop_stop()
        self._client.disconnect()


@dataclass
class Site:
    workdir: Path
    pg: Postgres
    db: str  # the database's name
    brokers: list[Mosquitto]
    nodes: dict[str, Node]
    proxy_port: int
    agents: list[Agent]
    phone: Phone
    headers: dict[str, str]
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def proxy(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(
            f"host={self.pg.host} port={self.pg.port} user=postgres dbname={self.db}", autocommit=True
        ) as conn:
            cur = conn.execute(query, args)
            return list(cur.fetchall()) if cur.description else []

    def leader(self) -> Node | None:
        leading = [n for n in self.nodes.values() if n.proc is not None and n.leader_status() == 200]
        return leading[0] if len(leading) == 1 else None

    def wait_leader(self, *, not_: Node | None = None) -> Node:
        found: list[Node] = []

        def one() -> bool:
            n = self.leader()
            if n is None or n is not_:
                return False
            found[:] = [n]
            return True

        wait_until(one, timeout=WAIT, what="exactly one collector leads", detail=self.roles)
        return found[0]

    def roles(self) -> dict[str, Any]:
        return {name: n.leader_status() for name, n in self.nodes.items()}

    def view(self) -> dict[str, Any] | None:
        """The meeting as the chair sees it through HAProxy (None while nobody serves it)."""
        try:
            r = httpx.get(f"{self.proxy}/api/meetings/{MEETING}", headers=self.headers, timeout=5)
        except httpx.HTTPError:
            return None
        return r.json() if r.status_code == 200 else None

    def states(self) -> tuple[str, dict[str, str]] | None:
        v = self.view()
        if v is None:
            return None
        return v["verdict"], {p["device_id"]: p["state"] for p in v["participants"]}

    def act(self, kind: str, **fields: Any) -> None:
        body = {"kind": kind, "by": "ordföranden", **fields}
        r = httpx.post(f"{self.proxy}/api/meetings/{MEETING}/actions", json=body, headers=self.headers, timeout=10)
        assert r.status_code in (200, 201), r.text
        self.actions.append(body)

    def leader_actions(self) -> list[tuple[str, str | None]]:
        r = httpx.get(f"{self.proxy}/api/meetings/{MEETING}/actions", headers=self.headers, timeout=5)
        r.raise_for_status()
        return [(a["kind"], a.get("item")) for a in r.json()]

    def logs(self) -> str:
        return "\n".join(f"--- {n.name}\n" + n.log.read_text(errors="replace")[-2500:] for n in self.nodes.values())


def _node_config(
    site_dir: Path, name: str, *, pg: Postgres, db: str, brokers: list[Mosquitto], port: int, host: str = "127.0.0.1"
) -> Path:
    urls = ", ".join(f'"{b.url}"' for b in brokers)
    text = f"""data_dir = "{site_dir / "data"}"
roster = "{site_dir / "roster.toml"}"
policy = "{site_dir / "policy.toml"}"
[mqtt]
urls = [{urls}]
keepalive_s = 5
[http]
host = "{host}"
port = {port}
[store]
url = "postgresql+psycopg://col_{name}@{pg.host}:{pg.port}/{db}"
snapshot_interval_s = 0.5
retry_max_s = 0.5
[reflector]
enabled = false
[ingest]
tick_interval_s = 0.1
[ha]
enabled = true
holder = "{name}"
lease_s = {LEASE_S}
renew_every_s = {RENEW_S}
"""
    path = site_dir / name / "collector.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


class HostAgent(Agent):
    """The real agent on this host (no namespace needed: no network cut on the device side), with
    both brokers."""

    def __init__(self, device_id: str, workdir: Path, brokers: list[Mosquitto]) -> None:
        self.device_id, self.workdir, self.period_s = device_id, workdir, PERIOD_S
        self.clock_offset_s, self.collector_port, self.reflector_port = 0.0, 0, 0
        self.proc, self.ran_s, self._started = None, 0.0, None
        self.ns = None  # type: ignore[assignment]  # on this host
        self.data_dir = workdir / f"agent-{device_id}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config = workdir / f"agent-{device_id}.toml"
        urls = ", ".join(f'"{b.url}"' for b in brokers)
        self.config.write_text(
            f'device_id = "{device_id}"\ndata_dir = "{self.data_dir}"\n'
            f"[mqtt]\nbrokers = [{urls}]\nkeepalive_s = 5\nconnect_timeout_s = 2\n"
            f"[monitor]\nsample_period_s = {PERIOD_S}\npath_probe = false\n"
        )
        self.log = workdir / f"agent-{device_id}.log"

    def start(self) -> None:
        now = time.time()
        cmd = [str(VENV_BIN / "likavillkor-agent"), "monitor", "--config", str(self.config), "--meeting", MEETING,
               "--start", str(now - 900), "--end", str(now + 7200)]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        self._started = time.monotonic()


@pytest.fixture(scope="module")
def site(postgres_server: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    workdir = tmp_path_factory.mktemp("ha-site")
    db = f"ha_{uuid.uuid4().hex[:10]}"
    postgres_server.create_database(db)
    with psycopg.connect(
        f"host={postgres_server.host} port={postgres_server.port} user=postgres dbname=postgres", autocommit=True
    ) as conn:
        for name in ("a", "b"):
            with contextlib.suppress(psycopg.errors.DuplicateObject):
                conn.execute(f"CREATE ROLE col_{name} LOGIN SUPERUSER")
            conn.execute(f"ALTER ROLE col_{name} LOGIN")
    write_roster(workdir / "roster.toml", [*AGENTS, PHONE], meeting_id=MEETING)
    (workdir / "policy.toml").write_text(device_test_policy(SILENCE_S), encoding="utf-8")
    with contextlib.ExitStack() as stack:
        brokers = [stack.enter_context(running_mosquitto(workdir / f"mosquitto-{i}")) for i in range(2)]
        nodes: dict[str, Node] = {}
        for name in ("a", "b"):
            port = free_port()
            cfg = _node_config(workdir, name, pg=postgres_server, db=db, brokers=brokers, port=port)
            nodes[name] = Node(name, workdir / name, cfg, port, workdir / "data")
        for n in nodes.values():
            stack.callback(n.stop)
        nodes["a"].boot()  # a first: it creates the shared web secret and local token in data/
        wait_until(lambda: nodes["a"].leader_status() == 200, timeout=WAIT, what="a leads", log=nodes["a"].log)
        nodes["b"].boot()
        proxy_port = stack.enter_context(running_haproxy(workdir, nodes["a"].port, nodes["b"].port))
        from collector.auth import local_headers

        agents: list[Agent] = [HostAgent(d, workdir, brokers) for d in AGENTS]
        for agent in agents:
            agent.start()
        for agent in agents:
            stack.callback(agent.stop)
        phone = Phone(brokers[1])
        stack.callback(phone.stop)
        token = local_headers(workdir / "data")
        s = Site(workdir, postgres_server, db, brokers, nodes, proxy_port, agents, phone, token)
        wait_until(lambda: _settled(s), timeout=WAIT, what="every member heard, the phone's incident open",
                   detail=s.states, log=nodes["a"].log)  # fmt: skip
        yield s


def _settled(site: Site) -> bool:
    st = site.states()
    if st is None:
        return False
    _verdict, states = st
    return (
        all(states.get(d) == "ok" for d in AGENTS)
        and states.get(PHONE) not in (None, "unknown", "waiting", "lost")
        and _open_incidents(site) == 1
    )


def _open_incidents(site: Site) -> int:
    return len(site.sql("SELECT id FROM incidents WHERE kind = 'mobile_data' AND ended_at IS NULL"))


def _check(site: Site, before: tuple[str, dict[str, str]]) -> None:
    """What every case must leave true (see the module's docstring)."""
    wait_until(lambda: site.states() == before, timeout=WAIT, what="the same states and verdict as before",
               detail=lambda: (site.states(), site.roles()), log=site.nodes["a"].log)  # fmt: skip
    lost = site.sql("SELECT device_id, new, at FROM state_changes WHERE new IN ('lost', 'replaced')")
    assert lost == [], f"false lost: {lost}\n{site.logs()}"
    incidents = site.sql("SELECT id, ended_at FROM incidents WHERE kind = 'mobile_data'")
    assert len(incidents) == 1, f"the phone's incident stored {len(incidents)} times: {incidents}"
    assert incidents[0][1] is None, "the phone's incident was closed"
    want = [(a["kind"], a.get("item")) for a in site.actions]
    wait_until(lambda: site.leader_actions() == want, timeout=WAIT, what="the chair's actions on the leader",
               detail=site.leader_actions)  # fmt: skip
    stored = site.sql("SELECT kind, item FROM actions ORDER BY id")
    assert stored == want, f"actions stored {stored}, recorded {want}"
    published = list(site.phone.published)
    wait_until(
        lambda: set(published) <= _stored_seqs(site, PHONE),
        timeout=WAIT,
        what="every sample the phone published is stored",
        detail=lambda: sorted(set(published) - _stored_seqs(site, PHONE))[:20],
    )
    dup = site.sql("SELECT msg_id, count(*) FROM samples GROUP BY msg_id HAVING count(*) > 1")
    assert dup == [], dup


def _stored_seqs(site: Site, device: str) -> set[int]:
    return {int(m.rpartition(":")[2]) for (m,) in site.sql("SELECT msg_id FROM samples WHERE device_id = %s", device)}


def _before(site: Site) -> tuple[str, dict[str, str]]:
    st = site.states()
    assert st is not None
    return st


# -- the cases (in file order: each leaves the site settled for the next) -------------------------------
def test_leader_sigkill(site: Site) -> None:
    leader = site.wait_leader()
    site.act("item_start", item="§1 Budget")
    site.act("vote_start", item="§1 Budget")
    before = _before(site)
    leader.kill()
    new = site.wait_leader(not_=leader)
    _check(site, before)
    assert _metric(new, "likavillkor_ha_takeovers_total") >= 1 and _metric(new, "likavillkor_ha_writing") == 1
    leader.boot()  # back, as the standby
    wait_until(lambda: leader.leader_status() == 503, timeout=WAIT, what="the old leader is the standby")
    _check(site, before)
    assert _metric(leader, "likavillkor_ha_writing") == 0  # a standby serves IT's /metrics, nothing else


def test_split_brain_sigstop_past_the_lease(site: Site) -> None:
    leader = site.wait_leader()
    site.act("vote_end", item="§1 Budget")
    before = _before(site)
    leader.pause()
    try:
        other = site.wait_leader(not_=leader)  # its lease ran out: the standby leads
        site.act("item_start", item="§2 Skolskjuts")
        epoch_new = site.sql("SELECT epoch, holder FROM ha_lease")[0]
        assert epoch_new[1] == other.name
        counts = _row_counts(site)
    finally:
        leader.resume()
    # it notices at once (its own clock): it answers 503 and writes nothing more
    wait_until(lambda: leader.leader_status() == 503, timeout=WAIT, what="the resumed old leader stands by")
    written = _metric(leader, "likavillkor_store_written_total")
    mark = time.time() + 1.0
    wait_until(lambda: site.sql("SELECT count(*) FROM samples WHERE received_at > %s", mark)[0][0] > 0,
               timeout=WAIT, what="the new leader stores samples received after the resume")  # fmt: skip
    # what the resumed one had queued before its pause was refused by the lease row, not written
    assert _metric(leader, "likavillkor_store_written_total") == written
    _check(site, before)
    assert site.sql("SELECT holder FROM ha_lease")[0][0] == other.name
    health = _health_of(site, leader)
    assert health is None  # a standby answers only /health/*
    # everything stored after the resume came from the new leader: the old one's rows would be
    # doubles (state changes, verdicts) or samples stored twice (the unique key catches those)
    assert _row_counts(site)["samples"] >= counts["samples"]
    text = leader.log.read_text(errors="replace")
    assert "no longer leads" in text
    assert _metric(leader, "likavillkor_ha_stepdowns_total") >= 1 and _metric(leader, "likavillkor_ha_writing") == 0


def test_leader_loses_postgresql(site: Site) -> None:
    leader = site.wait_leader()
    before = _before(site)
    site.sql(f"ALTER ROLE col_{leader.name} NOLOGIN")
    try:
        site.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", f"col_{leader.name}")
        site.wait_leader(not_=leader)
    finally:
        site.sql(f"ALTER ROLE col_{leader.name} LOGIN")
    _check(site, before)
    wait_until(lambda: leader.leader_status() == 503, timeout=WAIT, what="the cut-off leader stands by")


def test_standby_restart(site: Site) -> None:
    leader = site.wait_leader()
    standby = next(n for n in site.nodes.values() if n is not leader)
    before = _before(site)
    standby.stop()
    standby.boot()
    wait_until(lambda: standby.leader_status() == 503, timeout=WAIT, what="the restarted standby stands by")
    assert site.leader() is leader
    _check(site, before)
    # the restarted standby follows hot: killing the leader now hands over with the same record
    site.act("excuse", member_id="member-1", note="jäv, §2 (H18)")
    before = _before(site)
    leader.kill()
    site.wait_leader(not_=leader)
    _check(site, before)
    leader.boot()


def test_one_broker_killed(site: Site) -> None:
    site.wait_leader()
    before = _before(site)
    first = site.brokers[0]
    first.kill()
    try:
        _check(site, before)
        assert all(n.leader_status() in (200, 503) for n in site.nodes.values())
    finally:
        first.start()


def test_both_collectors_restarted_one_after_the_other(site: Site) -> None:
    leader = site.wait_leader()
    standby = next(n for n in site.nodes.values() if n is not leader)
    site.act("item_start", item="§3 Detaljplan")
    before = _before(site)
    leader.stop()  # a planned restart: SIGTERM gives the lease back
    site.wait_leader(not_=leader)
    leader.boot()
    _check(site, before)
    standby.stop()
    site.wait_leader(not_=standby)
    standby.boot()
    _check(site, before)


def test_leader_network_cut(site: Site) -> None:
    """The leader's whole network cut (brokers, PostgreSQL, HAProxy's checks) with nftables: it runs
    as a Unix user of its own, whose packets are dropped (tests/ha/netcut.py). The standby leads;
    the cut one fences itself on its own clock (the lease, docs/scaling.md) and, healed, follows
    as the standby and writes nothing."""
    leader = site.wait_leader()
    cut = next(n for n in site.nodes.values() if n is not leader)  # to lead as the user to be cut
    with system_user() as user:
        try:
            _boot_as(site, cut, user)
            leader.stop()  # a planned stop: the lease is given back, the user's collector leads
            assert site.wait_leader(not_=leader) is cut
            leader.boot()
            wait_until(lambda: leader.leader_status() == 503, timeout=WAIT, what="the other one stands by")
            site.act("item_start", item="§4 Motion om cykelbanor")
            site.act("vote_start", item="§4 Motion om cykelbanor")
            before = _before(site)
            stepdowns = _metric(cut, "likavillkor_ha_stepdowns_total")
            with NetCut(user.uid) as net:
                assert net.ports, "the collector to cut owns no TCP socket"
                new = site.wait_leader(not_=cut)  # (the cut one is watched on 127.0.0.2: 503)
                assert new is leader
                # the cut leader fenced itself, without reaching anything: its own clock
                wait_until(lambda: cut.leader_status() == 503, timeout=WAIT, what="the cut leader stands by")
                assert _metric(cut, "likavillkor_ha_writing") == 0
                assert _metric(cut, "likavillkor_ha_stepdowns_total") >= stepdowns + 1
                written = _metric(cut, "likavillkor_store_written_total")
                _check(site, before)  # (waits until HAProxy serves the new leader)
                site.act("vote_end", item="§4 Motion om cykelbanor")  # recorded by the new leader
                assert net.dropped("output") > 0 and net.dropped("input") > 0, "nothing was cut"
                assert site.sql("SELECT holder FROM ha_lease")[0][0] == leader.name
            # healed: it reaches PostgreSQL and the brokers again, follows, and writes nothing
            mark = time.time() + 1.0
            received = _metric(cut, "likavillkor_ingest_received_total")
            wait_until(
                lambda: (
                    _metric(cut, "likavillkor_ingest_received_total") > received
                    and _metric(cut, "likavillkor_mqtt_connected") == 1
                ),
                timeout=WAIT,
                what="the healed one hears its brokers again",
                log=cut.log,
            )
            wait_until(lambda: site.sql("SELECT count(*) FROM samples WHERE received_at > %s", mark)[0][0] > 0,
                       timeout=WAIT, what="the new leader stores samples received after the heal")  # fmt: skip
            assert cut.leader_status() == 503
            assert _metric(cut, "likavillkor_store_written_total") == written
            assert site.sql("SELECT holder FROM ha_lease")[0][0] == leader.name
            _check(site, before)
            assert site.leader() is leader
        finally:
            _boot_as(site, cut, None)  # back as root on 127.0.0.1, before the user is deleted


def _boot_as(site: Site, node: Node, user: User | None) -> None:
    """(Re)start ``node`` as the standby, as ``user`` listening on every address (the test watches it
    on 127.0.0.2, tests/ha/netcut.py), or as root on 127.0.0.1 (``None``)."""
    node.stop()
    host = "0.0.0.0" if user is not None else "127.0.0.1"
    _node_config(site.workdir, node.name, pg=site.pg, db=site.db, brokers=site.brokers, port=node.port, host=host)
    node.host = WATCH_ADDR if user is not None else "127.0.0.1"
    node.wrapper = []
    if user is not None:
        for path in [node.data, *node.data.rglob("*"), node.workdir, *node.workdir.rglob("*")]:
            os.chown(path, user.uid, user.gid)  # its files (pytest's temp dirs above: the capability)
        node.wrapper = run_as(user)
    node.boot()
    wait_until(lambda: node.leader_status() == 503, timeout=WAIT, what=f"{node.name} stands by", log=node.log)


def test_samples_published_are_stored(site: Site) -> None:
    """Last: stop the agents and count every sample they published across all the faults above."""
    leader = site.wait_leader()
    for agent in site.agents:
        agent.stop()
    site.phone.stop()
    wait_until(lambda: leader.get("/api/health") is not None and leader.health()["store"]["queued"] == 0,
               timeout=WAIT, what="the leader's store queue empty")  # fmt: skip
    for agent in site.agents:
        t = wait_tally(site, agent)
        assert t.missing == [], str(t)
    assert set(site.phone.published) <= _stored_seqs(site, PHONE)


def wait_tally(site: Site, agent: Agent) -> Any:
    url = f"postgresql+psycopg://postgres@{site.pg.host}:{site.pg.port}/{site.db}"
    found: list[Any] = []

    def complete() -> bool:
        found[:] = [tally(agent, url)]
        return found[0].missing == []

    with contextlib.suppress(AssertionError):
        wait_until(complete, timeout=WAIT, what=f"{agent.device_id}: every sample stored")
    return found[0]


# -- helpers -------------------------------------------------------------------------------------------
def _row_counts(site: Site) -> dict[str, int]:
    return {t: int(site.sql(f"SELECT count(*) FROM {t}")[0][0]) for t in ("samples", "state_changes", "verdicts")}


def _metric(node: Node, name: str) -> float:
    for line in node.metrics().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in {node.name}'s /metrics")


def _health_of(site: Site, node: Node) -> Any:
    return node.get("/api/health")
