"""The paper-comparison benchmark end to end at a tiny budget (the full run is recorded in RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_paper_comparison_smoke(resnet20_weights, cifar10_npz, tmp_path):
    results = tmp_path / "RESULTS.md"
    cmd = [sys.executable, str(ROOT / "benchmarks" / "paper_comparison.py"), "--smoke", "--out", str(tmp_path / "runs"),
           "--results", str(results)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    text = results.read_text()
    for needle in ("<!-- begin paper_comparison -->", "layer-wise DDPG (HAQ)", "AutoQ (ζ=0.5)", "resource mode", "accuracy mode",
                   "Equal-accuracy comparison", "Kernel sorting", "- command: `"):
        assert needle in text, needle
    assert (tmp_path / "paper_comparison_resnet20_temporal_resource.png").stat().st_size > 10_000
    # a second call finds every cell finished and only rebuilds the tables
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and again.stdout.count("done:") == 4
