"""The README's two commands: the CI script runs exactly the test command, and both set themselves up."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    demo, tests = blocks[0].strip(), blocks[1].strip()
    assert demo.startswith("python3 -m venv .venv") and demo.endswith("autoq demo")
    assert tests.startswith("python3 -m venv .venv") and "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == tests
    assert "export AUTOQ_REQUIRE_SHARED=1" in ci
