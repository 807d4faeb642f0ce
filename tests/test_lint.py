"""The code passes ruff with the rules configured in pyproject.toml."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_finds_nothing():
    if importlib.util.find_spec("ruff") is None:
        if os.environ.get("AUTOQ_REQUIRE_LINT") == "1":
            pytest.fail("ruff is not installed (pip install -e '.[test]') and AUTOQ_REQUIRE_LINT=1")
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "benchmarks", "tools"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, f"ruff check src tests benchmarks tools:\n{done.stdout}{done.stderr}"
