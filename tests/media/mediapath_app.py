"""A small collector-side app for the media path tests: the real router mounted at /api/mediapath.

Run: ``python -m uvicorn tests.media.mediapath_app:app --port N``. Every result handed to
``on_result`` is also appended to the JSON-lines file named by ``MEDIAPATH_RESULTS`` (if set).
"""

from __future__ import annotations

import json
import os
from typing import Any

from fastapi import FastAPI

from collector.peers.media import MediaPeerConfig, router

config = MediaPeerConfig(
    return_width=320,
    return_height=240,
    return_fps=15.0,
    connect_timeout_s=float(os.environ.get("MEDIAPATH_CONNECT_TIMEOUT_S", "10")),
)


def on_result(result: dict[str, Any]) -> None:
    path = os.environ.get("MEDIAPATH_RESULTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps(result) + "\n")


api = router(on_result, config)
app = FastAPI()
app.include_router(api, prefix="/api/mediapath")


@app.on_event("shutdown")
async def shutdown() -> None:
    await api.media_peer.aclose()  # type: ignore[attr-defined]
