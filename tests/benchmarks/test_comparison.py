"""The comparison's statistics and report: fronts, interpolation, paired intervals, staleness, and
tables that the committed records reproduce byte for byte."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import comparison_records as records  # noqa: E402
import comparison_report as report  # noqa: E402
from comparison_stats import (  # noqa: E402
    Cell,
    accuracy_difference,
    cost_at,
    cost_ratio_at_equal_accuracy,
    front,
    paired_bootstrap,
)


def test_front_keeps_the_points_no_other_dominates():
    points = [(3.0, 0.9), (1.0, 0.5), (2.0, 0.4), (2.5, 0.8), (4.0, 0.85)]
    assert front(points) == [(1.0, 0.5), (2.5, 0.8), (3.0, 0.9)]


def test_cost_is_interpolated_on_the_front_and_undefined_outside_it():
    points = [(1.0, 0.5), (3.0, 0.9)]
    assert cost_at(points, 0.7) == pytest.approx(2.0)
    assert cost_at(points, 0.9) == 3.0 and cost_at(points, 0.5) == 1.0
    assert np.isnan(cost_at(points, 0.95)) and np.isnan(cost_at(points, 0.4))


def _cell(acc: float, latency: float, n: int = 4000, seeds: int = 3, seed: int = 0) -> Cell:
    rng = np.random.default_rng(seed)
    return Cell(rng.random((seeds, n)) < acc, np.full(seeds, latency), np.full(seeds, 2 * latency))


def test_a_real_difference_is_decided_and_no_difference_is_not():
    better, worse = _cell(0.80, 1.0, seed=1), _cell(0.70, 1.0, seed=2)
    est = accuracy_difference(better, worse, resamples=300)
    assert est.low > 0 and est.decided == "+" and est.value == pytest.approx(0.10, abs=0.02)
    same = accuracy_difference(better, better, resamples=300)
    assert same.value == 0 and same.low == 0 and same.high == 0 and same.decided == "~"


def test_paired_bootstrap_is_reproducible_and_its_interval_holds_the_estimate():
    a = paired_bootstrap(lambda s, i: float(np.mean(i)), 3, 1000, resamples=200, seed=5)
    b = paired_bootstrap(lambda s, i: float(np.mean(i)), 3, 1000, resamples=200, seed=5)
    assert a == b and a.low <= a.value <= a.high


def test_latency_at_equal_accuracy_reads_both_fronts_at_the_rivals_accuracy():
    # ours: 0.8 at latency 1, 0.9 at 3; theirs: 0.8 at latency 2 -> at 0.8 we need half their latency
    ours = [
        Cell(np.ones((1, 10), bool) & (np.arange(10) < 8), np.array([1.0]), np.array([1.0])),
        Cell(np.arange(10)[None] < 9, np.array([3.0]), np.array([3.0])),
    ]
    theirs = [Cell(np.arange(10)[None] < 8, np.array([2.0]), np.array([2.0]))]
    est = cost_ratio_at_equal_accuracy(ours, theirs, 0, resamples=50)
    assert est.value == pytest.approx(-0.5)


def _record(strategy: str, seed: int, acc: float, latency: float, digests: dict, budget=0.5) -> dict:
    correct = np.random.default_rng(seed + hash(strategy) % 100).random(200) < acc
    return {
        "format": records.FORMAT,
        "commit": "abc",
        "date": "2026-12-04",
        "machine": "test machine",
        "device": "cpu",
        "digests": digests,
        "tier": "cpu",
        "settings": {},
        "cell": {"model": "resnet20", "hw": "temporal", "mode": "resource", "strategy": strategy, "budget": budget, "seed": seed},
        "episodes": {},
        "returned": {"latency_s": latency, "energy_j": latency, "avg_w_bits": 4.0, "avg_a_bits": 4.0},
        "test": {"n": 200, "top1": float(correct.mean()), "correct": records.pack(correct)},
    }


def _write(root: Path, rec: dict) -> None:
    c = rec["cell"]
    path = records.record_path(root, c["model"], c["hw"], c["mode"], c["strategy"], c["budget"], c["seed"], rec["tier"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as f:
        json.dump(rec, f)


def _files(tmp_path: Path) -> tuple[Path, Path]:
    results, readme = tmp_path / "RESULTS.md", tmp_path / "README.md"
    results.write_text("# R\n\n<!-- begin comparison -->\nold\n<!-- end comparison -->\n")
    readme.write_text("intro\n<!-- begin comparison -->\n<!-- end comparison -->\nend\n")
    return results, readme


def test_report_is_generated_from_records_alone_and_marks_stale_ones(tmp_path):
    root = tmp_path / "records"
    for seed in (0, 1):
        _write(root, _record("autoq", seed, 0.8, 1.0, records.code_digests("autoq")))
        _write(root, _record("haq", seed, 0.6, 1.2, records.code_digests("haq")))
        _write(root, _record("uniform", seed, 0.7, 1.1, {"shared": "old", "strategy": "old"}))
    results, readme = _files(tmp_path)
    strategies = {"uniform": [], "haq": [], "autoq": []}
    report.write_report(root, results, readme, strategies, ["resnet20"])
    first = (results.read_text(), readme.read_text())
    report.write_report(root, results, readme, strategies, ["resnet20"])
    assert (results.read_text(), readme.read_text()) == first  # byte for byte
    text = first[0]
    assert "6 records (2 stale)" in text and "| uniform | 0.5 | 2 |" in text and "stale |" in text
    assert "| haq | 0.5 |" in text and "(higher)" in text  # AutoQ's 0.8 against HAQ's 0.6 on 400 images
    assert "AutoQ against uniform" not in first[1] and "against haq" in first[1]  # stale records are not compared
    assert first[1].startswith("intro\n<!-- begin comparison -->\n- **resnet20, temporal, resource mode")


def test_a_record_of_another_format_is_refused(tmp_path):
    root = tmp_path / "records"
    rec = _record("autoq", 0, 0.8, 1.0, records.code_digests("autoq"))
    rec["format"] = "something else"
    _write(root, rec)
    with pytest.raises(SystemExit, match="not a comparison record"):
        report.write_report(root, *_files(tmp_path), {"autoq": []}, ["resnet20"])


def test_committed_records_reproduce_the_committed_tables(tmp_path):
    results, readme = tmp_path / "RESULTS.md", tmp_path / "README.md"
    shutil.copy(ROOT / "benchmarks" / "RESULTS.md", results)
    shutil.copy(ROOT / "README.md", readme)
    from paper_comparison import MODELS, STRATEGIES

    report.write_report(records.RECORDS, results, readme, STRATEGIES, list(MODELS))
    fix = "regenerate them: python benchmarks/paper_comparison.py --report-only (records go stale when src/ changes)"
    assert results.read_text() == (ROOT / "benchmarks" / "RESULTS.md").read_text(), fix
    assert readme.read_text() == (ROOT / "README.md").read_text(), fix


def test_code_digests_ignore_comments_docstrings_and_formatting_but_not_code(tmp_path, monkeypatch):
    pkg = tmp_path / "autoq"
    (pkg / "search").mkdir(parents=True)
    module = pkg / "search" / "x.py"
    monkeypatch.setattr(records, "SRC", pkg)

    def digest(text: str) -> str:
        module.write_text(text)
        return records._digest([module])

    base = digest('"""Doc."""\n\ndef f(a):\n    """What f does."""\n    return a + 1\n')
    assert digest("def f(a):  # a comment\n\n    return a+1\n") == base
    assert digest("def f(a):\n    return a + 2\n") != base
