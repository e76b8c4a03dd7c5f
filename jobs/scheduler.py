"""The scheduler: APScheduler with a persistent SQLAlchemy job store in the ledger's own database.

With several processes on one PostgreSQL database only the one holding an advisory lock schedules
(the leader); the others wait for the lock. SQLite has one writer process by construction.
"""

from __future__ import annotations

import time
import zlib
from contextlib import contextmanager

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import text

from jobs.definitions import CHAINER_INTERVAL_S, JOBS
from ledger.db import is_postgres, make_engine
from ledger.numbers import SHANGHAI

# Fixed key of the PostgreSQL advisory lock that elects the scheduling process.
LEADER_LOCK_KEY = 0x66756E6473636864  # "fundschd"
LEADER_RETRY_S = 5
JOB_STORE_TABLE = "apscheduler_jobs"


def build_scheduler(database_url: str, *, blocking: bool):
    engine = make_engine(database_url)
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
        id="seal-chain",
        replace_existing=True,
    )
    for name, spec in JOBS.items():
        scheduler.add_job(
            "jobs.definitions:scheduled_run", args=[database_url, name], id=name, replace_existing=True, **spec.trigger
        )
    return scheduler


@contextmanager
def leadership(database_url: str, *, wait: bool = True):
    """Hold the scheduler's advisory lock on PostgreSQL for as long as the block runs."""
    engine = make_engine(database_url)
    if not is_postgres(engine):
        yield True
        return
    # One leader per ledger: ledgers in different schemas of one database schedule independently.
    key = LEADER_LOCK_KEY ^ zlib.crc32((getattr(engine, "fundledger_schema", None) or "").encode())
    with engine.connect() as conn:
        while True:
            acquired = conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar()
            conn.commit()
            if acquired or not wait:
                break
            time.sleep(LEADER_RETRY_S)
        try:
            yield bool(acquired)
        finally:
            if acquired:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                conn.commit()
    engine.dispose()
