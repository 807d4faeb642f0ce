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
from autoq.search.ilp import group_counts
from autoq.search.program import ACCURACY_LEVELS


def test_ilp_meets_the_budget_and_writes_an_agents_run_folder(tiny, tmp_path):
    kernel = search(progress=False, **{**tiny, "agent": "ilp", "budget": "latency=0.4"})
    for name in (rf.CONFIG, rf.EPISODES, rf.BEST_POLICY, rf.REFERENCES, rf.SUMMARY):
        assert (kernel.run_dir / name).exists(), name
    limit = kernel.references["budget"]["limit"]
    rows = rf.read_rows(kernel.run_dir / rf.EPISODES)
    assert [r["kernel_groups"] for r in rows] == [1, 2, 4]  # the default 4 groups: every count up to it
    assert all(r["within_budget"] and r["latency_s"] <= limit and r["candidates"] > 0 for r in rows)
    from autoq.engine.setup import build_model

    policy = Policy.load(kernel.run_dir / rf.BEST_POLICY, build_model().layers)
    assert policy == kernel.best_policy and policy.meta["strategy"] == "ilp-kernel"
    assert kernel.best["reward"] == max(r["reward"] for r in rows)  # the reward split chooses among the counts
    assert policy.meta["kernel_groups"] == rows[kernel.best["episode"]]["kernel_groups"]
    assert json.loads((kernel.run_dir / rf.SUMMARY).read_text())["episodes"] == 3

    layer = search(
        progress=False,
        **{**tiny, "agent": "ilp", "budget": "latency=0.4", "granularity": "layer", "out": str(tmp_path / "layer")},
    )
    assert all(len(np.unique(w)) == 1 for w in layer.best_policy.weight_bits.values())
    assert len(layer.episodes) == 1 and layer.episodes[0]["latency_s"] <= limit
    # the layer-wise program is the kernel-wise strategy's one-group solution, so it never returns less
    assert kernel.episodes[0]["predicted_loss_increase"] == pytest.approx(layer.episodes[0]["predicted_loss_increase"])
    assert kernel.best["reward"] >= layer.best["reward"]
    # same sensitivity, and every layer-wise choice is a kernel-wise one: finer groups never predict more loss
    predicted = [r["predicted_loss_increase"] for r in rows]
    assert all(b <= a * (1 + 1e-9) for a, b in zip(predicted, predicted[1:]))


def test_group_counts_go_up_in_powers_of_two_to_the_setting():
    assert group_counts("layer", 4) == [1]
    assert group_counts("kernel", 4) == [1, 2, 4]
    assert group_counts("kernel", 6) == [1, 2, 4, 6]
    assert group_counts("kernel", 1) == [1]


def test_ilp_accuracy_mode_scores_a_few_programs_and_keeps_the_best_reward(tiny):
    result = search(progress=False, **{**tiny, "agent": "ilp", "mode": "accuracy", "budget": None, "granularity": "layer"})
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
