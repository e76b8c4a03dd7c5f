"""Group commit: concurrent posts in one process share one durable database transaction.

A durable commit costs an fsync (SQLite's WAL with ``synchronous=FULL``) or a WAL flush the server waits
for (PostgreSQL's ``synchronous_commit=on``), whatever it holds. Twenty threads each committing one transfer
pay that twenty times and queue on the write lock in between; here they queue in memory instead, and one
commit carries all of them (as TigerBeetle batches client requests into one prepare, and as databases' WAL
writers flush many transactions with one write).

How it runs (``GroupCommitter.submit``):
- each caller appends its requests to one queue. At any moment one caller is the committer (the leader):
  the first to arrive when none is, or the caller at the head of the queue once the previous committer has
  finished, so no thread of our own runs in the background and a lone caller commits on its own thread
  at once, as before;
- the committer waits at most ``GROUP_COMMIT_WAIT_S`` for as many callers as its predecessor carried
  (a lone caller never waits), takes the queue in arrival order up to ``GROUP_COMMIT_MAX_REQUESTS``, and
  hands it to ``commit_batch``: the engine applies every request in order to in-memory state, each with its
  own result code, a ``linked`` chain kept whole within its caller's requests, then writes and commits once;
- every caller of the batch is answered only after that commit returned;
- with ``in_flight`` > 1 (PostgreSQL), a batch hands the committer role on once its reads are done and its
  locks held, just before its writes and COMMIT go (``release``), so the next batch reads meanwhile; at
  most ``in_flight`` batches are taken and not yet committed, and one reads at a time;
- if the batch fails as a whole (a driver error, a key taken by another process at the same moment, a
  period closed meanwhile), nothing of it was committed, and each caller runs its own requests again alone
  (``commit_alone``, the path without group commit), so one caller's trouble costs the others only a retry.

A refusal costs the others nothing: the engine refuses in memory before it writes anything, so a refused
request or a failed linked chain simply contributes no rows to the shared write (the in-memory equivalent of
a savepoint per request, without a round trip per request).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence

from ledger.db import is_postgres

# The longest a committer waits for more callers before it commits what it has. A commit's fsync takes
# 0.5-5 ms on the machines measured (docs/BENCHMARKS.md), so waiting about one fsync fills a batch while
# adding little to a caller's latency; a lone caller never waits (see ``GroupCommitter._take_batch``).
GROUP_COMMIT_WAIT_S = 0.002
# Requests per shared commit: bounded so one commit's locks, statement size and latency stay small.
GROUP_COMMIT_MAX_REQUESTS = 1_000
# ``Ledger.submit`` sends a caller's batch through group commit up to this size; a larger batch already
# amortizes its commit and keeps its own transaction.
GROUP_ITEM_MAX_REQUESTS = 16
# PostgreSQL: shared commits in flight at once per process, each on its committer's own connection. While
# one batch's writes and COMMIT wait for the WAL flush, the next batch is taken, checked and sends its reads;
# its locking read waits on the server for the accounts the first still holds, so batches still apply in
# the order taken. SQLite takes one writer at a time (``BEGIN IMMEDIATE``), so it keeps one.
GROUP_COMMIT_IN_FLIGHT = 1


class _Item:
    """One caller's requests waiting in the queue, and what it is told when woken."""

    __slots__ = ("requests", "results", "run_alone", "event")

    def __init__(self, requests: Sequence) -> None:
        self.requests = requests
        self.results: list | None = None
        self.run_alone = False
        self.event = threading.Event()


