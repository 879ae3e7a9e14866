"""A small HTTP server that answers only the Grafana endpoints grafana-client calls for
``dashboards push``, records every request, and checks the credential (no Grafana server can be
installed on the test machine: docs/dashboards.md)."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.services import free_port


@dataclass
class Request:
    method: str
    path: str
    auth: str
    body: Any


@dataclass
class State:
    token: str = "glsa_test"
    basic: tuple[str, str] = ("admin", "hemligt")
    datasources: dict[str, dict[str, Any]] = field(default_factory=dict)
    folders: dict[str, dict[str, Any]] = field(default_factory=dict)
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    hold: threading.Event | None = None  # when set: every request waits for it (a hung Grafana)

    def authorised(self, header: str) -> bool:
        basic = base64.b64encode(":".join(self.basic).encode()).decode()
        return header in (f"Bearer {self.token}", f"Basic {basic}")


def _handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            auth = self.headers.get("Authorization", "")
            state.requests.append(Request(self.command, self.path, auth, body))
            if state.hold is not None:
                state.hold.wait(10)
            if not state.authorised(auth):
                return self._reply(401, {"message": "invalid API key"})
            status, answer = route(state, self.command, self.path, body)
            self._reply(status, answer)

        do_GET = do_POST = do_PUT = _handle

    return Handler


def route(state: State, method: str, path: str, body: Any) -> tuple[int, Any]:
    ds_prefix, folder_prefix = "/api/datasources/uid/", "/api/folders/"
    if (method, path) == ("GET", "/api/frontend/settings"):
        return 200, {"buildInfo": {"version": "11.4.0", "edition": "Open Source"}}
    if method == "GET" and path.startswith(ds_prefix):
        found = state.datasources.get(path[len(ds_prefix) :])
        return (200, found) if found else (404, {"message": "Data source not found"})
    if (method, path) == ("POST", "/api/datasources"):
        state.datasources[body["uid"]] = {**body, "id": len(state.datasources) + 1}
        return 200, {"id": state.datasources[body["uid"]]["id"], "message": "Datasource added"}
    if method == "PUT" and path.startswith(ds_prefix):
        uid = path[len(ds_prefix) :]
        if uid not in state.datasources:
            return 404, {"message": "Data source not found"}
        if state.datasources[uid].get("readOnly"):
            return 403, {"message": "Cannot update read-only data source"}
        state.datasources[uid] = {**body, "id": state.datasources[uid]["id"]}
        return 200, {"message": "Datasource updated"}
    if method == "GET" and path.startswith(folder_prefix):
        found = state.folders.get(path[len(folder_prefix) :])
        return (200, found) if found else (404, {"message": "folder not found"})
    if (method, path) == ("POST", "/api/folders"):
        state.folders[body["uid"]] = body
        return 200, {"uid": body["uid"], "title": body["title"], "id": 7}
    if (method, path) == ("POST", "/api/dashboards/db"):
        d = body["dashboard"]
        if d["uid"] in state.dashboards and not body.get("overwrite"):
            return 412, {"message": "A dashboard with the same uid already exists", "status": "name-exists"}
        state.dashboards[d["uid"]] = body
        return 200, {"status": "success", "uid": d["uid"], "url": f"/d/{d['uid']}/x", "version": 1}
    return 404, {"message": f"not implemented by the fake: {method} {path}"}


@contextlib.contextmanager
def running_fake_grafana(state: State | None = None) -> Iterator[tuple[str, State]]:
    state = state or State()
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()
