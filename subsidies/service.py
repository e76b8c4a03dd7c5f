"""Applications and grants with maker-checker, payment, clawback and year-end, each one unit of work.

Retries: every money-moving call has a key the caller can repeat, and repeating it changes nothing and
returns the first result (or the first refusal). Applications, clawback requests and year-end sweeps take
the caller's ``client_id``; approving an application, paying a grant and approving a clawback are keyed on
the object itself (one approval per application, one payment per grant, one approval per clawback): the
same call again returns the stored outcome, another approver or document is refused as before.

Concurrency: approving, clawing back and closing a year take row locks on cap scopes before reading what
is consumed: ``program-year:<program>:<year>`` (budget, awardee count) and ``institution:<program>:<code>``
(per-year and lifetime caps). On PostgreSQL they are ``SELECT ... FOR UPDATE`` in sorted order, taken
before the ledger locks its accounts, so two approvals racing for the last room queue instead of both
passing; SQLite serializes writers with ``BEGIN IMMEDIATE``. The budget account's constraint flag is a
second guard inside the ledger itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from ledger.engine import T_ACCOUNTS, T_BOOKS, Ledger, posting_specs, today_shanghai
from ledger.entries import Audit, ReversalRequest, TransactionRequest, VoidPendingRequest, check_client_id
from ledger.errors import LedgerError
from ledger.money import format_fen
from ledger.numbers import parse_amount_fen
from subsidies import books
from subsidies.books import SOURCE
from subsidies.codes import SubsidyCode
from subsidies.config import ProgramConfig, ScheduleAmount, parse_program, stored_program
from subsidies.models import APPLICATIONS, CAP_LOCKS, CLAWBACKS, EVENTS, FLAGS, GRANTS, PROGRAMS, YEAR_ENDS
from subsidies.rules import CAP_CODES, CapCheck, Usage, compute_amount_fen, decide

ACTIVE_GRANT_STATUSES = ("approved", "paid")
# Refusals that are decisions on the application (recorded as "refused"), not mistakes of the caller.
REFUSAL_CODES = frozenset({*CAP_CODES.values(), SubsidyCode.SCHEDULE_YEARS_EXHAUSTED})
BASE_FIGURES_MAX = 20


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    grant_id: int
    computed_fen: int
    granted_fen: int
    flags: tuple[CapCheck, ...]


@dataclass(frozen=True, slots=True)
class PaymentOutcome:
    grant_id: int
    amount_fen: int
    payment_tx_id: int  # the payment: payable and bank (financial) with its budget expenditure (budgetary)


class SubsidyService:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.engine = ledger.engine
        self._programs: dict[str, ProgramConfig] = {}

    # ----- programs ---------------------------------------------------------------------------------

    def install_program(self, program: ProgramConfig, config_text: str, *, actor: str) -> None:
        """Store the definition, open its accounts and appropriate each year's budget. Safe to repeat."""
        with self.engine.begin() as conn:
            stored = conn.execute(select(PROGRAMS.c.config_text).where(PROGRAMS.c.code == program.code)).scalar()
            if stored is not None and parse_program(stored) != program:
                raise LedgerError(
                    SubsidyCode.PROGRAM_EXISTS_WITH_DIFFERENT_CONFIG,
                    f"program {program.code!r} is installed with different rules; give the new rules a new code",
                )
            if stored is None:
                conn.execute(
                    PROGRAMS.insert().values(
                        code=program.code,
                        name=program.name,
                        config_text=config_text,
                        installed_by=actor,
                        installed_at=self.ledger.clock(),
                    )
                )
            books.create_program_accounts(self.ledger, program, conn)
            for year in program.years:
                books.appropriate_year(self.ledger, program, year, actor, conn)
        self._programs[program.code] = program

    def program(self, code: str) -> ProgramConfig:
        if code not in self._programs:
            with self.engine.connect() as conn:
                text = conn.execute(select(PROGRAMS.c.config_text).where(PROGRAMS.c.code == code)).scalar()
            if text is None:
                raise LedgerError(SubsidyCode.PROGRAM_NOT_FOUND, f"no subsidy program {code!r}", program=code)
            self._programs[code] = stored_program(text)
        return self._programs[code]

    # ----- applications -------------------------------------------------------------------------------

    def submit_application(
        self,
        program_code: str,
        institution_code: str,
        program_year: int,
        base_figures: Mapping[str, str | int | Decimal] | None = None,
        *,
        actor: str,
        client_id: str,
    ) -> int:
        """Record an application (the maker's step). Idempotent per (program, client id)."""
        program = self.program(program_code)
        check_client_id(client_id)
        _check_year(program, program_year)
        if not isinstance(institution_code, str):
            raise LedgerError(
                SubsidyCode.INSTITUTION_MUST_BE_REGISTERED, f"institution {institution_code!r} is not registered"
            )
        entity = self.ledger.entity(institution_code)
        if entity is None or entity["kind"] != "institution":
            raise LedgerError(
                SubsidyCode.INSTITUTION_MUST_BE_REGISTERED, f"institution {institution_code!r} is not registered"
            )
        figures = _figures_fen(base_figures or {})
        compute_amount_fen(program.amount, figures)  # refuses a missing or negative base figure now
        self._ensure_payable_account(program, institution_code)
        figures_json = json.dumps({name: str(fen) for name, fen in sorted(figures.items())})
        with self.engine.begin() as conn:
            existing = (
                conn.execute(
                    select(APPLICATIONS).where(
                        APPLICATIONS.c.program_code == program_code, APPLICATIONS.c.client_id == client_id
                    )
                )
                .mappings()
                .first()
            )
            if existing is not None:
                same = (existing["institution_code"], existing["program_year"], existing["base_figures_json"]) == (
                    institution_code,
                    program_year,
                    figures_json,
                )
                if not same:
                    raise LedgerError(
                        SubsidyCode.APPLICATION_EXISTS_WITH_DIFFERENT_CONTENT,
                        f"application {client_id!r} was submitted with different content",
                    )
                return existing["id"]
            application_id = conn.execute(
                APPLICATIONS.insert().values(
                    program_code=program_code,
                    client_id=client_id,
                    institution_code=institution_code,
                    program_year=program_year,
                    base_figures_json=figures_json,
                    status="submitted",
                    submitted_by=actor,
                    submitted_at=self.ledger.clock(),
                )
            ).inserted_primary_key[0]
            self._event(conn, "application", application_id, "submitted", actor, figures=figures_json)
            return application_id

    def reject(self, application_id: int, *, approver: str, reason: str) -> None:
        if not reason.strip():
            raise LedgerError(SubsidyCode.REJECTION_NEEDS_A_REASON, "a rejection needs a reason")
        with self.engine.begin() as conn:
            application = self._submitted_application(conn, application_id, approver)
            self._decide_application(conn, application["id"], "rejected", approver, "rejected", reason)

    def approve(
        self, application_id: int, *, approver: str, approval_doc: str | None = None, on: date | None = None
    ) -> GrantOutcome:
        """The checker's step: compute, check every cap, and grant (budget reserved, payable accrued) or refuse.

        A refusal by a cap leaves every balance untouched and records the application as refused with the
        binding rule's code, then raises it. Keyed on the application: the same approval again returns the
        stored outcome (or raises the stored refusal) and changes nothing."""
        day = self._day(on) or self._today()
        try:
            with self.engine.begin() as conn:
                replayed = self._replayed_approval(conn, application_id, approver, approval_doc)
                if replayed is not None:
                    return replayed
                return self._approve(conn, application_id, approver, approval_doc, day)
        except LedgerError as error:
            if error.code in REFUSAL_CODES:
                self._record_refusal(application_id, approver, error)
            raise

    def _replayed_approval(
        self, conn: Connection, application_id: int, approver: str, approval_doc: str | None
    ) -> GrantOutcome | None:
        """The stored outcome when this approver already decided this application; None when still to decide."""
        application = conn.execute(select(APPLICATIONS).where(APPLICATIONS.c.id == application_id)).mappings().first()
        if application is None or application["decided_by"] != approver:
            return None
        if application["status"] == "refused":
            raise LedgerError(
                SubsidyCode(application["decision_code"]),
                application["decision_reason"] or "refused",
                replayed=True,
            )
        if application["status"] != "approved":
            return None
        grant = conn.execute(select(GRANTS).where(GRANTS.c.application_id == application_id)).mappings().one()
        if grant["approval_doc"] != approval_doc:
            return None  # another call on a decided application: refused as not submitted
        flags = conn.execute(select(FLAGS).where(FLAGS.c.grant_id == grant["id"]).order_by(FLAGS.c.id)).mappings()
        checks = tuple(
            CapCheck(
                flag["rule"],
                flag["enforcement"],
                flag["code"],
                flag["requested_fen"],
                flag["granted_fen"],
                flag["limit_value"],
                flag["room_value"],
            )
            for flag in flags
        )
        return GrantOutcome(grant["id"], grant["computed_fen"], grant["amount_fen"], checks)

    def _approve(
        self, conn: Connection, application_id: int, approver: str, approval_doc: str | None, on: date
    ) -> GrantOutcome:
        application = self._submitted_application(conn, application_id, approver)
        program = self.program(application["program_code"])
        institution, year = application["institution_code"], application["program_year"]
        self._lock_scopes(conn, program.code, institution, year)
        usage = self._usage(conn, program, institution, year)
        figures = {name: int(fen) for name, fen in json.loads(application["base_figures_json"]).items()}
        computed = compute_amount_fen(program.amount, figures, self._schedule_index(conn, program, institution, year))
        decision = decide(program, computed, usage)
        audit = Audit(actor=application["submitted_by"], approver=approver, approval_doc=approval_doc)
        link = {"link_type": "subsidy_application", "link_id": str(application_id), "program_year": year}
        amount = format_fen(decision.granted_fen)
        commitment = self.ledger.post(
            TransactionRequest(
                client_id=f"application:{application_id}:commitment",
                postings=posting_specs(
                    program.budget_book,
                    [
                        (books.budget_expenditure_account(program.code), amount),
                        (books.funds_available_account(program.code, year), "-" + amount),
                    ],
                ),
                effective_date=on,
                source=SOURCE,
                kind="subsidy_commitment",
                memo=f"{program.name}: grant to {institution} for {year}",
                audit=audit,
                pending=True,
                **link,
            ),
            conn=conn,
        )
        payable = self.ledger.post(
            TransactionRequest(
                client_id=f"application:{application_id}:payable",
                postings=posting_specs(
                    program.financial_book,
                    [(books.expense_account(program.code), amount), (books.payable_account(institution), "-" + amount)],
                ),
                effective_date=on,
                source=SOURCE,
                kind="subsidy_payable",
                memo=f"{program.name}: payable to {institution} for {year}",
                audit=audit,
                **link,
            ),
            conn=conn,
        )
        grant_id = conn.execute(
            GRANTS.insert().values(
                application_id=application_id,
                program_code=program.code,
                institution_code=institution,
                program_year=year,
                computed_fen=decision.computed_fen,
                amount_fen=decision.granted_fen,
                status="approved",
                approved_by=approver,
                approval_doc=approval_doc,
                approved_at=self.ledger.clock(),
                commitment_tx_id=commitment.transaction_id,
                payable_tx_id=payable.transaction_id,
            )
        ).inserted_primary_key[0]
        for flag in decision.flags:
            conn.execute(
                FLAGS.insert().values(
                    grant_id=grant_id,
                    rule=flag.rule,
                    enforcement=flag.enforcement,
                    code=str(flag.code),
                    requested_fen=flag.requested_fen,
                    granted_fen=flag.granted_fen,
                    limit_value=flag.limit,
                    room_value=flag.room,
                )
            )
        self._decide_application(conn, application_id, "approved", approver, "approved", None)
        self._event(conn, "grant", grant_id, "approved", approver, amount=amount, flags=len(decision.flags))
        return GrantOutcome(grant_id, decision.computed_fen, decision.granted_fen, decision.flags)

    # ----- payment ------------------------------------------------------------------------------------

    def pay(self, grant_id: int, *, actor: str, on: date | None = None) -> PaymentOutcome:
        """Release the budget reservation and pay: one transaction debits the payable and credits the bank
        (financial book) and records the budget expenditure against the year's funds (budgetary book), so
        the cash and its budgetary entry never part (政府会计 dual basis). Keyed on the grant: paying a
        paid grant again returns the first payment and changes nothing."""
        day = self._day(on) or self._today()
        with self.engine.begin() as conn:
            grant = self._grant_for_update(conn, grant_id)
            if grant["payment_tx_id"] is not None:
                return PaymentOutcome(grant_id, grant["amount_fen"], grant["payment_tx_id"])
            if grant["status"] != "approved":
                raise LedgerError(
                    SubsidyCode.PAYMENT_NEEDS_AN_APPROVED_GRANT,
                    f"grant {grant_id} is {grant['status']}; only an approved grant is paid",
                )
            program = self.program(grant["program_code"])
            audit = Audit(actor=actor, approver=grant["approved_by"], approval_doc=grant["approval_doc"])
            release = self.ledger.post(
                VoidPendingRequest(
                    client_id=f"grant:{grant_id}:reservation-release",
                    pending=grant["commitment_tx_id"],
                    source=SOURCE,
                    reason="paid: the payment carries the budget expenditure",
                    effective_date=day,
                    audit=audit,
                ),
                conn=conn,
            )
            amount = format_fen(grant["amount_fen"])
            payment = self.ledger.post(
                TransactionRequest(
                    client_id=f"grant:{grant_id}:payment",
                    postings=posting_specs(
                        program.financial_book,
                        [(books.payable_account(grant["institution_code"]), amount), (books.BANK, "-" + amount)],
                    )
                    + posting_specs(
                        program.budget_book,
                        [
                            (books.budget_expenditure_account(program.code), amount),
                            (books.funds_available_account(program.code, grant["program_year"]), "-" + amount),
                        ],
                    ),
                    effective_date=day,
                    source=SOURCE,
                    kind="subsidy_payment",
                    memo=f"{program.name}: payment to {grant['institution_code']}",
                    audit=audit,
                    program_year=grant["program_year"],
                    link_type="subsidy_grant",
                    link_id=str(grant_id),
                ),
                conn=conn,
            )
            conn.execute(
                GRANTS.update()
                .where(GRANTS.c.id == grant_id)
                .values(
                    status="paid",
                    budget_post_tx_id=release.transaction_id,
                    payment_tx_id=payment.transaction_id,
                    paid_at=self.ledger.clock(),
                )
            )
            self._event(conn, "grant", grant_id, "paid", actor, amount=amount)
            return PaymentOutcome(grant_id, grant["amount_fen"], payment.transaction_id)

    # ----- clawback (收回/追回) ------------------------------------------------------------------------

    def request_clawback(self, grant_id: int, *, reason: str, actor: str, client_id: str) -> int:
        """The maker's step of a clawback. ``client_id`` is the caller's key: the same request again returns
        the first clawback's id (even once it is approved); the same key with another reason is refused."""
        if not isinstance(reason, str) or not reason.strip():
            raise LedgerError(SubsidyCode.CLAWBACK_NEEDS_A_REASON, "a clawback (收回/追回) needs a reason")
        check_client_id(client_id)
        with self.engine.begin() as conn:
            grant = self._grant_for_update(conn, grant_id)
            existing = (
                conn.execute(
                    select(CLAWBACKS).where(CLAWBACKS.c.grant_id == grant_id, CLAWBACKS.c.client_id == client_id)
                )
                .mappings()
                .first()
            )
            if existing is not None:
                if (existing["reason"], existing["requested_by"]) != (reason, actor):
                    raise LedgerError(
                        SubsidyCode.CLAWBACK_EXISTS_WITH_DIFFERENT_CONTENT,
                        f"clawback {client_id!r} of grant {grant_id} was requested with different content",
                    )
                return existing["id"]
            _check_active(grant)
            clawback_id = conn.execute(
                CLAWBACKS.insert().values(
                    grant_id=grant_id,
                    client_id=client_id,
                    reason=reason,
                    status="requested",
                    requested_by=actor,
                    requested_at=self.ledger.clock(),
                )
            ).inserted_primary_key[0]
            self._event(conn, "clawback", clawback_id, "requested", actor, grant=grant_id, reason=reason)
            return clawback_id

    def approve_clawback(
        self, clawback_id: int, *, approver: str, approval_doc: str | None = None, on: date | None = None
    ) -> None:
        """Reverse the grant's postings (红字冲销): the room returns to the grant's original program year.

        Keyed on the clawback: the same approver approving it again changes nothing."""
        day = self._day(on) or self._today()
        with self.engine.begin() as conn:
            clawback = self._clawback_row(conn, clawback_id)
            if (clawback["status"], clawback["approved_by"], clawback["approval_doc"]) == (
                "approved",
                approver,
                approval_doc,
            ):
                return
            clawback = self._clawback_for_update(conn, clawback_id)
            if approver == clawback["requested_by"]:
                raise _same_person(approver)
            grant = self._grant_for_update(conn, clawback["grant_id"])
            _check_active(grant)
            self._lock_scopes(conn, grant["program_code"], grant["institution_code"], grant["program_year"])
            audit = Audit(actor=clawback["requested_by"], approver=approver, approval_doc=approval_doc)
            for request in _clawback_requests(grant, clawback, day, audit):
                self.ledger.post(request, conn=conn)
            conn.execute(GRANTS.update().where(GRANTS.c.id == grant["id"]).values(status="clawed_back"))
            conn.execute(
                CLAWBACKS.update()
                .where(CLAWBACKS.c.id == clawback_id)
                .values(
                    status="approved", approved_by=approver, approval_doc=approval_doc, approved_at=self.ledger.clock()
                )
            )
            self._event(conn, "clawback", clawback_id, "approved", approver, grant=grant["id"])
            self._event(conn, "grant", grant["id"], "clawed_back", approver, clawback=clawback_id)

    def reject_clawback(self, clawback_id: int, *, approver: str, reason: str) -> None:
        """The checker refuses a requested clawback: the grant stays as it is, the reason is in the events.
        The requester cannot reject its own request; the checker who rejected it rejecting it again changes
        nothing."""
        if not isinstance(reason, str) or not reason.strip():
            raise LedgerError(SubsidyCode.REJECTION_NEEDS_A_REASON, "a rejection needs a reason")
        with self.engine.begin() as conn:
            clawback = self._clawback_row(conn, clawback_id)
            if (clawback["status"], clawback["approved_by"]) == ("rejected", approver):
                return
            clawback = self._clawback_for_update(conn, clawback_id)
            if approver == clawback["requested_by"]:
                raise _same_person(approver)
            conn.execute(
                CLAWBACKS.update()
                .where(CLAWBACKS.c.id == clawback_id)
                .values(status="rejected", approved_by=approver, approved_at=self.ledger.clock())
            )
            self._event(conn, "clawback", clawback_id, "rejected", approver, grant=clawback["grant_id"], reason=reason)

    # ----- year-end -----------------------------------------------------------------------------------

    def close_year(self, program_code: str, year: int, *, actor: str, client_id: str, on: date | None = None) -> dict:
        """Sweep the year's unused budget: carried over (结转) to next year or recovered (收回), as configured.

        Reserved (approved, unpaid) grants stay committed. ``client_id`` is the caller's key (e.g. the
        job's period key): the same run again returns its first result and sweeps nothing; a run with a new
        key sweeps only what has come back since (e.g. by a clawback). The last program year always
        recovers: there is no next year."""
        program = self.program(program_code)
        _check_year(program, year)
        check_client_id(client_id)
        day = self._day(on)
        with self.engine.begin() as conn:
            self._lock(conn, [_program_year_scope(program.code, year)])
            stored = (
                conn.execute(
                    select(YEAR_ENDS).where(
                        YEAR_ENDS.c.program_code == program.code, YEAR_ENDS.c.client_id == client_id
                    )
                )
                .mappings()
                .first()
            )
            if stored is not None:
                if stored["program_year"] != year:
                    raise LedgerError(
                        SubsidyCode.YEAR_END_EXISTS_WITH_DIFFERENT_CONTENT,
                        f"year-end {client_id!r} of {program.code!r} closed {stored['program_year']}, not {year}",
                    )
                return _year_end_result(program.code, stored)
            available = self.budget_room(conn, program, year)
            mode = program.budget.year_end if year < program.last_year else "recover"
            sequence = (
                1
                + conn.execute(
                    select(func.count())
                    .select_from(YEAR_ENDS)
                    .where(YEAR_ENDS.c.program_code == program.code, YEAR_ENDS.c.program_year == year)
                ).scalar_one()
            )
            if available <= 0:
                row = self._record_year_end(conn, program, year, sequence, mode, 0, None, actor, client_id)
                return _year_end_result(program.code, row)
            result = self.ledger.post(
                TransactionRequest(
                    client_id=f"{program.code}:year-end:{year}:{client_id}",
                    postings=_year_end_postings(program, year, mode, format_fen(available)),
                    effective_date=day or date(year, 12, 31),
                    source=SOURCE,
                    kind=f"subsidy_{mode}",
                    memo=f"{program.name} {year}: unused budget {'结转' if mode == 'carry_over' else '收回'}",
                    audit=Audit(actor=actor),
                    program_year=year,
                    link_type="subsidy_program",
                    link_id=program.code,
                ),
                conn=conn,
            )
            row = self._record_year_end(
                conn, program, year, sequence, mode, available, result.transaction_id, actor, client_id
            )
            return _year_end_result(program.code, row)

    def _record_year_end(
        self,
        conn: Connection,
        program: ProgramConfig,
        year: int,
        sequence: int,
        mode: str,
        amount_fen: int,
        transaction_id: int | None,
        actor: str,
        client_id: str,
    ) -> dict:
        row = {
            "program_code": program.code,
            "client_id": client_id,
            "program_year": year,
            "sequence": sequence,
            "mode": mode,
            "amount_fen": amount_fen,
            "transaction_id": transaction_id,
            "actor": actor,
            "recorded_at": self.ledger.clock(),
        }
        year_end_id = conn.execute(YEAR_ENDS.insert().values(**row)).inserted_primary_key[0]
        self._event(conn, "year_end", year_end_id, mode, actor, amount=format_fen(amount_fen), client_id=client_id)
        return row

    # ----- reading consumed room (inside the caller's unit, after the locks) ------------------------------

    def _usage(self, conn: Connection, program: ProgramConfig, institution: str, year: int) -> Usage:
        active = GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES)
        mine = (GRANTS.c.program_code == program.code) & (GRANTS.c.institution_code == institution) & active
        this_year = (GRANTS.c.program_code == program.code) & (GRANTS.c.program_year == year) & active
        year_fen, year_count = conn.execute(
            select(func.coalesce(func.sum(GRANTS.c.amount_fen), 0), func.count()).where(
                mine & (GRANTS.c.program_year == year)
            )
        ).one()
        lifetime_fen = conn.execute(select(func.coalesce(func.sum(GRANTS.c.amount_fen), 0)).where(mine)).scalar_one()
        awardees = conn.execute(
            select(func.count(func.distinct(GRANTS.c.institution_code))).where(this_year)
        ).scalar_one()
        return Usage(
            institution_year_fen=int(year_fen),
            institution_lifetime_fen=int(lifetime_fen),
            awardees_this_year=int(awardees),
            already_awardee_this_year=year_count > 0,
            budget_room_fen=self.budget_room(conn, program, year),
        )

    def budget_room(self, conn: Connection, program: ProgramConfig, year: int) -> int:
        """Funds available in the program year: appropriated and carried in, less granted and reserved."""
        row = conn.execute(
            select(T_ACCOUNTS.c.debits_posted, T_ACCOUNTS.c.credits_posted, T_ACCOUNTS.c.credits_pending)
            .join(T_BOOKS, T_BOOKS.c.id == T_ACCOUNTS.c.book_id)
            .where(
                T_BOOKS.c.code == program.budget_book,
                T_ACCOUNTS.c.path == books.funds_available_account(program.code, year),
            )
        ).one()
        return row.debits_posted - row.credits_posted - row.credits_pending

    def _schedule_index(self, conn: Connection, program: ProgramConfig, institution: str, year: int) -> int:
        """Years since the institution's first active award in this program (0 in the first year)."""
        if not isinstance(program.amount, ScheduleAmount):
            return 0
        first = conn.execute(
            select(func.min(GRANTS.c.program_year)).where(
                GRANTS.c.program_code == program.code,
                GRANTS.c.institution_code == institution,
                GRANTS.c.status.in_(ACTIVE_GRANT_STATUSES),
            )
        ).scalar()
        return 0 if first is None else year - first

    # ----- locks and rows ------------------------------------------------------------------------------

    def _lock_scopes(self, conn: Connection, program_code: str, institution: str, year: int) -> None:
        self._lock(conn, [_program_year_scope(program_code, year), f"institution:{program_code}:{institution}"])

    def _lock(self, conn: Connection, scopes: list[str]) -> None:
        """Create the scope rows if missing, then lock them in sorted order (no deadlock between lockers)."""
        ordered = sorted(set(scopes))
        insert = postgres_insert if self.ledger.postgres else sqlite_insert
        conn.execute(insert(CAP_LOCKS).values([{"scope": scope} for scope in ordered]).on_conflict_do_nothing())
        if self.ledger.postgres:
            conn.execute(
                select(CAP_LOCKS.c.scope)
                .where(CAP_LOCKS.c.scope.in_(ordered))
                .order_by(CAP_LOCKS.c.scope)
                .with_for_update()
            ).all()

    def _for_update(self, query):
        return query.with_for_update() if self.ledger.postgres else query

    def _submitted_application(self, conn: Connection, application_id: int, approver: str):
        application = (
            conn.execute(self._for_update(select(APPLICATIONS).where(APPLICATIONS.c.id == application_id)))
            .mappings()
            .first()
        )
        if application is None:
            raise LedgerError(SubsidyCode.APPLICATION_NOT_FOUND, f"no application {application_id}")
        if application["status"] != "submitted":
            raise LedgerError(
                SubsidyCode.APPLICATION_MUST_BE_SUBMITTED,
                f"application {application_id} is {application['status']}, not submitted",
                status=application["status"],
            )
        if approver == application["submitted_by"]:
            raise _same_person(approver)
        return application

    def _grant_for_update(self, conn: Connection, grant_id: int):
        grant = conn.execute(self._for_update(select(GRANTS).where(GRANTS.c.id == grant_id))).mappings().first()
        if grant is None:
            raise LedgerError(SubsidyCode.GRANT_NOT_FOUND, f"no grant {grant_id}")
        return grant

    def _clawback_row(self, conn: Connection, clawback_id: int, *, for_update: bool = False):
        query = select(CLAWBACKS).where(CLAWBACKS.c.id == clawback_id)
        clawback = conn.execute(self._for_update(query) if for_update else query).mappings().first()
        if clawback is None:
            raise LedgerError(SubsidyCode.CLAWBACK_NOT_FOUND, f"no clawback {clawback_id}")
        return clawback

    def _clawback_for_update(self, conn: Connection, clawback_id: int):
        clawback = self._clawback_row(conn, clawback_id, for_update=True)
        if clawback["status"] != "requested":
            raise LedgerError(SubsidyCode.CLAWBACK_MUST_BE_REQUESTED, f"clawback {clawback_id} is {clawback['status']}")
        return clawback

    def _decide_application(
        self, conn: Connection, application_id: int, status: str, actor: str, code: str, reason: str | None
    ) -> None:
        conn.execute(
            APPLICATIONS.update()
            .where(APPLICATIONS.c.id == application_id)
            .values(
                status=status,
                decided_by=actor,
                decided_at=self.ledger.clock(),
                decision_code=code,
                decision_reason=reason,
            )
        )
        self._event(conn, "application", application_id, status, actor, code=code, reason=reason or "")

    def _record_refusal(self, application_id: int, approver: str, error: LedgerError) -> None:
        with self.engine.begin() as conn:
            still_submitted = conn.execute(
                select(APPLICATIONS.c.id).where(
                    APPLICATIONS.c.id == application_id, APPLICATIONS.c.status == "submitted"
                )
            ).first()
            if still_submitted is not None:
                self._decide_application(conn, application_id, "refused", approver, str(error.code), error.message)

    def _ensure_payable_account(self, program: ProgramConfig, institution: str) -> None:
        try:
            self.ledger.create_account(
                program.financial_book, books.payable_account(institution), owner_code=institution, exist_ok=True
            )
        except IntegrityError:
            pass  # another process created it between our look-up and insert: it exists, which is all we need

    def _event(self, conn: Connection, subject: str, subject_id: int, event: str, actor: str, **detail) -> None:
        conn.execute(
            EVENTS.insert().values(
                subject=subject,
                subject_id=subject_id,
                event=event,
                actor=actor,
                recorded_at=self.ledger.clock(),
                detail_json=json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str),
            )
        )

    def _today(self) -> date:
        return today_shanghai(self.ledger.clock())

    def _day(self, on: object) -> date | None:
        """The business date a caller gave (None: decided later), refused unless it is a plain date."""
        if on is None:
            return None
        if isinstance(on, datetime) or not isinstance(on, date):
            raise LedgerError(SubsidyCode.DATE_MUST_BE_A_DATE, f"{on!r} is not a date (YYYY-MM-DD)", value=repr(on))
        return on


