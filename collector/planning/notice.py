"""The notice period (H6): a member who wants to attend remotely tells the chair and secretary at
least **five working days** before the meeting; the chair decides, also on shorter notice.

Working days are Monday to Friday that are not Swedish public holidays, from the ``holidays``
package's calendar for Sweden (``include_sundays=False``: it otherwise lists every Sunday), plus the
eves Swedish workplaces keep free by agreement (midsommarafton, julafton, nyårsafton), which that
calendar does not list.

Counting as "fem arbetsdagar före sammanträdet" is read: count back five working days from the
day before the meeting; a request on that day or earlier is on time. For a meeting on Monday the
14th that is Monday the 7th (Fri 11, Thu 10, Wed 9, Tue 8, Mon 7): a request on the 7th is on time,
one on Tuesday the 8th is late. Calendar days are Stockholm days.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NOTICE_WORKING_DAYS = 5  # H6


@lru_cache(maxsize=16)
def _swedish_holidays(year: int) -> frozenset[dt.date]:
    cal = holidays.country_holidays("SE", years=[year], include_sundays=False, language="sv")
    days = set(cal.keys())
    midsommardagen = next(d for d, name in cal.items() if name == "Midsommardagen")
    days |= {midsommardagen - dt.timedelta(days=1), dt.date(year, 12, 24), dt.date(year, 12, 31)}
    return frozenset(days)


def is_working_day(day: dt.date) -> bool:
    """Monday to Friday, and not a Swedish public holiday or a holiday eve."""
    return day.weekday() < 5 and day not in _swedish_holidays(day.year)


def working_days_before(request_day: dt.date, meeting_day: dt.date) -> int:
    """The working days from the request day (included) to the meeting day (excluded)."""
    count = 0
    day = request_day
    while day < meeting_day:
        count += is_working_day(day)
        day += dt.timedelta(days=1)
    return count


def latest_request_day(meeting_day: dt.date, working_days: int = NOTICE_WORKING_DAYS) -> dt.date:
    """The last day on which a request is on time: the ``working_days``-th working day counted back
    from the day before the meeting."""
    day = meeting_day
    found = 0
    while found < working_days:
        day -= dt.timedelta(days=1)
        found += is_working_day(day)
    return day


@dataclass(frozen=True, slots=True)
class NoticeStatus:
    requested_on: dt.date
    latest_on_time: dt.date
    working_days: int
    late: bool


def notice_status(requested_at: float, meeting_start: float) -> NoticeStatus:
    """Whether a request at ``requested_at`` (epoch s) for a meeting at ``meeting_start`` came in
    late (H6). Days are Stockholm calendar days."""
    req = dt.datetime.fromtimestamp(requested_at, STOCKHOLM).date()
    meet = dt.datetime.fromtimestamp(meeting_start, STOCKHOLM).date()
    days = working_days_before(req, meet)
    return NoticeStatus(req, latest_request_day(meet), days, days < NOTICE_WORKING_DAYS)
