"""Giving memory back to the system (glibc): big request bodies must not stay in the processes' RSS."""

from __future__ import annotations

import ctypes
import gc
from typing import Any

_libc: Any = None
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 1 << 20


def _c() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None)
    return _libc


def tune_malloc() -> None:
    """Blocks of 1 MiB and more come from (and go back to) mmap. glibc's default threshold grows to 32 MiB
    after the first big block is freed, after which big bodies fragment the heap and stay resident."""
    try:
        _c().mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):
        pass


def give_memory_back() -> None:
    """After a big request: collect, and have glibc return freed heap pages (malloc_trim)."""
    gc.collect()
    try:
        _c().malloc_trim(0)
    except (OSError, AttributeError):
        pass
