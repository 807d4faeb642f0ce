"""A fixed seed gives the same episodes: the searches below were recorded once and must not change.

Restructuring the episode (agent, rollout, budget, reward) must leave every decision and every score
as it was. The records were written with ``AUTOQ_WRITE_GOLDEN=1 pytest tests/search/test_search_golden.py``;
rewrite them only for a change that is meant to change the search.
"""

from __future__ import annotations

import gzip
import json
import math
import os
from pathlib import Path

import pytest

from autoq.search import search

GOLDEN = Path(__file__).parent / "golden"
TIMING = {"eval_s", "agent_s", "cost_s", "episode_s"}
AGENT = {"warmup_episodes": 3, "hidden": 16}

CASES = {
    "digits-autoq-latency": {"agent": "autoq", "budget": "latency=0.5", "episodes": 7, "agent_options": AGENT},
    "digits-hiro-accuracy": {"agent": "hiro", "mode": "accuracy", "budget": None, "episodes": 6, "agent_options": AGENT},
    "digits-haq-energy": {"agent": "haq", "budget": "energy=0.4", "episodes": 6, "agent_options": AGENT, "keep_first_last": 8},
    "resnet20-autoq-latency": {
        "model": "resnet20",
        "dataset": "cifar10-subset",
        "calib_size": 64,
        "reward_size": 100,
        "batch_size": 100,
        "agent": "autoq",
        "budget": "latency=0.4",
        "episodes": 5,
        "agent_options": AGENT,
        "seed": 7,
    },
    "digits-autoq-reward-finetune": {
        "dataset": "digits",
        "calib_size": 64,
        "reward_size": 200,
        "batch_size": 200,
        "agent": "autoq",
        "budget": "latency=0.5",
        "episodes": 5,
        "agent_options": AGENT,
        "reward_finetune_batches": 2,
    },
}


def _record(result) -> dict:
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in result.episodes]
    return {"episodes": rows, "best_policy": result.best_policy.to_dict() if result.best_policy else None}


def _same(a, b, where: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, rel=1e-5, abs=1e-9), where
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            _same(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fixed_seed_gives_the_recorded_episodes(case, default_cache, tmp_path, request):
    settings = {**CASES[case], "out": str(tmp_path / "run")}
    if settings.get("model") == "resnet20":
        weights = request.getfixturevalue("resnet20_weights")
        settings.update(weights=str(weights), data_dir=str(request.getfixturevalue("cifar10_npz").parent))
    record = json.loads(json.dumps(_record(search(progress=False, **settings))))  # as stored: lists, not arrays
    path = GOLDEN / f"{case}.json.gz"
    if os.environ.get("AUTOQ_WRITE_GOLDEN") == "1":
        with gzip.open(path, "wt") as f:
            json.dump(record, f, indent=0, sort_keys=True)
    with gzip.open(path, "rt") as f:
        _same(record, json.load(f), case)
