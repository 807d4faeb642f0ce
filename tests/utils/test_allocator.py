"""The allocator setting: applied on Linux with glibc, left alone when asked."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

CALL = "from autoq.utils.allocator import retain_freed_memory; print(retain_freed_memory())"


def _call(**env: str) -> str:
    # the setting is process-wide and cannot be undone: each check runs in a fresh interpreter
    out = subprocess.run([sys.executable, "-c", CALL], env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the setting is glibc's (mallopt)")
def test_glibc_keeps_freed_memory_unless_told_to_leave_the_allocator_alone():
    assert _call(AUTOQ_MALLOC="") == "True"
    assert _call(AUTOQ_MALLOC="system") == "False"
