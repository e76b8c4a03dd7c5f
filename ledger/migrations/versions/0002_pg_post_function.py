"""PostgreSQL: post a plain transaction in one statement (fundledger_post_plain)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:50:00

The engine's own path sends six statements per transaction; twenty writers on two cores spend most of
their time in those round trips and in Python around them. This function does the same work for the
common case (a posted, unlinked transaction) inside the server, in one round trip. It never refuses: if
the key is already recorded, an account is missing, closed or in another currency, the period is closed or
a limit flag would be crossed, it returns NULL having written nothing, and the engine's general path runs
the request again to give the exact result code and message. So the rules keep one definition (Python);
the function only has to be at least as strict, which tests check against the general path.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BIGINT_MAX = 2**63 - 1

POST_PLAIN = f"""
CREATE OR REPLACE FUNCTION fundledger_post_plain(
    p_source text, p_client_id text, p_request_hash text, p_kind text, p_effective_date date,
    p_recorded_at timestamp, p_memo text, p_actor text, p_approver text, p_approval_doc text,
    p_program_year integer, p_link_type text, p_link_id text, p_legs jsonb
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    -- the legs arrive as one JSON array of [book, path, amount in minor units, currency]: one parameter
    -- is far cheaper for the client to send than four arrays
    p_books text[];
    p_paths text[];
    p_amounts bigint[];
    p_currencies text[];
    v_id bigint;
    v_period text := to_char(p_effective_date, 'YYYY-MM');
    v_legs integer;
    v_leg_accounts bigint[];
    v_leg_books bigint[];
    -- per account touched, in id order: its id and the debits and credits this transaction adds
    v_ids bigint[] := '{{}}';
    v_debits numeric[] := '{{}}';
    v_credits numeric[] := '{{}}';
    v_account record;
    v_debit numeric;
    v_credit numeric;
    i integer;
BEGIN
    SELECT array_agg(l->>0 ORDER BY n), array_agg(l->>1 ORDER BY n), array_agg((l->>2)::bigint ORDER BY n),
           array_agg(l->>3 ORDER BY n), count(*)
      INTO p_books, p_paths, p_amounts, p_currencies, v_legs
      FROM jsonb_array_elements(p_legs) WITH ORDINALITY AS e(l, n);
    v_leg_accounts := array_fill(NULL::bigint, ARRAY[v_legs]);
    v_leg_books := array_fill(NULL::bigint, ARRAY[v_legs]);
    IF EXISTS (SELECT 1 FROM transactions WHERE source = p_source AND client_id = p_client_id)
       OR EXISTS (SELECT 1 FROM period_closes c JOIN books b ON b.id = c.book_id
                   WHERE c.period = v_period AND b.code = ANY (p_books)) THEN
        -- recorded before (exists, or exists with different content), or the period is closed
        RETURN NULL;
    END IF;
    -- Lock the accounts in id order, as the general path does, so writers queue and never deadlock.
    FOR v_account IN
        SELECT a.id, a.book_id, b.code, a.path, a.currency, a.closed,
               a.debits_must_not_exceed_credits AS dnec, a.credits_must_not_exceed_debits AS cned,
               a.debits_posted, a.credits_posted, a.debits_pending, a.credits_pending
          FROM accounts a JOIN books b ON b.id = a.book_id
         WHERE (b.code, a.path) IN (SELECT * FROM unnest(p_books, p_paths))
         ORDER BY a.id FOR UPDATE OF a
    LOOP
        IF v_account.closed THEN
            RETURN NULL;
        END IF;
        v_debit := 0;
        v_credit := 0;
        FOR i IN 1 .. v_legs LOOP
            IF p_books[i] = v_account.code AND p_paths[i] = v_account.path THEN
                IF p_currencies[i] <> v_account.currency THEN
                    RETURN NULL;
                END IF;
                v_leg_accounts[i] := v_account.id;
                v_leg_books[i] := v_account.book_id;
                IF p_amounts[i] > 0 THEN
                    v_debit := v_debit + p_amounts[i];
                ELSE
                    v_credit := v_credit - p_amounts[i];
                END IF;
            END IF;
        END LOOP;
        IF (v_account.dnec AND v_account.debits_posted + v_debit + v_account.debits_pending
                                > v_account.credits_posted + v_credit)
           OR (v_account.cned AND v_account.credits_posted + v_credit + v_account.credits_pending
                                   > v_account.debits_posted + v_debit)
           OR v_account.debits_posted + v_debit > {BIGINT_MAX}
           OR v_account.credits_posted + v_credit > {BIGINT_MAX} THEN
            RETURN NULL;  -- a limit flag would be crossed, or a total would leave BIGINT
        END IF;
        v_ids := v_ids || v_account.id;
        v_debits := v_debits || v_debit;
        v_credits := v_credits || v_credit;
    END LOOP;
    IF array_position(v_leg_accounts, NULL) IS NOT NULL THEN
        RETURN NULL;  -- a book or an account that does not exist
    END IF;

    WITH tx AS (
        INSERT INTO transactions (source, client_id, request_hash, kind, pending, effective_date, recorded_at,
                                  memo, actor, approver, approval_doc, program_year, link_type, link_id)
        VALUES (p_source, p_client_id, p_request_hash, p_kind, false, p_effective_date, p_recorded_at, p_memo,
                p_actor, p_approver, p_approval_doc, p_program_year, p_link_type, p_link_id)
        RETURNING id
    ), queued AS (
        INSERT INTO seal_queue (transaction_id) SELECT id FROM tx
    ), legs AS (
        INSERT INTO postings (transaction_id, account_id, book_id, amount_fen, currency, effective_date, pending)
        SELECT tx.id, l.account_id, l.book_id, l.amount, l.currency, p_effective_date, false
          FROM tx, unnest(v_leg_accounts, v_leg_books, p_amounts, p_currencies) WITH ORDINALITY
               AS l(account_id, book_id, amount, currency, ord)
         ORDER BY l.ord
    )
    SELECT id INTO v_id FROM tx;
    WITH months AS (
        INSERT INTO account_month_totals (account_id, period, debits_fen, credits_fen)
        SELECT d.id, v_period, d.debits, d.credits FROM unnest(v_ids, v_debits, v_credits) AS d(id, debits, credits)
        ON CONFLICT (account_id, period) DO UPDATE SET
            debits_fen = account_month_totals.debits_fen + excluded.debits_fen,
            credits_fen = account_month_totals.credits_fen + excluded.credits_fen
    )
    UPDATE accounts a
       SET debits_posted = a.debits_posted + d.debits, credits_posted = a.credits_posted + d.credits,
           version = a.version + 1
      FROM unnest(v_ids, v_debits, v_credits) AS d(id, debits, credits)
     WHERE a.id = d.id;
    RETURN v_id;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POST_PLAIN)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS fundledger_post_plain(text, text, text, text, date, timestamp, text, text, text, "
            "text, integer, text, text, jsonb)"
        )
