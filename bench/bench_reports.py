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
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from datetime import date
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
            ("verify_chain", lambda: verify_chain(engine)),
            ("reconcile", lambda: reconcile(engine)),
        ]
        values = {}
        for name, action in cases:
            log(f"{name} x{args.repeat}")
            best, times, value = best_of(args.repeat, action)
            values[name] = value
            timings[name] = {"best_s": round(best, 3), "runs_s": [round(t, 3) for t in times]}
        timings["trial_balance_as_of"]["rows"] = len(values["trial_balance_as_of"])
        timings["trial_balance_as_of"]["target_s"] = TARGET_TRIAL_BALANCE_AS_OF_S
        timings["trial_balance_current"]["rows"] = len(values["trial_balance_current"])
        timings["verify_chain"]["target_s"] = TARGET_VERIFY_S
        timings["verify_chain"]["postings_per_s"] = round(result["postings"] / timings["verify_chain"]["best_s"])
        report = values["verify_chain"]
        result["timings"] = timings
        result["checks"] = {
            "chain_intact": report.intact,
            "sealed": report.sealed,
            "unsealed": report.unsealed,
            "reconcile_findings": len(values["reconcile"]),
        }
        engine.dispose()
        if db_path is not None and args.db is None:
            remove_sqlite(db_path)
    t = result["timings"]
    human = (
        f"reports ({result['backend']}) over {result['postings']:,} postings: trial balance as of {args.as_of} "
        f"{t['trial_balance_as_of']['best_s']:.3f} s (target < 1 s), "
        f"current {t['trial_balance_current']['best_s']:.3f} s, "
        f"verify_chain {t['verify_chain']['best_s']:.2f} s (target < 10 s), "
        f"reconcile {t['reconcile']['best_s']:.2f} s; "
        f"chain {'intact' if report.intact else 'BROKEN'}, unsealed {report.unsealed}, "
        f"reconcile findings {len(values['reconcile'])}"
    )
    emit(result, human)
    if not report.intact or report.unsealed or values["reconcile"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
