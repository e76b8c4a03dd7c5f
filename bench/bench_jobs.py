"""The scheduled jobs' heavy reads over the 1M-transaction journal plus the domain world: ``reconcile`` with the
control accounts, and the limit-breach scan, each the best of ``--repeat`` runs (default 3), in process.

    .venv/bin/python bench/bench_reports.py --db /tmp/h15bench/reports-1m.db --repeat 1      # the 1M journal
    cp /tmp/h15bench/reports-1m.db /tmp/h15bench/reports-1m-world.db
    .venv/bin/python bench/bench_reports.py --db /tmp/h15bench/reports-1m-world.db --world 10000 --skip-core
    .venv/bin/python bench/bench_jobs.py --db /tmp/h15bench/reports-1m-world.db

The database is one ``bench_reports.py --world N`` built (bench/generate.py's journal, seeded, and
bench/generate_world.py's world: N institutions, 5 subsidy programs, voucher programs in 3 regions, a guidance
fund with 30 sub-funds, a risk pool); it is migrated to this version first (idempotent). ``--url`` reads any
database instead (PostgreSQL: ``?schema=NAME`` of a schema holding them). ``--postgres-url URL`` builds both
in a fresh schema ``bench_<random>`` of that database (``--transactions``, ``--world``; ``--csv`` reuses a
generated journal), measures, and drops the schema:

    .venv/bin/python bench/bench_jobs.py --postgres-url postgresql://postgres@127.0.0.1:5432/test \
        --csv bench/data/journal-1m.csv

Timed, each beside its peer in the same run:

- ``reconcile_core``: ``ledger.queries.reconcile`` (cached balances, month totals, every book balances): the
  issue's "core alone", the peer of the next;
- ``reconcile_controls``: every domain's control-account reconciliation (``jobs.audit.reconcile_domains``);
- ``reconcile_with_controls``: both side by side (``jobs.audit.reconcile_with_controls``, as the reconcile job
  runs them beside the hash chain; target < 3 s over 2.2M postings);
- ``reconcile_job_audit``: the reconcile job's whole audit (``jobs.audit.audit_all``: the hash chain too), for
  reference (the chain's own target is verify's, < 10 s);
- ``breach_scan``: the scan over every rule (``jobs.scan.breach_scan``; target < 5 s), and each domain's part
  on its own (``breach_scan_parts``) to show where the time goes.

The checks must hold: reconcile finds nothing in a generated world.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_SEED, emit, file_size_mib, log, machine, postgres_schema, scratch_dir, sqlite_url  # noqa: E402

TARGET_RECONCILE_S = 3.0
TARGET_BREACH_SCAN_S = 5.0
SCAN_AT = datetime(2026, 12, 15, 19, 0, tzinfo=UTC)  # 03:00 on 16 December in Shanghai, the scan's default hour


def best_of(repeat: int, action) -> tuple[float, list[float], object]:  # noqa: ANN001 - a callable
    times, value = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - started)
    return min(times), times, value


def breach_scan_parts(ledger, today: date, config) -> dict:  # noqa: ANN001 - a Ledger and a JobsConfig
    """Each domain's part of the scan, timed alone (the scan itself calls these in turn)."""
    from funds.checks import ScanThresholds as FundThresholds
    from funds.checks import scan_funds
    from jobs.monitors import monitor_findings
    from subsidies.audit import breach_scan as subsidy_breaches
    from subsidies.service import SubsidyService
    from vouchers.scan import ScanThresholds as VoucherThresholds
    from vouchers.scan import scan_vouchers

    thresholds = config.thresholds
    parts = {
        "subsidies": lambda: subsidy_breaches(SubsidyService(ledger)),
        "funds": lambda: scan_funds(
            ledger,
            today,
            FundThresholds(
                pool_remaining_min=thresholds.ratio("pool_remaining_min"),
                bank_annual_cap_near=thresholds.ratio("bank_annual_cap_near"),
            ),
        ),
        "vouchers": lambda: scan_vouchers(
            ledger,
            today,
            VoucherThresholds(
                budget_granted_near=thresholds.ratio("voucher_budget_granted_near"),
                quota_use_by_warning_days=thresholds.quota_use_by_warning_days,
            ),
        ),
        "monitors": lambda: monitor_findings(ledger, today),
    }
    timings = {}
    for name, action in parts.items():
        started = time.perf_counter()
        found = action()
        timings[name] = {"s": round(time.perf_counter() - started, 3), "findings": len(found)}
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--db", type=Path, help="SQLite file built by bench_reports.py --world N (kept)")
    target.add_argument("--url", help="database URL of such a database (PostgreSQL: ?schema=NAME)")
    target.add_argument("--postgres-url", help="build the journal and the world in a fresh schema here, then drop it")
    parser.add_argument("--transactions", type=int, default=1_000_000, help="journal size when building")
    parser.add_argument("--world", type=int, default=10_000, help="institutions of the world when building")
    parser.add_argument("--csv", type=Path, help="build from this journal (bench/generate.py) instead of generating")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the best counts (default 3)")
    parser.add_argument("--skip-audit", action="store_true", help="leave out the whole audit (hash chain included)")
    args = parser.parse_args()

    from ledger.db import make_engine

    if args.db is not None and not args.db.exists():
        parser.error(f"{args.db} does not exist: build it with bench_reports.py --db {args.db} --world N")
    if args.postgres_url:
        with scratch_dir(None) as scratch, postgres_schema(args.postgres_url) as url:
            from bench_reports import build
            from generate_world import generate_world

            built = build(url, args.transactions, args.seed, scratch, args.csv)
            log(f"building the domain world ({args.world} institutions)")
            built["world"] = generate_world(url, args.world, args.seed)
            with make_engine(url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")  # as autovacuum would, after the world's writes
            measure(args, url, built)
        return
    measure(args, sqlite_url(args.db) if args.db else args.url, {})


def measure(args, url: str, built: dict) -> None:  # noqa: ANN001 - the parsed arguments
    from api.bootstrap import migrate
    from jobs.audit import audit_all, reconcile_domains, reconcile_with_controls
    from jobs.config import JobsConfig
    from jobs.scan import breach_scan
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.numbers import SHANGHAI
    from ledger.queries import reconcile

    engine = make_engine(url)
    migrate(engine)  # the world may predate this version's tables; upgrading is idempotent
    ledger = Ledger(engine)
    result: dict = {
        "benchmark": "jobs",
        "machine": machine(),
        "repeat": args.repeat,
        "backend": engine.dialect.name,
        "db_mib": file_size_mib(args.db) if args.db else None,
        **built,
    }
    with engine.connect() as conn:
        count = conn.exec_driver_sql
        for table in ("transactions", "postings", "accounts", "subsidies_grants", "vouchers_redemptions"):
            result[table] = count(f"SELECT COUNT(*) FROM {table}").scalar_one()
    log(f"{result['transactions']} transactions, {result['postings']} postings, {result['accounts']} accounts")

    config = JobsConfig()
    today = SCAN_AT.astimezone(SHANGHAI).date()
    cases = [
        ("reconcile_core", lambda: reconcile(engine), None),
        ("reconcile_controls", lambda: reconcile_domains(engine), None),
        ("reconcile_with_controls", lambda: reconcile_with_controls(engine), TARGET_RECONCILE_S),
        ("breach_scan", lambda: breach_scan(ledger, SCAN_AT, config), TARGET_BREACH_SCAN_S),
    ]
    if not args.skip_audit:
        cases.append(("reconcile_job_audit", lambda: audit_all(engine), None))
    timings, values = {}, {}
    for name, action, target_s in cases:
        log(f"{name} x{args.repeat}")
        best, times, value = best_of(args.repeat, action)
        values[name] = value
        timings[name] = {"best_s": round(best, 3), "runs_s": [round(t, 3) for t in times]}
        if target_s is not None:
            timings[name]["target_s"] = target_s
    timings["reconcile_with_controls"]["peer"] = "reconcile_core"
    log("breach scan, part by part")
    result["breach_scan_parts"] = breach_scan_parts(ledger, today, config)
    core, controls = values["reconcile_with_controls"]
    scan = values["breach_scan"]
    result["timings"] = timings
    result["checks"] = {
        "reconcile_findings": len(core),
        "control_findings": len(controls),
        "breach_scan_findings": len(scan.findings),
        "breach_scan_counts": scan.counts,
        "audit_clean": values["reconcile_job_audit"].clean if "reconcile_job_audit" in values else None,
    }
    engine.dispose()
    emit(
        result,
        f"reconcile with controls {timings['reconcile_with_controls']['best_s']} s "
        f"(core alone {timings['reconcile_core']['best_s']} s, target {TARGET_RECONCILE_S} s); breach scan "
        f"{timings['breach_scan']['best_s']} s (target {TARGET_BREACH_SCAN_S} s) over {result['postings']} postings",
    )


if __name__ == "__main__":
    main()
