"""Quota days: midnight America/Los_Angeles, 23 or 25 hours long across DST changes."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from connectors.youtube.quota import (
    VIDEOS_INSERT_UNITS,
    QuotaBudget,
    next_quota_day_start,
    quota_day,
    quota_day_start,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_quota_day_is_a_pacific_date() -> None:
    # 07:59 UTC on 15 Jan is 23:59 PST on 14 Jan; 08:00 UTC is midnight PST.
    assert quota_day(utc(2025, 1, 15, 7, 59)) == date(2025, 1, 14)
    assert quota_day(utc(2025, 1, 15, 8, 0)) == date(2025, 1, 15)
    # In summer (PDT, UTC-7) the day turns an hour earlier in UTC.
    assert quota_day(utc(2025, 7, 15, 6, 59)) == date(2025, 7, 14)
    assert quota_day(utc(2025, 7, 15, 7, 0)) == date(2025, 7, 15)


def test_next_day_start_in_winter_and_summer() -> None:
    assert next_quota_day_start(utc(2025, 1, 15, 12)) == utc(2025, 1, 16, 8)
    assert next_quota_day_start(utc(2025, 7, 15, 12)) == utc(2025, 7, 16, 7)


def test_the_spring_forward_day_has_23_hours() -> None:
    # DST began on 9 March 2025 at 02:00 PST.
    start = quota_day_start(date(2025, 3, 9))
    assert start == utc(2025, 3, 9, 8)
    assert next_quota_day_start(start) == utc(2025, 3, 10, 7)
    assert next_quota_day_start(start) - start == timedelta(hours=23)


def test_the_fall_back_day_has_25_hours() -> None:
    # DST ended on 2 November 2025 at 02:00 PDT; 01:30 happens twice that night.
    start = quota_day_start(date(2025, 11, 2))
    assert start == utc(2025, 11, 2, 7)
    assert next_quota_day_start(start) == utc(2025, 11, 3, 8)
    assert next_quota_day_start(start) - start == timedelta(hours=25)
    both_half_past_one = [utc(2025, 11, 2, 8, 30), utc(2025, 11, 2, 9, 30)]
    assert {quota_day(t) for t in both_half_past_one} == {date(2025, 11, 2)}


def test_the_last_instant_of_a_day_belongs_to_it() -> None:
    end = next_quota_day_start(utc(2025, 3, 9, 12))
    assert quota_day(end - timedelta(microseconds=1)) == date(2025, 3, 9)
    assert quota_day(end) == date(2025, 3, 10)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        quota_day(datetime(2025, 1, 1, 12))  # naive on purpose


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_a_full_budget_returns_the_next_day_and_records_nothing(tmp_path: Path) -> None:
    clock = Clock(utc(2025, 3, 9, 20))  # 13:00 PDT on the 23-hour day
    budget = QuotaBudget(tmp_path / "quota.db", daily_units=2 * VIDEOS_INSERT_UNITS, clock=clock)

    assert budget.reserve(VIDEOS_INSERT_UNITS) is None
    assert budget.reserve(VIDEOS_INSERT_UNITS) is None
    assert budget.reserve(1) == utc(2025, 3, 10, 7)
    assert budget.used(date(2025, 3, 9)) == 2 * VIDEOS_INSERT_UNITS

    clock.now = utc(2025, 3, 10, 7)
    assert budget.reserve(VIDEOS_INSERT_UNITS) is None
    assert budget.used(date(2025, 3, 10)) == VIDEOS_INSERT_UNITS


def test_exhaust_fills_today_only(tmp_path: Path) -> None:
    clock = Clock(utc(2025, 1, 15, 12))
    budget = QuotaBudget(tmp_path / "quota.db", clock=clock)

    assert budget.exhaust() == utc(2025, 1, 16, 8)
    assert budget.reserve(1) == utc(2025, 1, 16, 8)
    clock.now = utc(2025, 1, 16, 8)
    assert budget.reserve(1) is None


def test_budget_is_shared_through_the_file(tmp_path: Path) -> None:
    clock = Clock(utc(2025, 1, 15, 12))
    first = QuotaBudget(tmp_path / "quota.db", daily_units=VIDEOS_INSERT_UNITS, clock=clock)
    second = QuotaBudget(tmp_path / "quota.db", daily_units=VIDEOS_INSERT_UNITS, clock=clock)

    assert first.reserve(VIDEOS_INSERT_UNITS) is None
    assert second.reserve(VIDEOS_INSERT_UNITS) == utc(2025, 1, 16, 8)
