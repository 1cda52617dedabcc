"""The deadline to answer a request for help, as versioned rule data.

Each rule version of `national.toml` may carry `[version.request]` with a
`deadline` ({days = n} or {working_days = n}); the version in effect on the
day a request is filed sets its deadline, counted from the filing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources

from emergency.clock import VIETNAM
from emergency.policy.calendar import HolidayCalendar
from emergency.policy.rules import PolicyError


@dataclass(frozen=True)
class RequestRule:
    version_id: str
    effective_from: date
    deadline: dict[str, int]
    confirmed: bool


class RequestDeadlines:
    def __init__(self, rules: list[RequestRule], calendar: HolidayCalendar):
        if not rules:
            raise PolicyError("no rule version sets a deadline for requests for help ([version.request])")
        for rule in rules:
            if len(rule.deadline) != 1 or next(iter(rule.deadline)) not in ("days", "working_days"):
                raise PolicyError(f"rule version {rule.version_id}, request: deadline must be "
                                  "{days = n} or {working_days = n}")
        self.rules = sorted(rules, key=lambda r: r.effective_from)
        self.calendar = calendar

    def rule_on(self, day: date) -> RequestRule:
        found = [r for r in self.rules if r.effective_from <= day]
        if not found:
            raise PolicyError(f"no request deadline is in effect on {day}")
        return found[-1]

    def due_at(self, filed_at: datetime) -> tuple[datetime, RequestRule]:
        """When a request filed at `filed_at` must be answered, and the rule that says so."""
        rule = self.rule_on(filed_at.astimezone(VIETNAM).date())
        return self.calendar.due_at(filed_at, rule.deadline), rule


def load_request_deadlines(calendar: HolidayCalendar) -> RequestDeadlines:
    national = tomllib.loads(resources.files("emergency.policy").joinpath("national.toml").read_text("utf-8"))
    rules = [RequestRule(v["id"], v["effective_from"], dict(v["request"]["deadline"]),
                         bool(v["request"].get("deadline_confirmed", True)))
             for v in national["version"] if "request" in v]
    return RequestDeadlines(rules, calendar)
