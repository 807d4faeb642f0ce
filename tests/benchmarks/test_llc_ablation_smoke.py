"""The LLC ablation on the committed measured task, at two episodes: records, table, optimum."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_llc_ablation_smoke(tmp_path):
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks" / "llc_ablation.py"),
        "--tasks",
        "measured:resnet20",
        "--configs",
        "frozen",
        "haq",
        "--seeds",
        "1",
        "--episodes",
        "2",
        "--jobs",
        "1",
        "--records",
        str(tmp_path),
        "--no-results",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    records = sorted(tmp_path.glob("*.json"))
    assert [p.name for p in records] == ["measured_resnet20-frozen-seed0.json", "measured_resnet20-haq-seed0.json"]
    for p in records:
        r = json.loads(p.read_text())
        assert len(r["rewards"]) == 2 and r["final_reward"] < 0 and r["latency_ratio"] <= 0.5 + 1e-9
    assert "exact optimum reward" in done.stdout and "| frozen | 1 |" in done.stdout and "| haq | 1 |" in done.stdout
