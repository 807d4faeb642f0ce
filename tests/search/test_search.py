"""End-to-end searches on the embedded default: the run folder, resume, budgets, errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from autoq.errors import AutoQError
from autoq.quant import Policy
from autoq.runs import folder as rf
from autoq.search import search
from autoq.search.environment import QuantEnv

TIMING = {"eval_s", "agent_s", "cost_s", "episode_s"}


def strip(rows):
    """Rows without their timings, values as text so that NaN (a loss not computed yet) equals NaN."""
    return [{k: repr(v) for k, v in r.items() if k not in TIMING} for r in rows]


def test_tiny_search_writes_a_valid_run_folder(tiny):
    seen = []

    def on_episode(row):  # called once the episode's checkpoint is on disk
        seen.append((row, rf.load_checkpoint(Path(tiny["out"]) / rf.CHECKPOINT)["episode"]))

    result = search(progress=False, on_episode=on_episode, **tiny)
    assert [r for r, _ in seen] == result.episodes and [e for _, e in seen] == [1, 2, 3, 4, 5]
    run = result.run_dir
    for name in (rf.CONFIG, rf.EPISODES, rf.BEST_POLICY, rf.CHECKPOINT, rf.REFERENCES, rf.SUMMARY):
        assert (run / name).exists(), name
    config = yaml.safe_load((run / rf.CONFIG).read_text())
    assert config["episodes"] == 5 and config["agent"] == "autoq" and config["agent_options"]["warmup_episodes"] == 2
    rows = rf.read_rows(run / rf.EPISODES)
    assert [r["episode"] for r in rows] == list(range(5))
    for column in (
        "reward",
        "accuracy",
        "latency_s",
        "energy_j",
        "area",
        "avg_w_bits",
        "avg_a_bits",
        "eval_s",
        "agent_s",
        "cost_s",
    ):
        assert all(isinstance(r[column], float) for r in rows), column
    from autoq.engine.setup import build_model

    layers = build_model().layers
    best = Policy.load(run / rf.BEST_POLICY, layers)
    assert best == result.best_policy
    assert max(r["reward"] for r in rows) == pytest.approx(result.best["reward"])
    state = rf.load_checkpoint(run / rf.CHECKPOINT)
    assert state["episode"] == 5
    refs = json.loads((run / rf.REFERENCES).read_text())
    assert refs["float"]["accuracy"] > 0.9 and refs["uniform8"]["latency_s"] > refs["uniform4"]["latency_s"]


def test_resource_mode_never_exceeds_the_budget(tiny):
    result = search(progress=False, **{**tiny, "budget": "latency=0.3", "agent": "random"})
    limit = result.references["budget"]["limit"]
    assert all(r["latency_s"] <= limit * (1 + 1e-9) and r["within_budget"] for r in result.episodes)


@pytest.mark.parametrize("budget", ["energy=0.5", "size=0.3"])
def test_other_budget_metrics(tiny, budget):
    result = search(progress=False, **{**tiny, "budget": budget, "agent": "random", "episodes": 3})
    metric = {"energy": "energy_j", "size": "size_bits"}[budget.split("=")[0]]
    limit = result.references["budget"]["limit"]
    assert all(r[metric] <= limit * (1 + 1e-9) for r in result.episodes)


def test_infeasible_budget_is_refused_before_the_first_episode(tiny):
    with pytest.raises(
        AutoQError, match=r"cannot be met even at the minimum bits; the smallest feasible is latency=0\.\d+ of the 8-bit model"
    ):
        search(progress=False, **{**tiny, "budget": "latency=0.001"})
    assert not (Path(tiny["out"]) / rf.CHECKPOINT).exists()


def test_interrupted_then_resumed_equals_uninterrupted(tiny, tmp_path, monkeypatch):
    full = search(progress=False, **{**tiny, "out": str(tmp_path / "full")})

    original = QuantEnv.score

    def interrupt_on_fourth(self, policy, episode=0):
        if episode == 3:
            raise KeyboardInterrupt
        return original(self, policy, episode)

    monkeypatch.setattr(QuantEnv, "score", interrupt_on_fourth)
    with pytest.raises(KeyboardInterrupt):
        search(progress=False, **{**tiny, "out": str(tmp_path / "cut")})
    monkeypatch.setattr(QuantEnv, "score", original)
    assert len(rf.read_rows(tmp_path / "cut" / rf.EPISODES)) == 3
    resumed = search(progress=False, resume=True, **{**tiny, "out": str(tmp_path / "cut")})
    assert strip(resumed.episodes) == strip(full.episodes)
    assert resumed.best_policy == full.best_policy


def test_resume_with_other_settings_is_refused(tiny):
    search(progress=False, **{**tiny, "episodes": 1})
    with pytest.raises(AutoQError, match="setting 'seed' is 1 but the run was started with 0"):
        search(progress=False, resume=True, **{**tiny, "seed": 1})
    with pytest.raises(AutoQError, match="already holds a search: pass --resume"):
        search(progress=False, **{**tiny, "episodes": 1})


def test_accuracy_mode_reward(tiny):
    result = search(progress=False, **{**tiny, "mode": "accuracy", "budget": None, "episodes": 2, "agent": "random"})
    refs = result.references["uniform8"]
    for r in result.episodes:
        expected = 2 * math.log(r["score"] / refs["score"]) - 0.5 * (
            math.log(r["latency_s"] / refs["latency_s"])
            + math.log(r["energy_j"] / refs["energy_j"])
            + math.log(r["area"] / refs["area"])
        )
        assert r["reward"] == pytest.approx(expected)


@pytest.mark.parametrize("metric", ["loss", "kl"])
def test_dense_reward_metrics_replace_accuracy_in_the_reward(tiny, metric):
    result = search(progress=False, **{**tiny, "reward_metric": metric, "episodes": 2, "agent": "random"})
    ref = result.references["uniform8"]
    assert 0 < ref["score"] < 1 and ref["score"] != ref["accuracy"]
    for r in result.episodes:
        assert r["reward"] == pytest.approx(math.log(r["score"] / ref["score"]))
        assert 0 < r["score"] <= 1


def test_top1_reward_metric_is_the_accuracy(tiny):
    result = search(progress=False, **{**tiny, "reward_metric": "top1", "episodes": 2, "agent": "random"})
    assert all(r["score"] == r["accuracy"] for r in result.episodes)


def test_warm_start_plays_the_integer_programs_solutions_first(tiny, tmp_path):
    program = search(progress=False, **{**tiny, "agent": "ilp", "out": str(tmp_path / "ilp")})
    warm = search(progress=False, **{**tiny, "warm_start": "ilp"})
    solved = len(program.episodes)  # one per kernel-group count
    assert [r["demonstration"] for r in warm.episodes] == [1] * solved + [0] * (len(warm.episodes) - solved)
    for own, demo in zip(warm.episodes[:solved], program.episodes):
        assert own["score"] == pytest.approx(demo["score"]) and own["latency_s"] == pytest.approx(demo["latency_s"])
    assert warm.best["reward"] >= program.best["reward"] - 1e-12  # the program's policies are among its episodes
    assert "demonstration" not in search(progress=False, **{**tiny, "out": str(tmp_path / "cold")}).episodes[0]


def test_warm_start_needs_a_learning_agent(tiny):
    for agent in ("ilp", "random", "uniform"):
        with pytest.raises(AutoQError, match=f"--warm-start starts a learning agent; --agent {agent}"):
            search(progress=False, **{**tiny, "agent": agent, "warm_start": "ilp"})


@pytest.mark.parametrize("mode", ["once", "episode"])
def test_calibration_once_keeps_the_8_bit_clips(tiny, mode):
    """``once`` (the default) scores every policy with the clips of the 8-bit network; ``episode`` recalibrates."""
    from autoq.quant import quant_modules

    seen = []
    original = QuantEnv.accuracy

    def record_clips(self, policy, episode=0):
        acc = original(self, policy, episode)
        seen.append([float(m.act_upper) for m in quant_modules(self.qmodel).values()])
        return acc

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(QuantEnv, "accuracy", record_clips)
        search(progress=False, **{**tiny, "calibrate": mode, "episodes": 3})
    ranges = {tuple(r) for r in seen}
    assert (len(ranges) == 1) == (mode == "once")
