"""A speed-test server on the collector, in the legacy Speedtest HTTP protocol.

speedtest-cli 2.1.3 (the agent's client, ``agent.probes.bandwidth``) speaks it:

- ``GET  latency.txt``            -> ``test=test``
- ``GET  random{N}x{N}.jpg``       -> N×N "image": incompressible bytes from a cached random buffer,
                                     as large as speedtest.net's files of that name
- ``POST upload.php``              -> reads the body (bounded) and answers ``size=<bytes read>``

Mounted by the collector at ``/speedtest``, so the agent's server URL is
``{collector}/speedtest/upload.php``. Bounded: downloads only in the sizes speedtest.net serves
(at most ~32 MB), uploads at most ``max_upload_bytes`` (413 beyond), and at most
``max_concurrent`` transfers at once (503 beyond), so a speed test cannot take the collector down
during a meeting (H1, H2).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Final

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response, StreamingResponse
from starlette.requests import ClientDisconnect

#: Byte sizes of speedtest.net's ``random{N}x{N}.jpg`` files; the client budgets data with them.
IMAGE_BYTES: Final[dict[int, int]] = {
    350: 245_388, 500: 505_544, 750: 1_118_012, 1000: 1_986_284, 1500: 4_468_241,
    2000: 7_907_740, 2500: 12_407_926, 3000: 17_816_816, 3500: 24_262_167, 4000: 31_625_365,
}
DEFAULT_MAX_UPLOAD_BYTES: Final = 8 * 1024 * 1024  # speedtest-cli's largest upload is 7 MiB
_CHUNK: Final = 64 * 1024
_BUFFER_BYTES: Final = 1024 * 1024

_buffer: bytes | None = None


def _random_buffer() -> bytes:
    global _buffer
    if _buffer is None:
        _buffer = os.urandom(_BUFFER_BYTES)
    return _buffer


class _Slots:
    """A bound on concurrent transfers that refuses (503) instead of queueing."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.busy = 0

    def take(self) -> None:
        if self.busy >= self.limit:
            raise HTTPException(status_code=503, detail="too many speed tests at once")
        self.busy += 1

    def release(self) -> None:
        self.busy = max(0, self.busy - 1)


async def _image_bytes(total: int, slot: _Slots) -> AsyncIterator[bytes]:
    view = memoryview(_random_buffer())
    sent = 0
    try:
        while sent < total:
            start = sent % _BUFFER_BYTES
            n = min(_CHUNK, total - sent, _BUFFER_BYTES - start)
            yield bytes(view[start : start + n])
            sent += n
    finally:
        slot.release()


def router(*, max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES, max_concurrent: int = 32) -> APIRouter:
    """The speed-test routes; mount with ``app.include_router(router(), prefix="/speedtest")``."""
    api = APIRouter(tags=["speedtest"])
    slots = _Slots(max_concurrent)

    @api.get("/latency.txt", response_class=PlainTextResponse)
    async def latency() -> str:
        return "test=test"

    @api.get("/random{width:int}x{height:int}.jpg")
    async def image(width: int, height: int) -> Response:
        if width != height or width not in IMAGE_BYTES:
            raise HTTPException(status_code=404, detail=f"sizes served: {sorted(IMAGE_BYTES)}")
        total = IMAGE_BYTES[width]
        slots.take()
        return StreamingResponse(_image_bytes(total, slots), media_type="image/jpeg",
                                 headers={"Content-Length": str(total), "Cache-Control": "no-store"})

    @api.get("/upload.php", response_class=PlainTextResponse)
    async def upload_probe() -> str:
        return "size=0"

    @api.post("/upload.php", response_class=PlainTextResponse)
    async def upload(request: Request) -> str:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_upload_bytes):
            raise HTTPException(status_code=413, detail=f"at most {max_upload_bytes} bytes")
        slots.take()
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > max_upload_bytes:
                    raise HTTPException(status_code=413, detail=f"at most {max_upload_bytes} bytes")
        except ClientDisconnect:  # the client's time was up mid-upload: normal for a speed test
            pass
        finally:
            slots.release()
        return f"size={size}"

    return api


def main(argv: list[str] | None = None) -> None:
    """Serve only the speed-test routes (for tests and a stand-alone server):
    ``python -m collector.speedtest_server --host 127.0.0.1 --port 8080`` -> ``/speedtest/...``."""
    import argparse
    import logging

    import uvicorn
    from fastapi import FastAPI

    parser = argparse.ArgumentParser(description="Likavillkor speed-test server (legacy Speedtest protocol)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    app = FastAPI(title="likavillkor speed test")
    app.include_router(router(), prefix="/speedtest")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
