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
during a meeting (H1, H2). Against a hostile client (issue 12): one address holds at most
``per_client`` anonymous transfers, anonymous clients together never the ``reserved`` slots kept
for a member with a self-test link, a device with its login or signed-in staff; a transfer whose
client stops reading for ``stall_s`` or that runs past ``transfer_s`` is ended; a client that goes
away mid-download is counted, never logged per chunk.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.requests import ClientDisconnect

#: Byte sizes of speedtest.net's ``random{N}x{N}.jpg`` files; the client budgets data with them.
IMAGE_BYTES: Final[dict[int, int]] = {
    350: 245_388,
    500: 505_544,
    750: 1_118_012,
    1000: 1_986_284,
    1500: 4_468_241,
    2000: 7_907_740,
    2500: 12_407_926,
    3000: 17_816_816,
    3500: 24_262_167,
    4000: 31_625_365,
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
    """Bounds on concurrent transfers that refuse (503) instead of queueing (issue 12):

    * ``limit`` transfers in all;
    * anonymous clients (no valid self-test link, device login or staff sign-in) share at most
      ``limit - reserved`` of them, and one address holds at most ``per_client``; so a member with a
      link or a device login always finds one of the ``reserved`` slots, whoever else is downloading.
    """

    def __init__(self, limit: int, *, reserved: int = 8, per_client: int = 8) -> None:
        self.limit = limit
        self.reserved = min(reserved, limit)
        self.per_client = per_client
        self.busy = 0
        self.anonymous = 0
        self.by_client: dict[str, int] = {}
        self.refused = 0

    def take(self, client: str, trusted: bool) -> None:
        mine = self.by_client.get(client, 0)
        if (
            self.busy >= self.limit
            or mine >= self.per_client * (2 if trusted else 1)
            or (not trusted and self.anonymous >= self.limit - self.reserved)
        ):
            self.refused += 1
            raise HTTPException(status_code=503, detail="too many speed tests at once", headers={"Retry-After": "10"})
        self.busy += 1
        self.anonymous += 0 if trusted else 1
        self.by_client[client] = mine + 1

    def release(self, client: str, trusted: bool) -> None:
        self.busy = max(0, self.busy - 1)
        if not trusted:
            self.anonymous = max(0, self.anonymous - 1)
        left = self.by_client.get(client, 1) - 1
        if left > 0:
            self.by_client[client] = left
        else:
            self.by_client.pop(client, None)


@dataclass
class Counters:
    downloads: int = 0
    uploads: int = 0
    #: the client stopped reading for ``stall_s`` or the transfer passed ``transfer_s``
    stalled: int = 0
    #: the client went away mid-transfer (a reset, a closed tab): normal, never logged per chunk
    aborted: int = 0


class _Download(Response):
    """The N×N "image" as an ASGI response that ends early, and quietly, when the client goes away
    (one counter, no log line per chunk: issue 12), stops reading for ``stall_s`` or takes longer
    than ``transfer_s``; its slot is released in every case."""

    def __init__(
        self, total: int, release: Callable[[], None], counters: Counters, *, stall_s: float, transfer_s: float
    ) -> None:
        super().__init__(media_type="image/jpeg", headers={"Content-Length": str(total), "Cache-Control": "no-store"})
        self.total = total
        self.release = release
        self.counters = counters
        self.stall_s = stall_s
        self.transfer_s = transfer_s

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.ensure_future(watch())
        loop = asyncio.get_running_loop()
        end = loop.time() + self.transfer_s
        try:
            await asyncio.wait_for(
                send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}),
                self.stall_s,
            )
            view = memoryview(_random_buffer())
            sent = 0
            while sent < self.total:
                if gone.is_set():
                    self.counters.aborted += 1
                    return
                if loop.time() > end:
                    raise TimeoutError
                start = sent % _BUFFER_BYTES
                n = min(_CHUNK, self.total - sent, _BUFFER_BYTES - start)
                await asyncio.wait_for(
                    send({"type": "http.response.body", "body": bytes(view[start : start + n]), "more_body": True}),
                    self.stall_s,
                )
                sent += n
                await asyncio.sleep(0)  # lets a reset connection be noticed before the next chunk
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except TimeoutError:
            self.counters.stalled += 1  # uvicorn closes the connection (one log line of its own)
        except OSError:
            self.counters.aborted += 1
        finally:
            watcher.cancel()
            self.release()


