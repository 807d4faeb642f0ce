"""Tiny searches on the networks of the JPEG CIFAR-10 bench, with the reward on holdout images."""

from __future__ import annotations

import pytest

from autoq.search import search


@pytest.mark.parametrize(
    "model,metric",
    [
        ("mobilenet_v2-cifar", "kl"),
        ("resnet18-cifar", "top1"),
        ("squeezenet1_0-cifar", "loss"),
    ],
)
def test_tiny_search_on_each_bench_network(model, metric, jpeg_npz, jpeg_weights, tmp_path):
    jpeg_weights(model.removesuffix("-cifar"))  # skips without the shared weights
    result = search(
        model=model,
        pretrained=True,
        dataset="cifar10-jpeg",
        calib_size=32,
        reward_size=50,
        batch_size=50,
        episodes=2,
        agent="autoq",
        reward_metric=metric,
        budget="latency=0.5",
        agent_options={"warmup_episodes": 1, "hidden": 16},
        out=str(tmp_path / "run"),
        progress=False,
    )
    limit = result.references["budget"]["limit"]
    assert [r["episode"] for r in result.episodes] == [0, 1]
    assert all(r["latency_s"] <= limit * (1 + 1e-9) for r in result.episodes)
    assert all(0 < r["score"] <= 1 for r in result.episodes)
    assert result.references["float"]["n"] == 50 and result.best_policy is not None