class GroupCommitter:
    """Coalesces concurrent callers' requests into shared commits (see the module's docstring).

    ``commit_batch(groups)`` gets each caller's request list in arrival order and returns each one's results,
    having committed them all durably, or raises having committed nothing. ``commit_alone(requests)`` is one
    caller's path when its batch failed.

    With ``in_flight`` > 1, ``commit_batch(groups, release)`` also gets ``release``, which it calls once the
    batch holds everything it needs for its writes (on PostgreSQL: its reads done and its account locks
    held), just before it sends its writes and COMMIT: the next committer may then take the next batch and
    send its reads while this one's commit is in flight, up to ``in_flight`` commits at once."""

    def __init__(
        self,
        commit_batch: Callable[..., list[list]],
        commit_alone: Callable[[Sequence], list],
        *,
        wait_s: float = GROUP_COMMIT_WAIT_S,
        max_requests: int = GROUP_COMMIT_MAX_REQUESTS,
        in_flight: int = 1,
    ) -> None:
        if in_flight < 1:
            raise ValueError("at least one commit must be allowed in flight")
        self._commit_batch = commit_batch
        self._commit_alone = commit_alone
        self.wait_s = wait_s
        self.max_requests = max_requests
        self.in_flight = in_flight
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._queue: deque[_Item] = deque()
        # A committer is taking a batch and reading for it (at most one at a time, so batches lock in the
        # order they were taken); ``_running`` counts the batches taken and not yet committed, that one too.
        self._leading = False
        self._running = 0
        # How many callers the previous batch carried: the committer waits for that many (bounded by
        # ``wait_s``). It follows the load: a batch that waited out its bound carries fewer next time.
        self._expected = 1
        # Counters for tests and benchmarks: shared commits, requests in them, the largest batch's callers,
        # and the most batches seen taken and not yet committed at once.
        self.batches = 0
        self.batched_requests = 0
        self.largest_batch = 0
        self.most_in_flight = 0

    def submit(self, requests: Sequence) -> list:
        """Commit ``requests`` (one caller's, in order) durably, sharing the commit with concurrent callers;
        return their results once the commit that holds them has returned."""
        if self._pid != os.getpid():
            self._reset()  # a forked child inherits neither the parent's callers nor its lock's state
        item = _Item(requests)
        with self._lock:
            self._queue.append(item)
            lead = self._may_lead()
            if lead:
                self._start_leading()
            else:
                self._arrived.notify()
        if not lead:
            item.event.wait()
        if item.results is None and not item.run_alone:
            self._lead()  # woken at the head of the queue: this caller commits the next batch
        if item.run_alone:
            return self._commit_alone(requests)
        return item.results

    def _may_lead(self) -> bool:
        return not self._leading and self._running < self.in_flight

    def _start_leading(self) -> None:
        self._leading = True
        self._running += 1
        self.most_in_flight = max(self.most_in_flight, self._running)

    def _lead(self) -> None:
        batch = self._take_batch()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                with self._lock:
                    self._leading = False
                    self._wake_next()

        try:
            try:
                groups = [item.requests for item in batch]
                if self.in_flight > 1:
                    results = self._commit_batch(groups, release)
                else:
                    results = self._commit_batch(groups)
            except Exception:  # noqa: BLE001 - nothing was committed: each caller reruns its own requests alone
                for item in batch:
                    item.run_alone = True
            else:
                for item, item_results in zip(batch, results, strict=True):
                    item.results = item_results
        finally:
            for item in batch:
                if item.results is None:
                    item.run_alone = True
                item.event.set()
            with self._lock:
                self._running -= 1
                if not released:
                    self._leading = False
                self._wake_next()

    def _take_batch(self) -> list[_Item]:
        with self._lock:
            deadline = time.monotonic() + self.wait_s
            while len(self._queue) < self._expected and self._queued_requests() < self.max_requests:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._arrived.wait(remaining)
            batch: list[_Item] = []
            count = 0
            while self._queue and (not batch or count + len(self._queue[0].requests) <= self.max_requests):
                item = self._queue.popleft()
                batch.append(item)
                count += len(item.requests)
            self._expected = len(batch)
            self.batches += 1
            self.batched_requests += count
            self.largest_batch = max(self.largest_batch, len(batch))
            return batch

    def _queued_requests(self) -> int:
        return sum(len(item.requests) for item in self._queue)

    def _wake_next(self) -> None:
        """Under the lock: the caller at the head of the queue becomes the next committer if it may."""
        if self._queue and self._may_lead():
            self._start_leading()
            self._queue[0].event.set()  # its results are None: it wakes as the next committer


class OwnConnections:
    """One driver connection per thread, detached from the engine's pool, for the commits of ``Ledger.post``.

    Made by the engine (so with its connect-time settings: SQLite's WAL, ``synchronous=FULL`` and busy
    timeout; PostgreSQL's ``synchronous_commit`` and search path), then owned here: closed when the
    ``Ledger`` goes, or when an error may have left it unusable."""

    def __init__(self, engine) -> None:  # noqa: ANN001 - a SQLAlchemy Engine
        self.engine = engine
        self.local = threading.local()
        self.lock = threading.Lock()
        self.opened: list = []
        weakref.finalize(self, OwnConnections._close_all, self.opened, self.lock)

    def get(self):  # noqa: ANN201 - a sqlite3 or psycopg connection
        conn = getattr(self.local, "conn", None)
        if conn is not None and self.local.pid == os.getpid():
            return conn
        pooled = self.engine.raw_connection()
        conn = pooled.driver_connection
        pooled.detach()  # ours from now on: the pool neither pings, resets nor counts it
        if is_postgres(self.engine):
            # This connection only runs the posting statements: short index lookups whose planning
            # costs more than their execution. Left to itself PostgreSQL re-plans some on every call
            # (a custom plan looks cheaper once it sees the parameters); a generic plan is made once.
            conn.execute("SET plan_cache_mode = force_generic_plan")
            # ... with the statistics of that moment, and kept while the tables grow: on a new ledger (or a
            # table autovacuum has not analyzed yet) the journal looks empty, so the idempotency-key lookup
            # was planned as a scan of every transaction and stayed one (measured: 2.8 ms a batch of 20 at
            # 4,000 transactions, growing with the journal; 0.13 ms by the unique index). Every statement
            # here is a lookup by an index, so scans are ruled out rather than left to stale estimates.
            conn.execute("SET enable_seqscan = off")
            conn.commit()
        self.local.conn, self.local.pid = conn, os.getpid()
        with self.lock:
            self.opened.append(conn)
        return conn

    def discard(self, conn) -> None:  # noqa: ANN001
        self.local.conn = None
        with self.lock:
            if conn in self.opened:
                self.opened.remove(conn)
        try:
            conn.close()
        except Exception:  # noqa: BLE001, S110 - already broken: closing is best effort
            pass

    def close_all(self) -> None:
        self.local = threading.local()
        OwnConnections._close_all(self.opened, self.lock)

    @staticmethod
    def _close_all(opened: list, lock: threading.Lock) -> None:
        with lock:
            for conn in opened:
                conn.close()
            opened.clear()
