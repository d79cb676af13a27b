"""Schedule kinds, and the daylight-saving rules (pure: no store, no clock)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from legato.scheduling.errors import ScheduleError
from legato.scheduling.kinds import CronSchedule, IntervalSchedule, RRuleSchedule, build_schedule

NY = ZoneInfo("America/New_York")


def starts(schedule, after: datetime, n: int) -> list[datetime]:
    out = []
    for _ in range(n):
        after = schedule.next_after(after)
        out.append(after)
    return out


def local(moments, tz=NY):
    return [m.astimezone(tz).strftime("%m-%d %H:%M %Z") for m in moments]


def test_cron_in_a_timezone_runs_at_local_time():
    s = CronSchedule("0 0 * * *", "Europe/Paris")
    first = s.next_after(datetime(2026, 7, 1, 12, tzinfo=timezone.utc))
    assert first == datetime(2026, 7, 1, 22, tzinfo=timezone.utc)  # midnight CEST


def test_a_time_that_does_not_exist_runs_at_the_next_existing_time():
    # 2026-03-08: New York clocks jump from 02:00 to 03:00; 02:30 does not exist that day.
    s = CronSchedule("30 2 * * *", "America/New_York")
    got = starts(s, datetime(2026, 3, 7, 12, tzinfo=timezone.utc), 3)
    assert local(got) == ["03-08 03:00 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"]


def test_skipped_times_collapse_into_one_run():
    s = CronSchedule("*/20 * * * *", "America/New_York")
    got = starts(s, datetime(2026, 3, 8, 6, 30, tzinfo=timezone.utc), 4)  # from 01:30 EST
    assert local(got) == ["03-08 01:40 EST", "03-08 03:00 EDT", "03-08 03:20 EDT", "03-08 03:40 EDT"]


def test_a_time_that_occurs_twice_runs_once():
    # 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST; 01:30 happens twice.
    s = CronSchedule("30 1 * * *", "America/New_York")
    got = starts(s, datetime(2026, 10, 31, 12, tzinfo=timezone.utc), 2)
    assert local(got) == ["11-01 01:30 EDT", "11-02 01:30 EST"]
    every_half_hour = CronSchedule("*/30 * * * *", "America/New_York")
    got = starts(every_half_hour, datetime(2026, 11, 1, 4, 45, tzinfo=timezone.utc), 4)  # from 00:45 EDT
    assert local(got) == ["11-01 01:00 EDT", "11-01 01:30 EDT", "11-01 02:00 EST", "11-01 02:30 EST"]


def test_starting_inside_the_repeated_hour_does_not_rerun_its_first_pass():
    s = CronSchedule("*/30 * * * *", "America/New_York")
    inside = datetime(2026, 11, 1, 1, 10, tzinfo=NY).replace(fold=1).astimezone(timezone.utc)  # 01:10 EST
    assert local([s.next_after(inside)]) == ["11-01 02:00 EST"]


def test_rrule_follows_the_same_dst_rules():
    s = RRuleSchedule("FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0", "America/New_York")
    got = starts(s, datetime(2026, 3, 7, 12, tzinfo=timezone.utc), 2)
    assert local(got) == ["03-08 03:00 EDT", "03-09 02:30 EDT"]


def test_rrule_with_dtstart_and_count_ends():
    s = RRuleSchedule("DTSTART:20261201T000000\nRRULE:FREQ=DAILY;COUNT=2", "UTC")
    got = [s.next_after(datetime(2026, 11, 30, tzinfo=timezone.utc))]
    got.append(s.next_after(got[0]))
    assert got == [datetime(2026, 12, 1, tzinfo=timezone.utc), datetime(2026, 12, 2, tzinfo=timezone.utc)]
    assert s.next_after(got[1]) is None


def test_interval_with_an_anchor_is_absolute_time():
    anchor = datetime(2026, 3, 7, 0, 0, tzinfo=NY)
    s = IntervalSchedule(86400, anchor, "America/New_York")
    got = starts(s, datetime(2026, 3, 7, 12, tzinfo=timezone.utc), 2)
    assert local(got) == ["03-08 00:00 EST", "03-09 01:00 EDT"]  # 24 h later, the clock reads 01:00
    assert IntervalSchedule(timedelta(minutes=1)).seconds == 60


def test_interval_starts_are_strictly_after():
    s = IntervalSchedule(1)
    exact = datetime(2026, 12, 1, 0, 0, 5, tzinfo=timezone.utc)
    assert s.next_after(exact) == exact + timedelta(seconds=1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cron": "61 * * * *"},
        {"cron": "* * *"},
        {"rrule": "FREQ=SOMETIMES"},
        {"interval": 0},
        {"interval": -3},
        {"cron": "0 0 * * *", "timezone": "Mars/Olympus"},
        {},
        {"cron": "0 0 * * *", "interval": 5},
    ],
)
def test_bad_schedules_raise_schedule_error(kwargs):
    with pytest.raises(ScheduleError):
        build_schedule(**kwargs)
