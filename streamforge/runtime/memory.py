"""Process-wide memory settings for a process that runs streams.

Each batch frees and allocates again a few megabytes (payloads, parsed documents, messages).
By default glibc hands freed memory at the top of the heap back to the system once it passes
128 KiB, and every next batch faults it in again page by page; `keep_freed_heap` lets the
process keep it. The modules, plugins and compiled streams that exist when a run starts live
as long as the process, yet every full garbage collection would walk them again, and a batch
allocates thousands of containers, each 700 of which would start a collection;
`tune_garbage_collector` leaves the former out and collects after more allocations.
"""

from __future__ import annotations

import ctypes
import gc
import os
import platform

__all__ = ["keep_freed_heap", "tune_garbage_collector"]

#: mallopt parameters (glibc malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

#: freed heap kept for reuse before glibc gives it back to the system
TRIM_THRESHOLD = 32 << 20
#: allocations at least this large get their own mapping (glibc's default starts at 128 KiB)
MMAP_THRESHOLD = 4 << 20

#: allocations of containers between two collections of the youngest generation (Python: 700)
GC_THRESHOLD = 10_000

#: environment variables through which an operator sets glibc's allocator; they win
_OPERATOR_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


def keep_freed_heap() -> bool:
    """Let glibc keep up to TRIM_THRESHOLD of freed heap instead of returning it at once.

    Does nothing (False) on another C library or when the operator configured glibc's
    allocator through its environment variables.
    """
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if any(name in os.environ for name in _OPERATOR_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )


def tune_garbage_collector() -> None:
    """Leave every object alive now out of later garbage collections (they live for the run),
    and collect the youngest objects every GC_THRESHOLD allocations."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, older, oldest)
