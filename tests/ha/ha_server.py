"""A minimal collector stand-in for the HA tests: a real uvicorn server with the real lease
(collector.ha.lease) on PostgreSQL, the real leader endpoint and standby guard
(collector.ha.health), ``/whoami`` (its holder name) and ``/events`` (an event stream)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, StreamingResponse

from collector.ha.health import StandbyGuard, leader_router
from collector.ha.lease import Lease, LeaseConfig


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--holder", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--lease-s", type=float, default=6.0)
    ap.add_argument("--renew-every-s", type=float, default=2.0)
    args = ap.parse_args()
    lease = Lease(
        LeaseConfig(enabled=True, lease_s=args.lease_s, renew_every_s=args.renew_every_s), args.url, args.holder
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await lease.start()
        yield
        await lease.stop()

    app = FastAPI(lifespan=lifespan)
    app.include_router(leader_router(lease))

    @app.get("/whoami")
    def whoami() -> PlainTextResponse:
        return PlainTextResponse(args.holder)

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            while True:
                yield f"data: {args.holder}\n\n".encode()
                await asyncio.sleep(0.2)

        return StreamingResponse(stream(), media_type="text/event-stream")

    guarded = StandbyGuard(app, lease.is_leader)
    uvicorn.run(guarded, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
