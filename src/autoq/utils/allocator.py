"""The C allocator's settings for processes that allocate feature maps by the hundred."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_THRESHOLD = -1, -2, -3
_MiB = 1024 * 1024


def retain_freed_memory() -> bool:
    """Have glibc keep freed feature maps for reuse instead of returning them to the system (Linux).

    By default glibc maps each large block fresh and unmaps it when freed, so every feature map of
    every forward pass starts as untouched pages that the kernel must fault in and zero. On a 2-core
    machine that was a sixth of a ResNet-20 forward pass (benchmarks/RESULTS.md, ``allocator``).
    Blocks up to 256 MiB (32 MiB where glibc allows no more) now come from the heap, and up to 1 GiB
    of freed memory stays with the process. The command line calls this before every command;
    ``AUTOQ_MALLOC=system`` leaves the allocator as it is. Returns whether the setting took effect.
    """
    if os.environ.get("AUTOQ_MALLOC", "").lower() == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...): nothing to tune
        return False
    if not (mallopt(_M_MMAP_THRESHOLD, 256 * _MiB) or mallopt(_M_MMAP_THRESHOLD, 32 * _MiB)):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, 1024 * _MiB) and mallopt(_M_TOP_PAD, 64 * _MiB))
