"""IT's routes (Servicedesk): incidents (page, JSON, CSV), devices that keep failing, a meeting's
report, the collector's health and counters, ``/metrics``, and the media path peer's results."""

# No `from __future__ import annotations`: FastAPI must see the Annotated dependencies as objects.
import logging
from typing import TYPE_CHECKING, Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.exc import SQLAlchemyError

from collector import metrics
from collector.auth import Principal
from collector.web import i18n, queries, report, report_timeline
from collector.web.access import Access
from collector.web.context import WebDeps
from collector.web.models import FailingDeviceOut, WebCounters
from collector.web.render import json_response, language, render

if TYPE_CHECKING:
    from collector.peers.media import MediaPeer

log = logging.getLogger(__name__)
Days = Annotated[float, Query(gt=0, le=3650)]
MinIncidents = Annotated[int, Query(ge=1, le=10_000)]
Filter = Annotated[queries.IncidentFilter, Depends(queries.IncidentFilter.from_query)]


def incident_kinds() -> list[str]:
    """Every incident kind the catalogs name (``incident.<kind>``), for the filter's choice."""
    return sorted(k[len("incident.") :] for k in i18n.CATALOGS["sv"] if k.startswith("incident."))


def router(web: WebDeps, access: Access) -> APIRouter:
    r = APIRouter()
    _api_routes(r, web, access)
    _health_routes(r, web, access)
    _incident_page_routes(r, web, access)
    _device_page_routes(r, web, access)
    _report_page_routes(r, web, access)
    return r


def _incident_page_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    ItPage = Annotated[Principal, Depends(access.it_page)]

    @r.get("/it/incidents", include_in_schema=False)
    async def incidents_page(
        request: Request, who: ItPage, f: Filter, format: Literal["html", "csv", "json"] = "html"
    ) -> Response:
        names = queries.Names.of(web.runtime.roster())
        if f.bad_dates:
            web.count("incident_filter_bad_date")
            log.info(
                "incident filter: a date that is not YYYY-MM-DD ignored (%d so far)",
                web.counters.get("incident_filter_bad_date", 0),
            )
        rows = queries.incidents(web.runtime.store, f, names)
        lang = language(request)
        if format == "json":
            return JSONResponse(rows, headers={"Content-Disposition": 'attachment; filename="incidents.json"'})
        if format == "csv":
            return PlainTextResponse(
                queries.incidents_csv(rows, names, lang),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": 'attachment; filename="incidents.csv"'},
            )
        return render(
            request,
            web,
            "incidents.html",
            who=who,
            rows=rows,
            f=f,
            names=names,
            kinds=incident_kinds(),
            day_of=queries.day_of,
            query=request.url.query,
        )


def _device_page_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    ItPage = Annotated[Principal, Depends(access.it_page)]

    @r.get("/it/devices", include_in_schema=False)
    async def failing_page(
        request: Request,
        who: ItPage,
        days: Days = 90,
        min_incidents: MinIncidents = 2,
        format: Literal["html", "csv"] = "html",
        which: Annotated[Literal["failing", "unknown"], Query(alias="list")] = "failing",
    ) -> Response:
        rows = queries.failing_devices(web.runtime.store, web.now(), days, min_incidents)
        names = queries.Names.of(web.runtime.roster())
        unknown = queries.unknown_devices(web.runtime.health())
        if format == "csv":
            text = (
                queries.unknown_csv(unknown)
                if which == "unknown"
                else queries.failing_csv(rows, names, language(request))
            )
            return PlainTextResponse(
                text,
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": f'attachment; filename="devices-{which}.csv"'},
            )
        return render(
            request,
            web,
            "devices.html",
            who=who,
            rows=rows,
            unknown=unknown,
            names=names,
            days=days,
            min_incidents=min_incidents,
        )


def _report_page_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    ItPage = Annotated[Principal, Depends(access.it_page)]
    MeetingPage = Annotated[Principal, Depends(access.meeting_page)]

    @r.get("/it/meetings/{meeting_id}/report", include_in_schema=False)
    async def report_page(
        request: Request, meeting_id: str, who: ItPage, format: Literal["html", "csv"] = "html"
    ) -> Response:
        return _report(request, web, who, meeting_id, format)

    # the minutes (protokollsunderlag) are the secretary's too: the same report for the meeting's own body's
    # secretary and chair (issue 15)
    @r.get("/secretary/{meeting_id}/report", include_in_schema=False)
    async def minutes_page(
        request: Request, meeting_id: str, who: MeetingPage, format: Literal["html", "csv"] = "html"
    ) -> Response:
        return _report(request, web, who, meeting_id, format)


