"""``likavillkor-collector dashboards push``: upload the dashboards in ``dashboards/`` (overwriting)
and create or update the InfluxDB (InfluxQL) data source ``likavillkor-influxdb`` in an existing
Grafana, through grafana-client (the maintained successor of the archived grafana-api).

grafana-client is optional (``pip install 'likavillkor[grafana]'``): it brings urllib3-future, which
takes over the ``urllib3`` import name, so it is imported only inside the command and the collector
never needs it. Every request has the ``--timeout`` deadline. See docs/dashboards.md.

Calls, in order: ``GET /api/frontend/settings`` (grafana-client's health check: is it Grafana, which
version), ``GET /api/datasources/uid/likavillkor-influxdb`` then ``PUT`` it or ``POST
/api/datasources``, ``GET /api/folders/likavillkor`` then ``POST /api/folders`` when missing, and one
``POST /api/dashboards/db`` (overwrite) per dashboard.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

DATASOURCE_UID = "likavillkor-influxdb"
DATASOURCE_NAME = "Likavillkor InfluxDB"
FOLDER_UID = "likavillkor"
FOLDER_TITLE = "Likavillkor"
DEFAULT_DIR = Path(__file__).resolve().parents[1] / "dashboards"
MESSAGE = "likavillkor-collector dashboards push"


class PushError(Exception):
    """A clear, user-facing reason why the push stopped."""


@dataclass(frozen=True)
class InfluxSource:
    """Where Grafana reads the collector's points: InfluxQL (1.x, 2.x through a DBRP mapping, 3.x)."""

    url: str
    database: str = "likavillkor"
    user: str = ""
    password: str = ""
    token: str = ""  # InfluxDB 2.x/3.x token, sent as "Authorization: Token ..."


@dataclass
class PushResult:
    grafana_version: str = ""
    datasource: str = ""  # "created", "updated", "kept (provisioned)", "kept"
    folder: str = ""  # "created", "exists"
    dashboards: dict[str, str] = field(default_factory=dict)  # uid -> URL in Grafana


# -- pure parts ----------------------------------------------------------------------------------
def datasource_body(src: InfluxSource) -> dict[str, Any]:
    """The data source as Grafana's API takes it (same as deploy/grafana/provisioning/datasources)."""
    json_data: dict[str, Any] = {
        "version": "InfluxQL",
        "dbName": src.database,
        "httpMode": "POST",
        "timeInterval": "1s",
    }
    secure: dict[str, str] = {}
    if src.password:
        secure["password"] = src.password
    if src.token:
        json_data["httpHeaderName1"] = "Authorization"
        secure["httpHeaderValue1"] = f"Token {src.token}"
    body: dict[str, Any] = {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": "influxdb",
        "access": "proxy",
        "url": src.url,
        "database": src.database,
        "user": src.user,
        "isDefault": False,
        "jsonData": json_data,
    }
    if secure:
        body["secureJsonData"] = secure
    return body


def dashboard_payload(dashboard: dict[str, Any], folder_uid: str) -> dict[str, Any]:
    """``POST /api/dashboards/db``: matched by uid, overwriting whatever version Grafana has."""
    d = {k: v for k, v in dashboard.items() if k not in ("id", "version")}
    d["id"] = None
    return {"dashboard": d, "folderUid": folder_uid, "overwrite": True, "message": MESSAGE}


def load_dashboards(directory: Path) -> list[dict[str, Any]]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise PushError(f"no dashboards (*.json) in {directory}: give --dashboards-dir")
    out = []
    for f in files:
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PushError(f"{f}: not a dashboard JSON file: {exc}") from None
        if not isinstance(d, dict) or not d.get("uid") or not d.get("title"):
            raise PushError(f"{f}: a dashboard needs a uid and a title")
        out.append(d)
    return out


# -- Grafana -------------------------------------------------------------------------------------
class Api(Protocol):  # the parts of grafana_client.GrafanaApi used here
    health: Any
    datasource: Any
    folder: Any
    dashboard: Any


def _status(exc: Exception) -> int:
    return int(getattr(exc, "status_code", 0) or 0)


def _lookup(call: Any, *args: Any) -> dict[str, Any] | None:
    """A GET that answers 404 for 'not there'."""
    from grafana_client.client import GrafanaClientError

    try:
        found: dict[str, Any] = call(*args)
        return found
    except GrafanaClientError as exc:
        if _status(exc) == 404:
            return None
        raise


def ensure_datasource(api: Api, src: InfluxSource | None) -> str:
    existing = _lookup(api.datasource.get_datasource_by_uid, DATASOURCE_UID)
    if src is None:
        if existing is None:
            raise PushError(f"Grafana has no data source {DATASOURCE_UID!r}: give --influx-url to create it")
        return "kept"
    if existing is None:
        api.datasource.create_datasource(datasource_body(src))
        return "created"
    if existing.get("readOnly"):
        log.warning("data source %s is provisioned from a file in Grafana: left as it is", DATASOURCE_UID)
        return "kept (provisioned)"
    api.datasource.update_datasource_by_uid(DATASOURCE_UID, datasource_body(src))
    return "updated"


