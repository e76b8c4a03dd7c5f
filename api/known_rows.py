"""Books and entities the API has read, remembered per ledger: the scope check of every posting reads them.

A book and an entity (a region or an institution) are written once and never changed or removed
(``ledger.engine`` inserts them and has no UPDATE or DELETE of either), so a row once read stays true for the
life of the process: remembering it changes no answer. A code that is not found is not remembered (it may be
created the next moment). ``KnownRows`` offers the two reads the scope checks make (``book`` and ``entity``,
as ``Ledger`` does), so ``api.scopes`` runs unchanged on it."""

from __future__ import annotations

import threading
import weakref

from ledger.engine import Ledger

# Rows remembered per ledger and kind; past it the memory starts again (a miss only costs a read).
KNOWN_ROWS_MAX = 50_000

_known: weakref.WeakKeyDictionary[Ledger, KnownRows] = weakref.WeakKeyDictionary()
_known_lock = threading.Lock()


class KnownRows:
    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._books: dict[str, dict] = {}
        self._entities: dict[str, dict] = {}

    @property
    def reader(self):  # noqa: ANN201 - the ledger's read-only database
        """A book without an entity is placed by the domains' own tables (``api.scopes.domain_book_regions``),
        which are read, not remembered: a program or pool may gain a funder region at any time."""
        return self.ledger.reader

    def book(self, code: str) -> dict | None:
        return self._remembered(self._books, code, self.ledger.book)

    def entity(self, code: str) -> dict | None:
        return self._remembered(self._entities, code, self.ledger.entity)

    @staticmethod
    def _remembered(rows: dict[str, dict], code: str, read) -> dict | None:  # noqa: ANN001 - a Ledger read
        row = rows.get(code)
        if row is None:
            row = read(code)
            if row is not None:
                if len(rows) >= KNOWN_ROWS_MAX:
                    rows.clear()
                rows[code] = row
        return dict(row) if row is not None else None  # a copy: callers may not change what is remembered


def known_rows(ledger: Ledger) -> KnownRows:
    """The one ``KnownRows`` of ``ledger`` (the app's), made on first use."""
    known = _known.get(ledger)
    if known is None:
        with _known_lock:
            known = _known.get(ledger)
            if known is None:
                known = _known[ledger] = KnownRows(ledger)
    return known
