"""Pausing CPython's cyclic garbage collector around bulk work.

The collector runs after every few hundred allocations of container objects and, now and then, walks every
live object. A bulk import or a batch allocates hundreds of thousands of small objects that form no
reference cycles (reference counting frees them), so those walks find nothing and cost 20-30% of the work
(measured: docs/BENCHMARKS.md). Pausing is process-wide, so the pause is shared: the collector comes back
when the last holder leaves, and only if it was running when the first one came.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_enabled_before = False


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    global _holders, _enabled_before
    with _lock:
        if _holders == 0:
            _enabled_before = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _enabled_before:
                gc.enable()