def _report(request: Request, web: WebDeps, who: Principal, meeting_id: str, format: str) -> Response:
    """The meeting report: equal terms per agenda item and vote, adjournments, who stepped in, the roll call
    (H13) and the members' own reports (H17); HTML or CSV."""
    meeting = web.meeting(meeting_id)
    people = {u.username: u.name for u in web.auth.users().users.values() if u.name}
    rep = report.build(meeting, queries.meeting_history(web.runtime.store, meeting_id), now=web.now(), people=people)
    lang = language(request)
    if format == "csv":
        return PlainTextResponse(
            report.to_csv(rep, lang),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="report-{meeting_id}.csv"'},
        )
    return render(
        request,
        web,
        "report.html",
        who=who,
        meeting=meeting,
        rep=rep,
        timeline=report_timeline.timeline_svg(rep, lang),
        legend=report_timeline.legend(rep, lang),
        segment_title=lambda seg: report.segment_title(seg, lang),
        verdict_text=lambda seg: report.verdict_text(seg, lang),
        roll_call_text=lambda rc: report.roll_call_text(rc, lang),
    )


def _api_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    rt = web.runtime
    ItApi = Annotated[Principal, Depends(access.it_api)]

    @r.get("/api/meetings", summary="All meetings with their current verdict")
    def meetings(who: ItApi) -> Response:
        out = []
        for mid in rt.meeting_ids():
            v = rt.view(mid)
            if v is not None:
                out.append(
                    {
                        "meeting_id": v.meeting_id,
                        "body": v.body,
                        "start": v.start,
                        "end": v.end,
                        "verdict": v.verdict,
                        "monitoring": v.monitoring,
                        "system": v.system,
                        "participants": len(v.participants),
                    }
                )
        return json_response(out)

    @r.get("/api/incidents", summary="Incident history (personal data: retention applies)")
    def incidents(
        who: ItApi,
        since: float | None = None,
        until: float | None = None,
        body: str | None = None,
        member: str | None = None,
        device: str | None = None,
        kind: str | None = None,
        meeting: str | None = None,
        format: Literal["json", "csv"] = Query("json"),
    ) -> Response:
        rt.store.flush(2.0)
        try:
            rows = rt.store.incidents(
                since=since, until=until, body=body, member=member, device=device, kind=kind, meeting=meeting
            )
        except SQLAlchemyError as exc:
            raise HTTPException(503, f"the database is not reachable: {str(exc).splitlines()[0][:200]}") from None
        if format == "csv":
            return Response(content=queries.store_incidents_csv(rows), media_type="text/csv; charset=utf-8")
        return json_response(rows)

    @r.get(
        "/api/devices/failing",
        response_model=list[FailingDeviceOut],
        tags=["incidents"],
        summary="Devices that keep failing (IT)",
    )
    async def failing_api(who: ItApi, days: Days = 90, min_incidents: MinIncidents = 2) -> list[FailingDeviceOut]:
        return [FailingDeviceOut(**d) for d in queries.failing_devices(rt.store, web.now(), days, min_incidents)]


def _health_routes(r: APIRouter, web: WebDeps, access: Access) -> None:
    rt = web.runtime
    ItApi = Annotated[Principal, Depends(access.it_api)]

    @r.get("/api/health", summary="Broker connection, ingest counters, store/InfluxDB queues, unknown devices")
    def health(who: ItApi) -> Response:
        return json_response(rt.health())

    @r.get(
        "/api/web/counters",
        response_model=WebCounters,
        tags=["health"],
        summary="Sign-in and page counters: failed sign-ins, refused tokens and links, open live views (IT)",
    )
    async def web_counters(request: Request, who: ItApi) -> WebCounters:
        pages = dict(web.counters)
        speedtest = getattr(request.app.state, "speedtest_counters", None)
        if speedtest is not None:
            pages.update({f"speedtest_{k}": v for k, v in vars(speedtest).items()})
        return WebCounters(auth=dict(vars(web.auth.counters)), pages=pages, event_streams=web.streams)

    @r.get("/metrics", summary="Prometheus text format", response_class=Response)
    def prometheus(request: Request, who: ItApi) -> Response:
        text = metrics.from_health(rt.health(), metrics.components(rt, request.app.state))
        return Response(content=text, media_type="text/plain; version=0.0.4; charset=utf-8")


def mediapath_results(peer: "MediaPeer", access: Access) -> APIRouter:
    """The media path peer's status and latest results (H13 roll-call helper), for IT."""
    r = APIRouter(prefix="/api/mediapath")
    ItApi = Annotated[Principal, Depends(access.it_api)]

    @r.get("/status")
    async def get_status(who: ItApi) -> Response:
        return json_response({"open_peers": len(peer.sessions), "counters": peer.counters})

    @r.get("/results")
    async def get_results(who: ItApi) -> Response:
        return json_response({"results": list(peer.latest.values())})

    @r.get("/results/{device_id}")
    async def get_result(device_id: str, who: ItApi) -> Response:
        found = peer.latest.get(device_id)
        if not found:
            return json_response({"error": "no result for this device"}, 404)
        return json_response(found)

    return r