async def _untrusted() -> bool:
    return False


async def _read_upload(
    request: Request, max_upload_bytes: int, counters: Counters, *, stall_s: float, transfer_s: float
) -> int:
    """Reads and discards an upload body -> its size; 413 past ``max_upload_bytes``, 408 when a chunk
    takes longer than ``stall_s`` (or the whole past ``transfer_s``); a client gone mid-upload is counted."""
    size = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + transfer_s
    stream = request.stream().__aiter__()
    try:
        while True:
            chunk = await asyncio.wait_for(stream.__anext__(), max(0.01, min(stall_s, end - loop.time())))
            size += len(chunk)
            if size > max_upload_bytes:
                raise HTTPException(status_code=413, detail=f"at most {max_upload_bytes} bytes")
    except StopAsyncIteration:
        pass
    except ClientDisconnect:  # the client's time was up mid-upload: normal for a speed test
        counters.aborted += 1
    except TimeoutError:
        counters.stalled += 1
        raise HTTPException(status_code=408, detail="the upload stalled", headers={"Connection": "close"}) from None
    return size


def router(
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_concurrent: int = 32,
    reserved: int = 8,
    per_client: int = 8,
    stall_s: float = 10.0,
    transfer_s: float = 60.0,
    trusted: Callable[..., Awaitable[bool]] = _untrusted,
) -> APIRouter:
    """The speed-test routes; mount with ``app.include_router(router(), prefix="/speedtest")``.

    ``trusted`` is a dependency saying whether the caller is "trusted" (the collector's
    ``collector.web.access``: a valid self-test link, device login or staff sign-in): see :class:`_Slots`."""
    api = APIRouter(tags=["speedtest"])
    slots = _Slots(max_concurrent, reserved=reserved, per_client=per_client)
    counters = Counters()
    api.speedtest_counters = counters  # type: ignore[attr-defined]
    api.speedtest_slots = slots  # type: ignore[attr-defined]

    def who(request: Request, is_trusted: bool) -> tuple[str, bool]:
        return (request.client.host if request.client else "?"), is_trusted

    @api.get("/latency.txt", response_class=PlainTextResponse, dependencies=[Depends(trusted)])
    async def latency() -> str:
        return "test=test"

    @api.get("/random{width:int}x{height:int}.jpg")
    async def image(request: Request, width: int, height: int, is_trusted: bool = Depends(trusted)) -> Response:
        if width != height or width not in IMAGE_BYTES:
            raise HTTPException(status_code=404, detail=f"sizes served: {sorted(IMAGE_BYTES)}")
        client, trusted = who(request, is_trusted)
        slots.take(client, trusted)
        counters.downloads += 1
        return _Download(
            IMAGE_BYTES[width], lambda: slots.release(client, trusted), counters, stall_s=stall_s, transfer_s=transfer_s
        )

    @api.get("/upload.php", response_class=PlainTextResponse, dependencies=[Depends(trusted)])
    async def upload_probe() -> str:
        return "size=0"

    @api.post("/upload.php", response_class=PlainTextResponse)
    async def upload(request: Request, is_trusted: bool = Depends(trusted)) -> str:
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > max_upload_bytes):
            raise HTTPException(status_code=413, detail=f"at most {max_upload_bytes} bytes")
        client, trusted = who(request, is_trusted)
        slots.take(client, trusted)
        counters.uploads += 1
        try:
            size = await _read_upload(request, max_upload_bytes, counters, stall_s=stall_s, transfer_s=transfer_s)
        finally:
            slots.release(client, trusted)
        return f"size={size}"

    return api


def main(argv: list[str] | None = None) -> None:
    """Serve only the speed-test routes (for tests and a stand-alone server):
    ``python -m collector.peers.speedtest --host 127.0.0.1 --port 8080`` -> ``/speedtest/...``."""
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
