from __future__ import annotations

from pathlib import Path

import pytest

from tests.media.clips import write_clip


@pytest.fixture(scope="session")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 8 s, 640x480 clip with known segments (tests/media/clips.py)."""
    return write_clip(tmp_path_factory.mktemp("media") / "clip.avi")
