"""Reasons are plain Swedish first, English on request, with Stockholm time and the rule."""

from __future__ import annotations

import datetime as dt

from collector.engine import reasons as R


def epoch(y: int, mo: int, d: int, h: int, mi: int, s: int) -> float:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC).timestamp()


def test_clock_is_stockholm_time_winter_and_summer() -> None:
    assert R.clock(epoch(2026, 12, 1, 13, 2, 11)) == "14:02:11"  # CET
    assert R.clock(epoch(2026, 7, 1, 12, 2, 11)) == "14:02:11"  # CEST


def test_numbers_sv_en() -> None:
    assert R.number(14.0) == "14" and R.number(2.8) == "2,8" and R.number(2.8, "en") == "2.8"


def test_metric_reason() -> None:
    r = R.metric("loss_percent", 14.0, "anna")
    assert (r.sv, r.en, r.rule, r.member_id) == ("paketförlust 14 %", "packet loss 14 %", "H1", "anna")
    b = R.metric("battery_percent", 8.0, charging=False)
    assert b.sv == "batteri 8 %, laddas inte" and b.rule == "H9"


def test_no_contact_and_conditions() -> None:
    t = epoch(2026, 12, 1, 13, 2, 11)
    r = R.no_contact(t)
    assert r.sv == "ingen kontakt sedan 14:02:11" and r.en == "no contact since 14:02:11" and r.rule == "H15"
    assert R.condition("mobile_data").sv == "mobildata"
    assert R.condition("mobile_data").rule == "H9"
    assert R.may_not_return().rule == "H16"
    assert R.vote_risk("Bo", "degraded").rule == "H5"
    assert R.excused(t, "§ 7").rule == "H18"


def test_every_condition_has_both_languages() -> None:
    for code in R.CONDITIONS:
        r = R.condition(code)
        assert r.sv and r.en and r.sv != code and r.rule
