"""Report and audit queries over a large journal (SQLite, or PostgreSQL with ``--postgres-url``): trial
balance (as of a date, and current), ``verify_chain`` and ``reconcile``, each the best of ``--repeat`` runs
(default 3).

    .venv/bin/python bench/bench_reports.py --db bench/data/reports-1m.db   # builds it once, then reuses it
    .venv/bin/python bench/bench_reports.py --csv bench/data/journal-1m.csv \
        --postgres-url postgresql://postgres@127.0.0.1:5432/test            # builds in a schema, drops it

The database is the 1,000,000-transaction journal of bench/generate.py (fixed seed, ~2.2M postings)
imported with ``import_csv`` and sealed. With ``--db PATH`` it is built there if missing and kept for
later runs (a build takes minutes; delete the file to rebuild); without ``--db`` it is built in a scratch
directory and removed at the end. Targets: trial balance as of a date < 1 s; verify < 10 s over 2.2M
postings. The checks (chain intact, nothing unsealed, reconcile == []) must hold.

With ``--world N`` the domain world of bench/generate_world.py (N institutions, 5 subsidy programs, voucher
programs in 3 regions, a guidance fund with 30 sub-funds, a risk pool) is built into the same database
(once; a database that has it is reused) and every DuckDB report of the analytics layer is timed, in
process, reading the live database, each beside its peer measured in the same run: the same figures from
the ledger's own queries or the domain services (plain SQL on the database), and the per-period analytics
export on its own. Target: each report < 0.5 s. ``--skip-core`` leaves out verify_chain and reconcile.

    .venv/bin/python bench/bench_reports.py --db bench/data/reports-1m.db --world 2000 --skip-core
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    DEFAULT_SEED,
    emit,
    file_size_mib,
    log,
    machine,
    postgres_schema,
    remove_sqlite,
    scratch_dir,
    sqlite_url,
)

BOOK = "main"
TARGET_REPORT_S = 0.5
EXPORT_PERIOD = "2026-03"
WORLD_MARKER_PROGRAM = "bench-income-award"
AS_OF = date(2026, 6, 30)  # the generator spreads the journal over 2026: mid-year
TARGET_TRIAL_BALANCE_AS_OF_S = 1.0
TARGET_VERIFY_S = 10.0


def build(url: str, transactions: int, seed: int, scratch: Path, csv_path: Path | None) -> dict:
    from generate import generate

    from api.bootstrap import migrate
    from ledger.chain import seal
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.importer import import_csv

    keep_csv = csv_path is not None and csv_path.exists()
    if keep_csv:
        log(f"building from {csv_path}")
    else:
        csv_path = scratch / f"journal-{transactions}-{seed}.csv"
        log(f"building: generating {transactions} transactions (seed {seed})")
        generate(csv_path, transactions, seed)
    engine = make_engine(url)
    migrate(engine)
    ledger = Ledger(engine)
    ledger.create_book(BOOK, BOOK, "financial")
    started = time.perf_counter()
    log("importing")
    report = import_csv(ledger, csv_path, book=BOOK, create_accounts=True)
    log(f"imported {report.posted} transactions; sealing")
    seal(engine)
    if engine.dialect.name == "postgresql":
        # What autovacuum does to a table at rest: statistics, and the visibility map index-only scans need.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    if not keep_csv:
        csv_path.unlink()
    if report.errors_total:
        raise SystemExit(f"import refused {report.errors_total} transactions: {report.errors[:3]}")
    return {"built": True, "build_s": round(time.perf_counter() - started, 1)}


def best_of(repeat: int, action) -> tuple[float, list[float], object]:
    times = []
    value = None
    for _ in range(repeat):
        started = time.perf_counter()
        value = action()
        times.append(time.perf_counter() - started)
    return min(times), times, value


def _has_world(engine) -> bool:
    from sqlalchemy import inspect, select

    from subsidies.models import PROGRAMS

    if not inspect(engine).has_table(PROGRAMS.name):
        return False
    with engine.connect() as conn:
        found = conn.execute(select(PROGRAMS.c.id).where(PROGRAMS.c.code == WORLD_MARKER_PROGRAM)).first()
    return found is not None


def _peer_month_history(engine) -> list:
    """balance_history's peer: the same window over the month totals, in plain SQL on the database."""
    from sqlalchemy import text

    sql = text(
        "SELECT m.account_id, m.period, m.debits_fen, m.credits_fen, "
        "sum(m.debits_fen - m.credits_fen) OVER (PARTITION BY m.account_id ORDER BY m.period) AS closing "
        "FROM account_month_totals m JOIN accounts a ON a.id = m.account_id "
        "WHERE a.path LIKE 'Assets:%' AND (m.debits_fen <> 0 OR m.credits_fen <> 0) ORDER BY m.account_id, m.period"
    )
    with engine.connect() as conn:
        return conn.execute(sql).all()


