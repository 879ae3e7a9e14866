"""collector/runtime/lifecycle.py: the reflector's loop is started on its own thread and stopped with
a deadline; a reflector that cannot start is a reason in ``/api/health`` (modules), never fatal."""

from __future__ import annotations

import socket
from pathlib import Path

from collector.config import CollectorConfig, ReflectorSection
from collector.runtime.lifecycle import ReflectorRunner


def _config(tmp_path: Path, port: int) -> CollectorConfig:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return CollectorConfig(data_dir=str(tmp_path), reflector=ReflectorSection(host="127.0.0.1", port=port))


def test_reflector_runs_on_its_own_loop_and_stops(tmp_path: Path) -> None:
    runner = ReflectorRunner()
    assert runner.start(_config(tmp_path, 0), ["dev-a"], lambda device, at: None) == "loaded"
    try:
        assert runner.port is not None and runner.port > 0
        running = runner.running
        assert running is not None and running[1].is_running()  # (Reflector, loop) for collector/metrics.py
        assert runner.probe_keys is not None and len(runner.probe_keys.key_for("dev-a")) == 32
    finally:
        runner.stop()
    assert runner.running is None and runner.port is None
    runner.stop()  # twice: nothing to do


def test_a_reflector_that_cannot_bind_is_a_reason_not_a_crash(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        status = ReflectorRunner().start(_config(tmp_path, taken.getsockname()[1]), [], lambda d, a: None)
    assert status.startswith("not started: ")
