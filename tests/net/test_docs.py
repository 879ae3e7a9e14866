"""The sample config sections in docs/probes/{path,bandwidth}.md parse into the Section classes."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from agent.probes.bandwidth import SpeedtestConfig, SpeedtestTarget
from agent.probes.path import PathProbeConfig
from likavillkor.config import Section, loads

DOCS = Path(__file__).resolve().parents[2] / "docs" / "probes"


class _Sample(Section):
    path: PathProbeConfig = msgspec.field(default_factory=PathProbeConfig)
    speedtest: SpeedtestConfig = msgspec.field(default_factory=SpeedtestConfig)


def toml_blocks(name: str) -> list[str]:
    return re.findall(r"```toml\n(.*?)```", (DOCS / name).read_text(encoding="utf-8"), re.S)


def test_path_doc_sample_parses_and_matches_the_defaults() -> None:
    blocks = toml_blocks("path.md")
    assert len(blocks) == 1
    cfg = loads(blocks[0], _Sample, source="docs/probes/path.md")
    assert cfg.path == PathProbeConfig()  # the doc shows the real defaults


def test_bandwidth_doc_sample_parses_and_matches_the_defaults() -> None:
    blocks = toml_blocks("bandwidth.md")
    assert len(blocks) == 1
    cfg = loads(blocks[0], _Sample, source="docs/probes/bandwidth.md")
    assert cfg.speedtest == SpeedtestConfig()
    assert cfg.speedtest.target is SpeedtestTarget.COLLECTOR