def _peer_flows(engine) -> list:
    """cross_region_flows' peer: the same grouping in plain SQL on the database (SQLAlchemy Core)."""
    from sqlalchemy import String, cast, func, select

    from ledger.engine import T_ACCOUNTS, T_BOOKS, T_POSTINGS, T_TRANSACTIONS

    month = func.substr(cast(T_POSTINGS.c.effective_date, String), 1, 7)
    query = (
        select(T_BOOKS.c.code, T_ACCOUNTS.c.path, month, T_TRANSACTIONS.c.kind, func.sum(T_POSTINGS.c.amount_fen))
        .join(T_ACCOUNTS, T_ACCOUNTS.c.id == T_POSTINGS.c.account_id)
        .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
        .join(T_TRANSACTIONS, T_TRANSACTIONS.c.id == T_POSTINGS.c.transaction_id)
        .where(T_POSTINGS.c.pending.is_(False), T_ACCOUNTS.c.path.like("Liabilities:Payable:InterRegion:%"))
        .group_by(T_BOOKS.c.code, T_ACCOUNTS.c.path, month, T_TRANSACTIONS.c.kind)
    )
    with engine.connect() as conn:
        return conn.execute(query).all()


def domain_report_cases(ledger, as_of: date, scratch: Path) -> list[tuple[str, object, object]]:
    """(name, the DuckDB report, its peer or None) for every report of the analytics layer."""
    import itertools

    from sqlalchemy import select

    from funds.guidance import T_SUBFUNDS
    from funds.metrics import subfund_metrics
    from funds.pools import RiskPools
    from funds.reports import pool_statements, subfund_metrics_over_time
    from jobs.analytics_export import export_analytics
    from ledger.analytics import balance_history, trial_balance_live
    from ledger.queries import trial_balance
    from subsidies.audit import institution_year_report, program_report
    from subsidies.reports import budget_execution, installed_programs, subsidies_by_institution
    from subsidies.service import SubsidyService
    from vouchers.analytics import cross_region_flows, voucher_usage
    from vouchers.models import VoucherGrant
    from vouchers.views import enterprise_positions

    engine = ledger.engine
    programs = [program.code for program in installed_programs(engine)]
    service = SubsidyService(ledger)
    with engine.connect() as conn:
        enterprises = conn.execute(select(VoucherGrant.__table__.c.enterprise_code).distinct()).scalars().all()
        subfunds = conn.execute(select(T_SUBFUNDS.c.code)).scalars().all()
    month_ends = [date(2026, month + 1, 1) - timedelta(days=1) for month in range(1, 12)] + [date(2026, 12, 31)]
    pools = RiskPools(ledger)
    exports = itertools.count()
    return [
        ("trial_balance_as_of", lambda: trial_balance_live(engine, as_of), lambda: trial_balance(ledger, as_of=as_of)),
        ("trial_balance_current", lambda: trial_balance_live(engine), lambda: trial_balance(ledger)),
        (
            "balance_history_assets",
            lambda: balance_history(engine, prefix="Assets:"),
            lambda: _peer_month_history(engine),
        ),
        (
            "subsidies_by_institution",
            lambda: subsidies_by_institution(engine),
            lambda: [institution_year_report(service, code) for code in programs],
        ),
        (
            "budget_execution",
            lambda: budget_execution(engine),
            lambda: [program_report(service, code) for code in programs],
        ),
        (
            "voucher_usage",
            lambda: voucher_usage(engine),
            lambda: [enterprise_positions(ledger, enterprise) for enterprise in enterprises],
        ),
        ("cross_region_flows", lambda: cross_region_flows(engine), lambda: _peer_flows(engine)),
        (
            "subfund_metrics_12_month_ends",
            lambda: subfund_metrics_over_time(engine, first_period="2026-01", last_period="2026-12"),
            lambda: [subfund_metrics(ledger, code, day) for code in subfunds for day in month_ends],
        ),
        (
            "pool_statements",
            lambda: pool_statements(engine),
            lambda: [pools.funder_statement(code) for code in ("bench-pool",)],
        ),
        (
            f"export_analytics_{EXPORT_PERIOD}",
            lambda: export_analytics(engine, EXPORT_PERIOD, scratch / f"export-{next(exports)}"),
            None,
        ),
    ]


