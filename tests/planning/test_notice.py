"""H6: five working days' notice, Swedish holidays and eves included."""

import datetime as dt

from collector.planning.notice import STOCKHOLM, is_working_day, latest_request_day, notice_status, working_days_before


def epoch(y: int, m: int, d: int, h: int = 12) -> float:
    return dt.datetime(y, m, d, h, tzinfo=STOCKHOLM).timestamp()


def test_a_plain_week_counts_back_five_working_days() -> None:
    # meeting Monday 2026-11-16: on time until Monday 2026-11-09
    assert latest_request_day(dt.date(2026, 11, 16)) == dt.date(2026, 11, 9)
    assert not notice_status(epoch(2026, 11, 9), epoch(2026, 11, 16, 9)).late
    late = notice_status(epoch(2026, 11, 10), epoch(2026, 11, 16, 9))
    assert late.late and late.working_days == 4


def test_a_weekend_request_counts_from_the_next_working_day() -> None:
    assert working_days_before(dt.date(2026, 11, 8), dt.date(2026, 11, 16)) == 5  # Sun 8th -> Mon–Fri


def test_public_holidays_and_the_eves_are_not_working_days() -> None:
    assert not is_working_day(dt.date(2026, 6, 19))  # midsommarafton (Friday)
    assert not is_working_day(dt.date(2026, 12, 24))  # julafton
    assert not is_working_day(dt.date(2026, 12, 31))  # nyårsafton
    assert not is_working_day(dt.date(2026, 5, 14))  # Kristi himmelsfärdsdag
    assert is_working_day(dt.date(2026, 12, 23))
    # a meeting Monday 2027-01-04, counted back: Fri 1 Jan (holiday), Thu 31 (eve), Wed 30 (1), Tue 29 (2),
    # Mon 28 (3), Sat 26/Fri 25 (holidays), Thu 24 (eve), Wed 23 (4), Tue 22 (5)
    assert latest_request_day(dt.date(2027, 1, 4)) == dt.date(2026, 12, 22)
    assert not notice_status(epoch(2026, 12, 22), epoch(2027, 1, 4, 9)).late
    assert notice_status(epoch(2026, 12, 23), epoch(2027, 1, 4, 9)).late
