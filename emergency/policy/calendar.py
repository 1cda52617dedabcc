"""Deadlines in calendar days or working days (weekends and holidays skipped)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from emergency.clock import VIETNAM


@dataclass(frozen=True)
class HolidayCalendar:
    holidays: frozenset[date]

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and day not in self.holidays

    def add_working_days(self, start: datetime, count: int) -> datetime:
        """The same local time of day, `count` working days after `start`.

        Counted in Vietnam local dates: a need recorded on Friday evening with
        a 3-working-day deadline is due on Wednesday evening.
        """
        local = start.astimezone(VIETNAM)
        day = local.date()
        remaining = count
        while remaining > 0:
            day += timedelta(days=1)
            if self.is_working_day(day):
                remaining -= 1
        due_local = datetime.combine(day, local.timetz())
        return due_local.astimezone(start.tzinfo)

    def due_at(self, start: datetime, deadline: dict[str, int]) -> datetime:
        """Apply a deadline rule `{"days": n}` or `{"working_days": n}`."""
        if "working_days" in deadline:
            return self.add_working_days(start, deadline["working_days"])
        return start + timedelta(days=deadline["days"])