def measure_domain_reports(ledger, as_of: date, repeat: int, scratch: Path) -> dict:
    timings = {}
    for name, ours, peer in domain_report_cases(ledger, as_of, scratch):
        log(f"{name} x{repeat}")
        best, times, value = best_of(repeat, ours)
        entry = {"best_s": round(best, 3), "runs_s": [round(t, 3) for t in times]}
        if isinstance(value, list):
            entry["rows"] = len(value)
        if peer is not None:
            peer_best, peer_times, _ = best_of(repeat, peer)
            entry["peer_best_s"] = round(peer_best, 3)
        if not name.startswith("export"):
            entry["target_s"] = TARGET_REPORT_S
        timings[name] = entry
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, help="SQLite file to reuse (built there if missing, then kept)")
    parser.add_argument("--transactions", type=int, default=1_000_000, help="journal size when building")
    parser.add_argument(
        "--csv", type=Path, help="build from this existing journal (e.g. bench_import.py --csv) instead of generating"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--repeat", type=int, default=3, help="runs per query; the best counts (default 3)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF, help=f"default {AS_OF}")
    parser.add_argument("--workdir", type=Path, help="where scratch files go (default: the system temp dir)")
    parser.add_argument(
        "--world", type=int, metavar="N", help="build the domain world of N institutions and time every report"
    )
    parser.add_argument("--skip-core", action="store_true", help="leave out verify_chain and reconcile")
    parser.add_argument(
        "--postgres-url",
        help="run on PostgreSQL instead: the journal is built in a fresh schema bench_<random> (then VACUUM "
        "ANALYZE, as autovacuum would), measured, and the schema dropped",
    )
    args = parser.parse_args()

    from ledger.chain import verify_chain
    from ledger.db import make_engine
    from ledger.engine import Ledger
    from ledger.queries import reconcile, trial_balance

    result: dict = {"benchmark": "reports", "machine": machine(), "repeat": args.repeat, "as_of": args.as_of}
    with scratch_dir(args.workdir) as scratch, contextlib.ExitStack() as stack:
        if args.postgres_url:
            url = stack.enter_context(postgres_schema(args.postgres_url))
            db_path = None
            result["backend"] = "postgresql"
            result.update(build(url, args.transactions, args.seed, scratch, args.csv))
        else:
            db_path = args.db or scratch / "reports.db"
            url = sqlite_url(db_path)
            result["backend"] = "sqlite"
            if db_path.exists():
                log(f"reusing {db_path}")
                result["built"] = False
            else:
                db_path.parent.mkdir(parents=True, exist_ok=True)
                result.update(build(url, args.transactions, args.seed, scratch, args.csv))
        if args.world:
            if _has_world(make_engine(url)):
                log("the domain world is there: reusing it")
            else:
                from generate_world import generate_world

                log(f"building the domain world ({args.world} institutions)")
                result["world"] = generate_world(url, args.world, args.seed)
        engine = make_engine(url)
        ledger = Ledger(engine)
        with engine.connect() as conn:
            count = conn.exec_driver_sql
            result["transactions"] = count("SELECT COUNT(*) FROM transactions").scalar_one()
            result["postings"] = count("SELECT COUNT(*) FROM postings").scalar_one()
            result["accounts"] = count("SELECT COUNT(*) FROM accounts").scalar_one()
        result["db_mib"] = file_size_mib(db_path) if db_path else None
        log(f"{result['transactions']} transactions, {result['postings']} postings, {result['accounts']} accounts")

        timings = {}
        cases = [
            ("trial_balance_as_of", lambda: trial_balance(ledger, as_of=args.as_of)),
            ("trial_balance_current", lambda: trial_balance(ledger)),
        ]
        if not args.skip_core:
            cases += [("verify_chain", lambda: verify_chain(engine)), ("reconcile", lambda: reconcile(engine))]
        values = {}
        for name, action in cases:
            log(f"{name} x{args.repeat}")
            best, times, value = best_of(args.repeat, action)
            values[name] = value
            timings[name] = {"best_s": round(best, 3), "runs_s": [round(t, 3) for t in times]}
        timings["trial_balance_as_of"]["rows"] = len(values["trial_balance_as_of"])
        timings["trial_balance_as_of"]["target_s"] = TARGET_TRIAL_BALANCE_AS_OF_S
        timings["trial_balance_current"]["rows"] = len(values["trial_balance_current"])
        checks: dict = {}
        if not args.skip_core:
            timings["verify_chain"]["target_s"] = TARGET_VERIFY_S
            timings["verify_chain"]["postings_per_s"] = round(result["postings"] / timings["verify_chain"]["best_s"])
            report = values["verify_chain"]
            checks = {
                "chain_intact": report.intact,
                "sealed": report.sealed,
                "unsealed": report.unsealed,
                "reconcile_findings": len(values["reconcile"]),
            }
        result["timings"] = timings
        result["checks"] = checks
        if args.world:
            result["domain_reports"] = measure_domain_reports(ledger, args.as_of, args.repeat, scratch)
        engine.dispose()
        if db_path is not None and args.db is None:
            remove_sqlite(db_path)
    t = result["timings"]
    human = (
        f"reports ({result['backend']}) over {result['postings']:,} postings: trial balance as of {args.as_of} "
        f"{t['trial_balance_as_of']['best_s']:.3f} s (target < 1 s), "
        f"current {t['trial_balance_current']['best_s']:.3f} s"
    )
    if checks:
        human += (
            f", verify_chain {t['verify_chain']['best_s']:.2f} s (target < 10 s), "
            f"reconcile {t['reconcile']['best_s']:.2f} s; chain {'intact' if checks['chain_intact'] else 'BROKEN'}, "
            f"unsealed {checks['unsealed']}, reconcile findings {checks['reconcile_findings']}"
        )
    for name, entry in result.get("domain_reports", {}).items():
        peer = f" (peer {entry['peer_best_s']:.3f} s)" if "peer_best_s" in entry else ""
        human += f"; {name} {entry['best_s']:.3f} s{peer}"
    emit(result, human)
    if checks and (not checks["chain_intact"] or checks["unsealed"] or checks["reconcile_findings"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
