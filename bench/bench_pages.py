"""The web pages against a real ``fundledger serve`` on loopback, with bench_http's open-loop client.

Issue 14's target: each page's server time p95 under 150 ms at 20 concurrent users, on the demo data, and
for the journal and account pages on a journal of 1M transactions. Each page is loaded alone, at
``--rate`` requests/s over ``--connections`` connections (20 users each opening a page a second, by
default) for ``--duration`` seconds, as one signed-in user of the role that reads it (its session cookie).
Latency is timed from each request's due moment (open loop: queueing shows), and the server's CPU time per
request is read from /proc (bench_http._loaded), which the machine's other load inflates less.

Two databases:
- the demo (``fundledger init`` + ``fundledger demo`` into the scratch directory, or ``--demo-db``): every
  page of every role;
- the journal (``--journal-db``, kept for reuse): the demo plus bench/generate.py's 1M transactions imported
  into book ``main``, plus one account with ``--busy-movements`` (100,000) movements of its own (a seeded
  CSV imported once), for the trial balance of ``main``, the account pages (first page, a page deep
  inside, a date filter) and a transaction. Built when missing: about 5 minutes on 2 cores.

    .venv/bin/python bench/bench_pages.py --journal-db /tmp/pages-1m.db --journal-csv /tmp/journal-1m.csv
    .venv/bin/python bench/bench_pages.py --skip-journal --pages finance,audit --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import random
import re
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import httpx
from _common import DEFAULT_SEED, emit, fundledger_command, log, machine, scratch_dir, sqlite_url
from bench_http import Server, _cpus, _loaded, _open_loop

TARGET_P95_MS = 150
PASSWORD = "bench-pages-password"
JOURNAL_BOOK = "main"
BUSY_ACCOUNT = "Assets:Bank:Busy"
BUSY_OTHER_SIDE = "NetAssets:Appropriations:Busy"
BUSY_FIRST_DAY = date(2026, 1, 1)
BUSY_DAYS = 365
CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
NEXT_PAGE = re.compile(r'href="([^"]+)" data-testid="next-page"')
# The users the pages are loaded as: (role, scopes). The demo's regions: Guangzhou's programs, fund and
# pool; Shanghai's vouchers and settlements.
USERS = {
    "bench-office": ("finance_office", ["region:440100"]),
    "bench-auditor": ("auditor", ["region:310000"]),
    "bench-admin": ("admin", []),
}


def _run_cli(*arguments: str, url: str) -> None:
    subprocess.run([*fundledger_command(), *arguments, "--database-url", url], check=True, stdout=subprocess.DEVNULL)


def _demo_facts(url: str) -> dict:
    """Codes the pages are opened with: an enterprise, a provider, the fund, a demo transaction."""
    from sqlalchemy import text

    from ledger.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        facts = {
            "enterprise": conn.execute(
                text("SELECT enterprise_code FROM vouchers_grants ORDER BY enterprise_code LIMIT 1")
            ).scalar_one(),
            "provider": conn.execute(
                text("SELECT provider_code FROM vouchers_redemptions ORDER BY id LIMIT 1")
            ).scalar_one(),
            "fund": conn.execute(text("SELECT code FROM funds_guidance_funds ORDER BY id LIMIT 1")).scalar_one(),
            "subsidy_transaction": conn.execute(
                text(
                    "SELECT p.transaction_id FROM postings p JOIN accounts a ON a.id = p.account_id "
                    "JOIN books b ON b.id = a.book_id WHERE b.code = 'gz-finance' ORDER BY p.id LIMIT 1"
                )
            ).scalar_one(),
        }
    engine.dispose()
    return facts


def _add_users(url: str, users: dict) -> None:
    from sqlalchemy import select

    from api import auth
    from ledger.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        present = set(conn.execute(select(auth.T_USERS.c.username)).scalars())
    for name, (role, scopes) in users.items():
        if name not in present:
            auth.add_user(engine, name, PASSWORD, role, scopes)
    engine.dispose()


def _session_cookie(base: str, username: str) -> dict:
    """Log in through the login form (its CSRF token and pre-session cookie) and return the Cookie header."""
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        token = CSRF_INPUT.search(client.get("/web/login").text).group(1)
        response = client.post(
            "/web/login", data={"csrf_token": token, "username": username, "password": PASSWORD, "next_url": ""}
        )
        if response.status_code != 303:
            raise SystemExit(f"login of {username} failed: {response.status_code}")
        return {"Cookie": "; ".join(f"{name}={value}" for name, value in client.cookies.items())}


def _busy_csv(path: Path, movements: int, seed: int) -> None:
    """``movements`` two-leg transactions on one account, dated across a year, seeded amounts to the fen."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["tx_id", "date", "account", "amount", "currency", "memo"])
        for index in range(movements):
            day = BUSY_FIRST_DAY + timedelta(days=index * BUSY_DAYS // movements)
            fen = rng.randint(100, 10_000_000)
            amount = f"{fen // 100}.{fen % 100:02d}"
            writer.writerow([f"busy-{index}", day.isoformat(), BUSY_ACCOUNT, amount, "CNY", f"busy {index}"])
            writer.writerow([f"busy-{index}", day.isoformat(), BUSY_OTHER_SIDE, f"-{amount}", "CNY", f"busy {index}"])


def _prepare_journal(args, scratch: Path) -> str:  # noqa: ANN001
    """The journal database: reused if it exists (schema upgraded), else the demo + the 1M journal; then the
    busy account's movements (an import re-run posts nothing twice)."""
    path = args.journal_db
    url = sqlite_url(path)
    fresh = not path.exists()
    _run_cli("init", url=url)
    if fresh:
        log(f"building the journal database {path} (demo + 1M transactions)")
        _run_cli("demo", url=url)
        csv_path = args.journal_csv
        if not csv_path.exists():
            subprocess.run(
                [sys.executable, str(Path(__file__).parent / "generate.py"), "--transactions", str(args.transactions),
                 "--out", str(csv_path)],
                check=True,
            )  # fmt: skip
        _run_cli("import", str(csv_path), "--create-accounts", "--book", JOURNAL_BOOK, url=url)
    busy = scratch / "busy.csv"
    _busy_csv(busy, args.busy_movements, args.seed)
    log(f"importing the busy account's {args.busy_movements:,} movements (skipped if already there)")
    _run_cli("import", str(busy), "--create-accounts", "--book", JOURNAL_BOOK, "--source", "bench-pages-busy", url=url)
    return url


def _journal_facts(url: str) -> dict:
    from sqlalchemy import text

    from ledger.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        middle = conn.execute(text("SELECT max(id) / 2 FROM transactions")).scalar_one()
        movements = conn.execute(
            text(
                "SELECT count(*) FROM postings p JOIN accounts a ON a.id = p.account_id JOIN books b "
                "ON b.id = a.book_id WHERE b.code = :book AND a.path = :path"
            ),
            {"book": JOURNAL_BOOK, "path": BUSY_ACCOUNT},
        ).scalar_one()
        transactions = conn.execute(text("SELECT count(*) FROM transactions")).scalar_one()
    engine.dispose()
    return {"middle_transaction": middle, "busy_movements": movements, "transactions": transactions}


def _deep_page(base: str, cookie: dict, first: str, hops: int) -> str:
    """The account page ``hops`` pages in, following each page's own next link (as a reader would)."""
    url = first
    with httpx.Client(base_url=base, headers=cookie, timeout=60) as client:
        for _ in range(hops):
            found = NEXT_PAGE.search(client.get(url).text)
            if found is None:
                break
            url = found.group(1).replace("&amp;", "&")
    return url


def _measure(args, server: Server, pages: list[tuple[str, str, dict]]) -> list[dict]:  # noqa: ANN001
    results = []
    for name, path, cookie in pages:
        with httpx.Client(base_url=server.base, headers=cookie, timeout=60) as probe:
            response = probe.get(path)
        if response.status_code != 200:
            tail = server.log_path.read_text(errors="replace")[-4000:]
            raise SystemExit(f"{name} {path}: {response.status_code} {response.text[:300]}\n{tail}")
        log(f"{name}: {args.rate}/s over {args.connections} connections for {args.duration}s on {path}")
        load = _open_loop(server.base, cookie, path, args.rate, args.connections, args.duration, args.client)
        measured = _loaded(args, server, load)
        measured |= {"page": name, "path": path, "bytes": len(response.content)}
        measured["under_target"] = measured["p95_ms"] < TARGET_P95_MS and not measured["errors"]
        results.append(measured)
    return results


def _demo_pages(facts: dict, cookies: dict) -> list[tuple[str, str, dict]]:
    office, auditor, admin = cookies["bench-office"], cookies["bench-auditor"], cookies["bench-admin"]
    return [
        ("finance", "/web/finance", office),
        ("finance-admin", "/web/finance", admin),
        ("trial-balance", "/web/trial-balance", office),
        ("account", "/web/books/gz-finance/accounts/Assets:Bank", office),
        ("transaction", f"/web/transactions/{facts['subsidy_transaction']}", office),
        ("audit", "/web/audit", auditor),
        ("settlements", "/web/settlements", auditor),
        ("enterprise", f"/web/enterprises/{facts['enterprise']}", admin),
        ("fund", f"/web/funds/{facts['fund']}", office),
        ("provider", f"/web/providers/{facts['provider']}", admin),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=20.0, help="requests per second per page")
    parser.add_argument("--connections", type=int, default=20, help="concurrent users")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of load per page")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--demo-db", type=Path, help="a demo database to reuse (default: built in the scratch dir)")
    parser.add_argument("--journal-db", type=Path, default=Path("bench/data/pages-1m.db"))
    parser.add_argument("--journal-csv", type=Path, default=Path("bench/data/journal-1m.csv"))
    parser.add_argument("--transactions", type=int, default=1_000_000, help="journal size when it is built")
    parser.add_argument("--busy-movements", type=int, default=100_000, help="movements of the busy account")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--deep-hops", type=int, default=500, help="how many pages in the deep account page is")
    parser.add_argument("--pages", help="only these pages (comma-separated names)")
    parser.add_argument("--skip-demo", action="store_true")
    parser.add_argument("--skip-journal", action="store_true")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--client", choices=("aiohttp", "httpx"), default="aiohttp")
    parser.add_argument("--server-cpus", help="pin the server to these CPUs, e.g. 0")
    parser.add_argument("--client-cpus", help="pin the load client to these CPUs, e.g. 1")
    parser.add_argument("--serve-args", default="", help="more options for fundledger serve")
    args = parser.parse_args()
    args.profile = None  # bench_http._loaded's option; pages are profiled with py-spy by hand
    chosen = set(args.pages.split(",")) if args.pages else None
    result: dict = {"target_p95_ms": TARGET_P95_MS, "demo": [], "journal": []}

    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(scratch_dir(args.workdir))
        if not args.skip_demo:
            url = sqlite_url(args.demo_db) if args.demo_db else sqlite_url(scratch / "demo.db")
            log(f"demo database {url}")
            _run_cli("init", url=url)
            if not args.demo_db or not args.demo_db.exists():
                _run_cli("demo", url=url)
            _add_users(url, USERS)
            facts = _demo_facts(url)
            server = Server(url, args.workers, scratch / "serve-demo.log", _cpus(args.server_cpus),
                            args.serve_args.split())  # fmt: skip
            try:
                cookies = {name: _session_cookie(server.base, name) for name in USERS}
                pages = [page for page in _demo_pages(facts, cookies) if chosen is None or page[0] in chosen]
                result["demo"] = _measure(args, server, pages)
            finally:
                server.stop()
        if not args.skip_journal:
            url = _prepare_journal(args, scratch)
            _add_users(url, USERS)
            facts = _journal_facts(url)
            result["journal_facts"] = facts
            server = Server(url, args.workers, scratch / "serve-journal.log", _cpus(args.server_cpus),
                            args.serve_args.split())  # fmt: skip
            try:
                admin = _session_cookie(server.base, "bench-admin")
                first = f"/web/books/{JOURNAL_BOOK}/accounts/{BUSY_ACCOUNT}"
                deep = _deep_page(server.base, admin, first, args.deep_hops)
                pages = [
                    ("journal-trial-balance", f"/web/trial-balance?book={JOURNAL_BOOK}", admin),
                    ("journal-trial-balance-as-of", f"/web/trial-balance?book={JOURNAL_BOOK}&as_of=2026-06-30", admin),
                    ("busy-account-first-page", first, admin),
                    ("busy-account-deep-page", deep, admin),
                    ("busy-account-date-filter", f"{first}?from=2026-09-01&to=2026-09-30", admin),
                    ("journal-transaction", f"/web/transactions/{facts['middle_transaction']}", admin),
                ]
                pages = [page for page in pages if chosen is None or page[0] in chosen]
                result["journal"] = _measure(args, server, pages)
            finally:
                server.stop()
    result |= {"machine": machine(), "database": "sqlite", "args": {k: str(v) for k, v in vars(args).items()}}
    emit(result, _human(result))


def _human(result: dict) -> str:
    rows = [*result["demo"], *result["journal"]]
    over = [row["page"] for row in rows if not row["under_target"]]
    shown = ", ".join(f"{row['page']} p95 {row['p95_ms']} ms" for row in rows)
    verdict = "all under" if not over else f"over: {', '.join(over)}"
    return f"pages at the target load ({verdict} {result['target_p95_ms']} ms): {shown}"


if __name__ == "__main__":
    main()
