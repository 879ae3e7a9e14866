"""Sign-in under attack (issue 12, items 10 and 11) and private files (item 12): real collector
processes. Its own collector, so the sign-in throttle of the other tests does not interfere."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from tests.support.services import running_mosquitto
from tests.support.waiting import wait_until
from tests.web.conftest import ROOT, Collector, make_collector


def failed_sign_in(c: Collector, username: str, headers: dict[str, str] | None = None) -> int:
    r = httpx.post(
        f"{c.base}/login",
        data={"username": username, "password": "wrong password!"},
        headers=headers or {},
        timeout=120,
    )
    return r.status_code


def test_forwarded_for_does_not_dodge_the_sign_in_throttle(collector: Collector) -> None:
    """Item 11: a local client naming a new X-Forwarded-For on each try still hits the throttle
    (5 failures per user and address), because no proxy is configured ([http] trusted_proxies)."""
    statuses = [failed_sign_in(collector, "ordf", {"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(7)]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429], statuses


def test_failed_sign_ins_do_not_stall_other_requests(collector: Collector) -> None:
    """Item 10: 40 failed sign-ins at once (argon2 each) while a page is asked for: the page is answered
    while most sign-ins still wait for their hash, because hashing is off the event loop."""
    done: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        assert failed_sign_in(collector, f"nobody-{i}") == 401
        with lock:
            done.append(time.monotonic())

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # the sign-ins are in; the collector is hashing
    r = httpx.get(f"{collector.base}/login", timeout=120)
    answered = time.monotonic()
    assert r.status_code == 200
    for t in threads:
        t.join(120)
    assert len(done) == 40
    before = sum(1 for t in done if t < answered)
    assert before < 20, f"{before} of 40 sign-ins were answered before a plain page"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_database_and_backups_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """Item 12: a collector started from a shell with umask 022 in a fresh directory."""
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        c = make_collector(tmp_path / "work", broker)
        data = c.data
        data.chmod(0o755)  # as make_collector's files left it, or an old checkout's data/
        c.spawn(preexec_fn=lambda: os.umask(0o022))
        try:
            wait_until(
                lambda: (data / "likavillkor.db").exists() and (data / "web-secret.key").exists(),
                timeout=30,
                what="the database and the key",
                log=c.log,
            )
            c.wait_up()
            assert _mode(data) == 0o700
            for f in data.iterdir():
                if f.is_file():
                    assert _mode(f) & 0o077 == 0, f"{f.name} is {_mode(f):o}"
            backup = tmp_path / "backup.db"
            done = subprocess.run(
                [sys.executable, "-m", "collector", "backup", "--config", str(c.config), "--out", str(backup)],
                cwd=ROOT,
                capture_output=True,
                timeout=120,
                preexec_fn=lambda: os.umask(0o022),
            )
            assert done.returncode == 0, done.stderr
            assert _mode(backup) == 0o600
        finally:
            c.stop()
