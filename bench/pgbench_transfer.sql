-- Pure-SQL double-entry transfer for pgbench: the peer of bench_pg_concurrency.py (pgledger's approach,
-- without a hash chain). Tables pgb_accounts / pgb_entries live in the benchmark's own schema
-- (search_path set through PGOPTIONS). Accounts 1..:accounts; the two rows are locked in id order.
\set accounts 50
\set a random(1, :accounts)
\set b random(1, :accounts - 1)
\set b case when :b >= :a then :b + 1 else :b end
\set amount random(1, 10000)
\set lo least(:a, :b)
\set hi greatest(:a, :b)
\set dlo case when :lo = :a then 0 - :amount else :amount end
\set dhi 0 - :dlo
BEGIN;
UPDATE pgb_accounts SET balance = balance + :dlo, version = version + 1 WHERE id = :lo RETURNING balance AS bal_lo \gset
UPDATE pgb_accounts SET balance = balance + :dhi, version = version + 1 WHERE id = :hi RETURNING balance AS bal_hi \gset
INSERT INTO pgb_entries (account_id, amount, balance_after) VALUES (:lo, :dlo, :bal_lo);
INSERT INTO pgb_entries (account_id, amount, balance_after) VALUES (:hi, :dhi, :bal_hi);
END;
