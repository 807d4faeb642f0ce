"""``search(agent="ilp")`` end to end on the embedded default: budget, run folder, modes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autoq.errors import AutoQError
from autoq.quant import Policy
from autoq.runs import folder as rf
from autoq.search import search
from autoq.search.program import ACCURACY_LEVELS


def test_ilp_meets_the_budget_and_writes_an_agents_run_folder(tiny, tmp_path):
    kernel = search(progress=False, **{**tiny, "agent": "ilp", "budget": "latency=0.4"})
    for name in (rf.CONFIG, rf.EPISODES, rf.BEST_POLICY, rf.REFERENCES, rf.SUMMARY):
        assert (kernel.run_dir / name).exists(), name
    limit = kernel.references["budget"]["limit"]
    (row,) = rf.read_rows(kernel.run_dir / rf.EPISODES)
    assert row["within_budget"] and row["latency_s"] <= limit and row["candidates"] > 0
    from autoq.engine.setup import build_model

    policy = Policy.load(kernel.run_dir / rf.BEST_POLICY, build_model().layers)
    assert policy == kernel.best_policy and policy.meta["strategy"] == "ilp-kernel"
    assert json.loads((kernel.run_dir / rf.SUMMARY).read_text())["episodes"] == 1

    layer = search(
        progress=False,
        **{**tiny, "agent": "ilp", "budget": "latency=0.4", "granularity": "layer", "out": str(tmp_path / "layer")},
    )
    assert all(len(np.unique(w)) == 1 for w in layer.best_policy.weight_bits.values())
    assert layer.episodes[0]["latency_s"] <= limit
    # same sensitivity, and every layer-wise choice is a kernel-wise one
    assert kernel.episodes[0]["predicted_loss_increase"] <= layer.episodes[0]["predicted_loss_increase"] * (1 + 1e-9)


def test_ilp_accuracy_mode_scores_a_few_programs_and_keeps_the_best_reward(tiny):
    result = search(progress=False, **{**tiny, "agent": "ilp", "mode": "accuracy", "budget": None})
    rows = result.episodes
    assert 1 < len(rows) <= ACCURACY_LEVELS
    assert result.best["reward"] == max(r["reward"] for r in rows)
    latencies = [r["latency_s"] for r in rows]
    assert latencies[0] < latencies[-1]  # cheapest program first, costliest last


def test_ilp_refuses_an_infeasible_budget_with_the_smallest_feasible(tiny):
    with pytest.raises(AutoQError, match=r"the smallest feasible is latency=0\.\d+"):
        search(progress=False, **{**tiny, "agent": "ilp", "budget": "latency=0.001"})
    assert not (Path(tiny["out"]) / rf.EPISODES).exists()


def test_ilp_settings_are_checked(tiny):
    with pytest.raises(AutoQError, match="--kernel-groups"):
        search(progress=False, **{**tiny, "agent": "ilp", "kernel_groups": 0})