def ensure_folder(api: Api, uid: str, title: str) -> str:
    if _lookup(api.folder.get_folder, uid) is not None:
        return "exists"
    api.folder.create_folder(title, uid=uid)
    return "created"


def push(
    api: Api,
    src: InfluxSource | None,
    dashboards: list[dict[str, Any]],
    *,
    folder_uid: str = FOLDER_UID,
    folder_title: str = FOLDER_TITLE,
) -> PushResult:
    result = PushResult()
    info = api.health.check() or {}
    result.grafana_version = str(info.get("version", "")) if isinstance(info, dict) else ""
    result.datasource = ensure_datasource(api, src)
    result.folder = ensure_folder(api, folder_uid, folder_title)
    for d in dashboards:
        answer = api.dashboard.update_dashboard(dashboard_payload(d, folder_uid)) or {}
        result.dashboards[d["uid"]] = str(answer.get("url", "")) if isinstance(answer, dict) else ""
    return result


def connect(url: str, *, token: str = "", user: str = "", password: str = "", timeout_s: float = 10.0) -> Any:
    """A grafana_client.GrafanaApi with a deadline on every request (imported here, never at start-up)."""
    try:
        from grafana_client import GrafanaApi
    except ImportError as exc:
        raise PushError(f"grafana-client is not installed ({exc}): pip install 'likavillkor[grafana]'") from None
    if not url.startswith(("http://", "https://")):
        raise PushError(f"--grafana-url must start with http:// or https://, got {url!r}")
    if token and user:
        raise PushError("give either --token or --user/--password, not both")
    credential: str | tuple[str, str] | None = token or ((user, password) if user else None)
    if credential is None:
        raise PushError("give --token (a Grafana service account token) or --user and --password")
    return GrafanaApi.from_url(url, credential=credential, timeout=timeout_s)


# -- command line --------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dashboards_command", required=True)
    p = sub.add_parser("push", help="upload the dashboards and the InfluxDB data source to a Grafana")
    p.add_argument("--grafana-url", required=True, help="e.g. https://grafana.kommun.se")
    p.add_argument(
        "--token",
        default=os.environ.get("LIKAVILLKOR_GRAFANA_TOKEN", ""),
        help="service account token (or LIKAVILLKOR_GRAFANA_TOKEN)",
    )
    p.add_argument("--user", default="", help="Grafana user (basic auth) instead of a token")
    p.add_argument(
        "--password",
        default=os.environ.get("LIKAVILLKOR_GRAFANA_PASSWORD", ""),
        help="(or LIKAVILLKOR_GRAFANA_PASSWORD)",
    )
    p.add_argument(
        "--influx-url", default="", help="InfluxDB as Grafana reaches it; create/update the data source (omit: keep it)"
    )
    p.add_argument("--database", default="likavillkor", help="InfluxQL database (2.x: the DBRP mapping)")
    p.add_argument("--influx-user", default="", help="read-only InfluxDB user for Grafana")
    p.add_argument(
        "--influx-password",
        default=os.environ.get("LIKAVILLKOR_INFLUX_PASSWORD", ""),
        help="(or LIKAVILLKOR_INFLUX_PASSWORD)",
    )
    p.add_argument(
        "--influx-token",
        default=os.environ.get("LIKAVILLKOR_INFLUX_TOKEN", ""),
        help="InfluxDB 2.x/3.x read token (or LIKAVILLKOR_INFLUX_TOKEN)",
    )
    p.add_argument("--dashboards-dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--folder", default=FOLDER_TITLE, help="Grafana folder title (uid 'likavillkor')")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per HTTP request")
    p.set_defaults(func=cmd_push)


def cmd_push(args: argparse.Namespace) -> int:
    try:
        dashboards = load_dashboards(args.dashboards_dir)
        api = connect(
            args.grafana_url, token=args.token, user=args.user, password=args.password, timeout_s=args.timeout
        )
        src = (
            InfluxSource(args.influx_url, args.database, args.influx_user, args.influx_password, args.influx_token)
            if args.influx_url
            else None
        )
        result = _push_reporting_errors(api, src, dashboards, args.folder, args.grafana_url)
    except PushError as exc:
        print(f"dashboards push: {exc}", file=sys.stderr)
        return 1
    print(
        json.dumps(
            {
                "grafana_version": result.grafana_version,
                "datasource": result.datasource,
                "folder": result.folder,
                "dashboards": result.dashboards,
            },
            ensure_ascii=False,
            indent=1,
        )
    )
    return 0


def _push_reporting_errors(
    api: Any, src: InfluxSource | None, dashboards: list[dict[str, Any]], folder_title: str, url: str
) -> PushResult:
    """Turn grafana-client's and the HTTP library's errors into one clear PushError."""
    import niquests
    from grafana_client.client import GrafanaException

    try:
        return push(api, src, dashboards, folder_title=folder_title)
    except GrafanaException as exc:
        hint = {
            401: " (wrong token or password)",
            403: " (the token may not edit dashboards/data sources)",
            412: " (changed in Grafana meanwhile)",
        }.get(_status(exc), "")
        raise PushError(f"Grafana at {url} answered: {exc.message}{hint}") from None
    except niquests.exceptions.RequestException as exc:
        raise PushError(f"cannot reach Grafana at {url}: {exc}") from None
