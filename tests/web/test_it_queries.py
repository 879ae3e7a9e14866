"""IT's incident filter and export, the pure parts (issue 15): names found by any part in any case,
Stockholm days from a date picker, CSV with ISO 8601 local times and plain columns."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from collector.web import queries
from collector.web.queries import IncidentFilter, Names

START = 1_796_112_000.0  # 2026-12-01 09:00:00 Europe/Stockholm (CET, +01:00)


def _row(i: int, member: str, device: str, body: str = "kommunstyrelsen", **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "meeting_id": "ks-1",
        "body": body,
        "member_id": member,
        "device_id": device,
        "kind": "connection_lost",
        "started_at": START + i,
        "ended_at": START + i + 65.5,
        "peak_severity": "failure",
        "adjourned": True,
        "adjourned_s": 42.0,
        "substitute_called": False,
        "metrics": {"loss_percent": 12.5},
        **kw,
    }


NAMES = Names(members={"anna": "Anna Åkesson", "bo": "Bo Berg"}, bodies=("kommunstyrelsen",), devices=("dev-a",))


def test_days_are_stockholm_days() -> None:
    assert queries.day_start("2026-12-01") == START - 9 * 3600
    assert queries.day_start("2026-07-01") == 1_782_856_800.0  # summer time: midnight is 22:00 UTC
    assert queries.day_start("2026-12-01", days_after=1) == START + 15 * 3600
    for bad in ("1.12.2026", "2026-13-01", "", "1899-01-01"):
        with pytest.raises(ValueError):
            queries.day_start(bad)
    assert queries.iso_local(START) == "2026-12-01T09:00:00+01:00"
    assert queries.iso_local(1_782_900_000.0) == "2026-07-01T12:00:00+02:00"


def test_filter_from_date_pickers_and_a_bad_date() -> None:
    f = IncidentFilter.from_query(from_date="2026-12-01", to_date="2026-12-01", **_blank())
    assert f.since == START - 9 * 3600 and f.until is not None and START < f.until < START + 15 * 3600
    bad = IncidentFilter.from_query(from_date="igår", to_date=" ", **_blank())
    assert bad.bad_dates == ("igår",) and bad.since is None and bad.until is None and bad.to_date is None


def _blank() -> dict[str, Any]:
    return dict(since=None, until=None, body=None, member=None, device=None, kind=None, meeting=None, limit=100)


def test_names_match_by_any_part_in_any_case() -> None:
    rows = [_row(1, "anna", "dev-a"), _row(2, "bo", "dev-b", body="socialnämnden"), _row(3, "gone", "DEV-X")]
    by = lambda **kw: [r["id"] for r in queries.by_names(rows, IncidentFilter(**kw), NAMES)]  # noqa: E731
    assert by(member="åkesson") == [1]  # the name, not the id; Swedish letters fold too
    assert by(member="ANNA") == [1]
    assert by(member="gone") == [3]  # an id the roster no longer names still matches by id
    assert by(body="Socialnämnden") == [2]
    assert by(device="dev-x") == [3]
    assert by(member="nobody") == []


def test_csv_has_local_iso_times_and_plain_columns() -> None:
    rows = [_row(1, "anna", "dev-a"), _row(2, "bo", '=HYPERLINK("x")', metrics={}, ended_at=None)]
    text = queries.incidents_csv(rows, NAMES, "sv")
    got = list(csv.DictReader(io.StringIO(text)))
    assert got[0]["started"] == "2026-12-01T09:00:01+01:00" and got[0]["ended"] == "2026-12-01T09:01:06+01:00"
    assert got[0]["member"] == "Anna Åkesson" and got[0]["kind_text"] == "Ingen kontakt"
    assert got[0]["severity"] == "Fel" and got[0]["adjourned"] == "ja" and got[0]["metric_loss_percent"] == "12.5"
    assert got[0]["duration_s"] == "65.5"
    assert got[1]["ended"] == "" and got[1]["metric_loss_percent"] == ""
    assert got[1]["device_id"].startswith("'=")  # formula-neutralised, as before
    assert "{" not in text and str(int(START)) not in text  # no JSON blobs, no epoch seconds
