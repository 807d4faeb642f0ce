"""The code passes ruff's linter and formatter with the settings in pyproject.toml."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


FOLDERS = ["src", "tests", "benchmarks", "tools"]


@pytest.mark.parametrize("command", [["check"], ["format", "--check"]], ids=["check", "format"])
def test_ruff_finds_nothing(command: list[str]):
    if importlib.util.find_spec("ruff") is None:
        if os.environ.get("AUTOQ_REQUIRE_LINT") == "1":
            pytest.fail("ruff is not installed (pip install -e '.[test]') and AUTOQ_REQUIRE_LINT=1")
        pytest.skip("ruff is not installed (pip install -e '.[test]')")
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--no-cache", *FOLDERS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    fix = "ruff format" if command[0] == "format" else "ruff check --fix"
    assert done.returncode == 0, f"ruff {' '.join(command)} {' '.join(FOLDERS)} (fix: {fix}):\n{done.stdout}{done.stderr}"