def _check_year(program: ProgramConfig, year: object) -> None:
    """A program year must be a whole number (not a bool, float or string) inside the program's years."""
    if isinstance(year, bool) or not isinstance(year, int):
        raise LedgerError(
            SubsidyCode.PROGRAM_YEAR_MUST_BE_AN_INTEGER, f"program year {year!r} is not a whole year", value=repr(year)
        )
    if year not in program.years:
        raise LedgerError(
            SubsidyCode.PROGRAM_YEAR_MUST_BE_WITHIN_PROGRAM,
            f"program {program.code!r} runs {program.first_year}-{program.last_year}, not {year}",
        )


def _year_end_result(program_code: str, row) -> dict:  # noqa: ANN001 - a stored or new year-end row
    swept = int(row["amount_fen"])
    return {
        "program": program_code,
        "year": row["program_year"],
        "mode": row["mode"] if swept > 0 else None,
        "amount_fen": swept,
    }


def _program_year_scope(program_code: str, year: int) -> str:
    return f"program-year:{program_code}:{year}"


def _figures_fen(base_figures: Mapping[str, str | int | Decimal]) -> dict[str, int]:
    if len(base_figures) > BASE_FIGURES_MAX:
        raise LedgerError(SubsidyCode.BASE_FIGURE_REQUIRED, f"at most {BASE_FIGURES_MAX} base figures")
    return {name: parse_amount_fen(value) for name, value in base_figures.items()}


