"""Pausing CPython's cyclic garbage collector around bulk work.

The collector runs after every few hundred allocations of container objects and, now and then, walks every
live object. A bulk import or a batch allocates hundreds of thousands of small objects that form no
reference cycles (reference counting frees them), so those walks find nothing and only cost time
(measured: docs/BENCHMARKS.md). Pausing is process-wide, so the pause is shared: the collector comes back
when the last holder leaves, and only if it was running when the first one came. Where holders overlap
without end (a server taking batch after batch on several threads), whoever leaves a pause older than
``PAUSE_MAX_S`` collects once, so cycles made by other work meanwhile are freed all the same.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

PAUSE_MAX_S = 10.0

_lock = threading.Lock()
_holders = 0
_enabled_before = False
_collected_at = 0.0


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    global _holders, _enabled_before, _collected_at
    with _lock:
        if _holders == 0:
            _enabled_before = gc.isenabled()
            _collected_at = time.monotonic()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                if _enabled_before:
                    gc.enable()
            elif _enabled_before and time.monotonic() - _collected_at > PAUSE_MAX_S:
                gc.collect()
                _collected_at = time.monotonic()
