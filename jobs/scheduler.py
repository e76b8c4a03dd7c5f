"""The scheduler: APScheduler with a persistent SQLAlchemy job store in the ledger's own database, each job
on its cron schedule (``jobs.config``, Asia/Shanghai).

Exactly one process schedules per ledger. On PostgreSQL it is the one holding an advisory lock (the
leader): the lock belongs to its database session, so when the process dies, even by kill -9, the server
drops the session and the lock with it, and a waiting process, trying every ``LEADER_RETRY_S``, takes over
within that time. On SQLite the leader holds an exclusive lock on a file beside the database
(``<file>.scheduler.lock``), which the operating system releases when it dies; a second scheduler on the
same file refuses to start, saying which process holds it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import Connection, bindparam, inspect, text
from sqlalchemy.engine import make_url

from jobs.config import JobsConfig, jobs_config
from jobs.definitions import CHAINER_INTERVAL_S, JOBS, SEAL_CHAIN, TimedRun
from ledger.db import is_postgres, make_engine
from ledger.numbers import SHANGHAI

log = logging.getLogger("fundledger.scheduler")

# Fixed key of the PostgreSQL advisory lock that elects the scheduling process.
LEADER_LOCK_KEY = 0x66756E6473636864  # "fundschd"
LEADER_RETRY_ENV = "FUNDLEDGER_LEADER_RETRY_S"
SCHEDULER_ENV = "FUNDLEDGER_SCHEDULER"  # "1": the API process runs the scheduler too (set by `fundledger serve`)
LEADER_RETRY_S = 5.0  # how often a follower tries the lock: the bound on a takeover after the leader dies
JOB_STORE_TABLE = "apscheduler_jobs"
SQLITE_LOCK_SUFFIX = ".scheduler.lock"


def leader_retry_s() -> float:
    return float(os.environ.get(LEADER_RETRY_ENV, LEADER_RETRY_S))


def build_scheduler(
    database_url: str,
    *,
    blocking: bool,
    config: JobsConfig | None = None,
    on_run: Callable[[str, TimedRun | None, BaseException | None], None] | None = None,
):
    """Every recorded job on its cron trigger, and the chainer every few seconds. ``on_run(job, run, error)``
    is called after each recorded job's run (``jobs schedule`` prints it)."""
    config = config or jobs_config()
    engine = make_engine(database_url)
    _forget_retired_jobs(engine)
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(
        timezone=SHANGHAI,
        jobstores={"default": SQLAlchemyJobStore(engine=engine, tablename=JOB_STORE_TABLE)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    scheduler.add_job(
        "jobs.definitions:scheduled_seal",
        trigger="interval",
        seconds=CHAINER_INTERVAL_S,
        args=[database_url],
        id=SEAL_CHAIN,
        replace_existing=True,
    )
    for name in JOBS:
        scheduler.add_job(
            "jobs.definitions:scheduled_run",
            trigger=config.trigger(name),
            args=[database_url, name],
            id=name,
            replace_existing=True,
        )
    if on_run is not None:

        def _listener(event) -> None:  # noqa: ANN001 - an APScheduler JobExecutionEvent
            if event.job_id in JOBS:
                on_run(event.job_id, getattr(event, "retval", None), event.exception)

        scheduler.add_listener(_listener, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
    return scheduler


def _forget_retired_jobs(engine) -> None:  # noqa: ANN001 - an Engine
    """Drop stored jobs this version no longer has (the store persists across upgrades): a job renamed or
    retired would otherwise fire for ever, failing each time."""
    known = [SEAL_CHAIN, *JOBS]
    with engine.begin() as conn:
        if not inspect(conn).has_table(JOB_STORE_TABLE):
            return
        conn.execute(
            text(f"DELETE FROM {JOB_STORE_TABLE} WHERE id NOT IN :known").bindparams(
                bindparam("known", expanding=True)
            ),
            {"known": known},
        )


@dataclass
class Leadership:
    """Whether this process leads the scheduling of one ledger, and if not, why."""

    leading: bool
    reason: str = ""
    _connection: Connection | None = None

    def __bool__(self) -> bool:
        return self.leading

    def still_leading(self) -> bool:
        """On PostgreSQL the lock lives as long as its session: a session gone (the server restarted, the
        network cut) is leadership lost, and the scheduler must stop."""
        if not self.leading or self._connection is None:
            return self.leading
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
            return True
        except Exception:  # noqa: BLE001 - any failure of the session is the loss of the lock
            return False


@contextmanager
def leadership(database_url: str, *, wait: bool = True, retry_s: float | None = None) -> Iterator[Leadership]:
    """Hold the scheduler's lock for as long as the block runs. PostgreSQL: wait for the advisory lock
    (``wait=False``: try once). SQLite: never wait; a lock held elsewhere is a refusal with its reason."""
    engine = make_engine(database_url)
    try:
        if is_postgres(engine):
            yield from _postgres_leadership(engine, wait, leader_retry_s() if retry_s is None else retry_s)
        else:
            yield from _sqlite_leadership(engine.url.database)
    finally:
        engine.dispose()


def _postgres_leadership(engine, wait: bool, retry_s: float) -> Iterator[Leadership]:  # noqa: ANN001
    # One leader per ledger: ledgers in different schemas of one database schedule independently.
    key = LEADER_LOCK_KEY ^ zlib.crc32((getattr(engine, "fundledger_schema", None) or "").encode())
    with engine.connect() as conn:
        while True:
            acquired = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
            conn.commit()
            if acquired or not wait:
                break
            time.sleep(retry_s)
        try:
            yield Leadership(acquired, "" if acquired else "another process holds the scheduler lock", conn)
        finally:
            if acquired:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    conn.commit()
                except Exception:  # noqa: BLE001 - a lost session has released the lock already
                    log.warning("scheduler lock: the session was gone at release")


def _sqlite_leadership(database: str | None) -> Iterator[Leadership]:
    if not database or database == ":memory:":
        yield Leadership(True)  # an in-memory database belongs to this process alone
        return
    path = Path(database).resolve().with_name(Path(database).name + SQLITE_LOCK_SUFFIX)
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the whole block
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            yield Leadership(False, f"a scheduler is already running on {database} ({holder} holds {path.name})")
            return
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield Leadership(True)
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def sqlite_database(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "sqlite"


class SchedulerService:
    """The scheduler inside ``fundledger serve``: a thread that becomes leader when it can, runs the
    scheduler while it leads, and stops it when it loses the lead or the server stops."""

    def __init__(self, database_url: str, *, retry_s: float | None = None) -> None:
        self.database_url = database_url
        self.retry_s = leader_retry_s() if retry_s is None else retry_s
        self.leading = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scheduler-leader", daemon=True)
        self._refusal_logged = False

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 10) -> None:
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._lead_once()
            except Exception:  # noqa: BLE001 - the database unreachable: try again later
                log.exception("scheduler: leadership attempt failed")
            self._stop.wait(self.retry_s)

    def _lead_once(self) -> None:
        with leadership(self.database_url, wait=False) as leader:
            if not leader:
                if not self._refusal_logged:
                    log.warning("scheduler not started in pid %d: %s", os.getpid(), leader.reason)
                    self._refusal_logged = True
                return
            scheduler = build_scheduler(self.database_url, blocking=False)
            scheduler.start()
            self.leading.set()
            log.warning("scheduler: pid %d leads", os.getpid())
            try:
                while not self._stop.wait(self.retry_s):
                    if not leader.still_leading():
                        log.warning("scheduler: pid %d lost the lead", os.getpid())
                        break
            finally:
                self.leading.clear()
                scheduler.shutdown(wait=False)