def _same_person(actor: str) -> LedgerError:
    return LedgerError(
        SubsidyCode.CHECKER_MUST_DIFFER_FROM_MAKER,
        f"{actor!r} recorded this; a second person must approve it (不相容岗位分离)",
        actor=actor,
    )


def _check_active(grant) -> None:
    if grant["status"] not in ACTIVE_GRANT_STATUSES:
        raise LedgerError(
            SubsidyCode.CLAWBACK_NEEDS_AN_ACTIVE_GRANT,
            f"grant {grant['id']} is {grant['status']}; only an approved or paid grant can be clawed back",
        )


def _clawback_requests(grant, clawback, day: date, audit: Audit) -> list:
    """A paid grant: reverse the payment (cash back and budget expenditure returned to the grant's year, in
    one transaction) and the payable. Unpaid: void the reservation and reverse the payable."""
    reason = clawback["reason"]
    prefix = f"clawback:{clawback['id']}"
    requests: list = []
    if grant["status"] == "paid":
        requests.append(ReversalRequest(f"{prefix}:payment", grant["payment_tx_id"], reason, SOURCE, day, audit))
    else:
        requests.append(
            VoidPendingRequest(f"{prefix}:commitment", grant["commitment_tx_id"], SOURCE, reason, day, audit)
        )
    requests.append(ReversalRequest(f"{prefix}:payable", grant["payable_tx_id"], reason, SOURCE, day, audit))
    return requests


def _year_end_postings(program: ProgramConfig, year: int, mode: str, amount: str):
    unused = books.funds_available_account(program.code, year)
    if mode == "carry_over":
        return posting_specs(
            program.budget_book,
            [(books.funds_available_account(program.code, year + 1), amount), (unused, "-" + amount)],
        )
    return posting_specs(
        program.budget_book, [(books.appropriation_budget_account(program.code), amount), (unused, "-" + amount)]
    ) + posting_specs(
        program.financial_book,
        [(books.appropriation_revenue_account(program.code), amount), (books.BANK, "-" + amount)],
    )
