"""Configuration of the scheduled jobs: when each runs (cron expressions, Asia/Shanghai), how a failing run
is retried, and the scan's "nearly reached" thresholds. Defaults below; a TOML file named by
``FUNDLEDGER_JOBS_CONFIG`` overrides any of them::

    [schedules]
    breach-scan = "30 3 * * *"      # minute hour day month weekday, Asia/Shanghai

    [thresholds]
    pool_remaining_min = "20%"

    [retry]
    attempts = 3
    backoff_s = 30

    [settlement]
    approver = "settlement-office"   # without one the job reports the pairs due and settles nothing

    [analytics]
    directory = "/var/lib/fundledger/exports"

Ratios are exact ("20%", "9/10"), never floats.
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ledger.errors import LedgerError, ResultCode
from ledger.numbers import SHANGHAI, parse_ratio

JOBS_CONFIG_ENV = "FUNDLEDGER_JOBS_CONFIG"
RETRY_ATTEMPTS_MAX = 10
RETRY_BACKOFF_MAX_S = 3600

# When each job runs by default. Nightly work after midnight in Shanghai, in an order that lets each use the
# last: vouchers expire, the books are reconciled, then the breach scan reads the reconciled state.
DEFAULT_SCHEDULES = {
    "expire-pending": "* * * * *",
    "balance-snapshots": "15 0 * * *",  # the day before's closing balances, once it is over
    "voucher-expiry": "30 0 * * *",
    "reconcile": "0 2 * * *",
    "breach-scan": "0 3 * * *",
    "settlement": "0 4 1 * *",  # the month before, on the 1st
    "year-end": "0 5 1 1 *",  # the year before, on 1 January
    "analytics-export": "30 5 1 * *",  # the month before, on the 1st
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _exact_ratio(text: str) -> str:
    ratio = parse_ratio(text)
    if not 0 < ratio <= 1:
        raise ValueError(f"{text!r} must be above 0 and at most 100%")
    return text


class Thresholds(_Strict):
    """When a limit counts as nearly reached (operating settings of the scan, not policy numbers)."""

    pool_remaining_min: str = "20%"  # a risk pool holding less than this share of what was paid in
    bank_annual_cap_near: str = "90%"  # a bank's compensation in a year reaching this share of its cap
    voucher_budget_granted_near: str = "90%"  # a voucher program having granted this share of its budget
    quota_use_by_warning_days: int = Field(default=30, ge=0, le=366)  # unused quota this close to use-by

    @field_validator("pool_remaining_min", "bank_annual_cap_near", "voucher_budget_granted_near")
    @classmethod
    def _exact_ratios(cls, value: str) -> str:
        return _exact_ratio(value)

    def ratio(self, name: str) -> Fraction:
        return parse_ratio(getattr(self, name))


class Retry(_Strict):
    """A failed run is tried again ``attempts`` times in all, waiting backoff_s, then twice that, and so on."""

    attempts: int = Field(default=3, ge=1, le=RETRY_ATTEMPTS_MAX)
    backoff_s: float = Field(default=30, ge=0, le=RETRY_BACKOFF_MAX_S)

    def delays_s(self) -> list[float]:
        return [self.backoff_s * 2**attempt for attempt in range(self.attempts - 1)]


class Settlement(_Strict):
    """Who approves the monthly inter-region settlements the job records (maker-checker: the job is the
    maker). Without an approver the job only reports the pairs due, as alerts, and settles nothing."""

    approver: str | None = Field(default=None, min_length=1, max_length=100)
    approval_doc: str | None = Field(default=None, max_length=200)


class Analytics(_Strict):
    """Where the analytics export writes a directory per period (relative: to the scheduler's directory)."""

    directory: str = Field(default="analytics-exports", min_length=1, max_length=1000)


class JobsConfig(_Strict):
    schedules: dict[str, str] = Field(default_factory=dict)  # overrides of DEFAULT_SCHEDULES
    thresholds: Thresholds = Thresholds()
    retry: Retry = Retry()
    settlement: Settlement = Settlement()
    analytics: Analytics = Analytics()

    @field_validator("schedules")
    @classmethod
    def _known_jobs_and_valid_cron(cls, schedules: dict[str, str]) -> dict[str, str]:
        for name, expression in schedules.items():
            if name not in DEFAULT_SCHEDULES:
                raise ValueError(f"no job {name!r} to schedule; known: {', '.join(DEFAULT_SCHEDULES)}")
            cron_trigger(expression)
        return schedules

    def schedule(self, name: str) -> str:
        return self.schedules.get(name, DEFAULT_SCHEDULES[name])

    def trigger(self, name: str) -> CronTrigger:
        return cron_trigger(self.schedule(name))

    def next_run(self, name: str, after: datetime) -> datetime | None:
        return self.trigger(name).get_next_fire_time(None, after.astimezone(SHANGHAI))


CRON_WEEKDAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # cron: 0 and 7 are Sunday


def _cron_weekdays(field: str) -> str:
    """A cron weekday field in names: APScheduler numbers weekdays from Monday = 0, cron from Sunday = 0,
    so "1-5" must reach it as Monday to Friday, not Tuesday to Saturday."""
    if not any(character.isdigit() for character in field):
        return field
    days: set[int] = set()
    for part in field.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            first, last = (int(bound) for bound in span.split("-", 1))
        else:
            first = last = int(span)
        if not (0 <= first <= last <= 7 and step >= 1):
            raise ValueError(f"weekday field {field!r}: days run 0-7 (0 and 7: Sunday)")
        days.update(day % 7 for day in range(first, last + 1, step))
    return ",".join(CRON_WEEKDAY_NAMES[day] for day in sorted(days))


def cron_trigger(expression: str) -> CronTrigger:
    """A standard five-field cron expression (minute hour day month weekday), Asia/Shanghai."""
    fields = expression.split()
    try:
        if len(fields) != 5:
            raise ValueError("five fields: minute hour day month weekday")
        minute, hour, day, month, weekday = fields
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=_cron_weekdays(weekday), timezone=SHANGHAI
        )
    except ValueError as error:
        raise ValueError(f"cron expression {expression!r}: {error}") from error


def parse_jobs_config(text: str) -> JobsConfig:
    try:
        return JobsConfig.model_validate(tomllib.loads(text))
    except (tomllib.TOMLDecodeError, ValidationError) as error:
        message = " ".join(str(error).split())
        raise LedgerError(ResultCode.FILE_INVALID, f"jobs configuration: {message}") from None


@lru_cache(maxsize=4)
def _load(path: str, modified_ns: int) -> JobsConfig:  # modified_ns: a changed file is read again
    return parse_jobs_config(Path(path).read_text(encoding="utf-8"))


def jobs_config() -> JobsConfig:
    """The configuration in effect: the file named by FUNDLEDGER_JOBS_CONFIG, or the defaults."""
    path = os.environ.get(JOBS_CONFIG_ENV)
    if not path:
        return JobsConfig()
    file = Path(path)
    if not file.is_file():
        raise LedgerError(ResultCode.FILE_INVALID, f"{JOBS_CONFIG_ENV}={path} is not a file")
    return _load(str(file.resolve()), file.stat().st_mtime_ns)
