"""WCAG 2.1 AA: every text/background colour pair of the pages has a contrast ratio of at least 4.5:1
(success criterion 1.4.3), and every verdict and state has its pair. The pairs are read from the
shipped CSS itself (``--X-fg`` / ``--X-bg``) and from the report's timeline colours."""

from __future__ import annotations

import re
from importlib import resources

import pytest

from collector.engine.types import Verdict
from collector.web import report_timeline

CSS = resources.files("collector.web").joinpath("static/app.css").read_text(encoding="utf-8")


def luminance(hex_colour: str) -> float:
    """Relative luminance (WCAG 2.1)."""
    h = hex_colour.lstrip("#")
    channels = [int(h[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]


def ratio(fg: str, bg: str) -> float:
    a, b = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


def css_pairs() -> dict[str, tuple[str, str]]:
    colours = dict(re.findall(r"--([a-z_-]+):\s*(#[0-9a-fA-F]{6})", CSS))
    return {name[:-3]: (colours[name], colours[name[:-3] + "-bg"]) for name in colours if name.endswith("-fg")}


def test_ratio_function_matches_known_values() -> None:
    assert ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-failing grey


def test_every_css_pair_passes_aa() -> None:
    pairs = css_pairs()
    assert len(pairs) >= 18
    failing = {name: round(ratio(fg, bg), 2) for name, (fg, bg) in pairs.items() if ratio(fg, bg) < 4.5}
    assert not failing, failing


def test_every_verdict_has_a_banner_pair() -> None:
    pairs = css_pairs()
    for v in Verdict:
        assert f"v-{v.value}" in pairs and f".v-{v.value} {{" in CSS


@pytest.mark.parametrize("name", sorted(report_timeline.TIMELINE_COLOURS))
def test_timeline_colours_pass_aa(name: str) -> None:
    fill, ink = report_timeline.TIMELINE_COLOURS[name]
    assert ratio(ink, fill) >= 4.5
