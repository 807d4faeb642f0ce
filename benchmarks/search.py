"""Episode wall time of a search against one float32 forward pass over the same reward split.

    python benchmarks/search.py                       # ResNet-20 on cifar10-subset and ResNet-50 on synthetic data
    python benchmarks/search.py --cases resnet20 --episodes 10

For each case: the float model's time for one pass over the reward split (in memory, the batch size
the search uses), then a short search with the AutoQ agent; the ratio is the mean time of the last
half of the episodes over the float pass, with the share of evaluation (weight quantization,
calibration, reward-split pass), agent and cost model. The last half, because the agent's cost grows
until both controllers learn: the high-level one starts once its buffer holds a batch of 64 layer
steps (the fifth episode of ResNet-20's 20 layers). The first episode, which also fixes the weight
clips, is reported apart.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402

from _results import RESULTS, record  # noqa: E402
from autoq.data import iterate_batches  # noqa: E402
from autoq.data.paths import shared_dir  # noqa: E402
from autoq.engine.loops import evaluate  # noqa: E402
from autoq.engine.setup import build_workload  # noqa: E402
from autoq.search import SearchConfig, search  # noqa: E402

CASES = {
    "resnet20": dict(
        model="resnet20", weights="models/cifar10/resnet20-12fca82f.th", dataset="cifar10-subset",
        reward_size=1000, calib_size=128, batch_size=250, target=1.5,
    ),
    "resnet50": dict(
        model="resnet50", weights=None, dataset="synthetic", reward_size=512, calib_size=32, batch_size=32, target=1.3,
    ),
}


def float_pass_seconds(work, batch_size: int, repeats: int, fmt: torch.memory_format = torch.contiguous_format) -> float:
    """Fastest of ``repeats`` float passes over the reward split, a copy of the model and the images in layout ``fmt``."""
    model = copy.deepcopy(work.model).to(memory_format=fmt)
    batches = [(x.contiguous(memory_format=fmt), y) for x, y in iterate_batches(work.splits.reward, batch_size)]
    evaluate(model, batches[:1])  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        evaluate(model, batches)
        times.append(time.perf_counter() - t)
    return min(times)


def run_case(name: str, episodes: int, repeats: int) -> dict:
    spec = dict(CASES[name])
    target = spec.pop("target")
    if spec["weights"]:
        root = shared_dir()
        if root is None or not (root / spec["weights"]).exists():
            raise SystemExit(f"{name}: shared weights not found (set AUTOQ_SHARED)")
        spec["weights"] = str(root / spec["weights"])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(**spec, episodes=episodes, agent="autoq", out=tmp, agent_options={"warmup_episodes": episodes})
        work = build_workload(cfg)
        float_s = float_pass_seconds(work, cfg.batch_size, repeats)
        float_cl_s = float_pass_seconds(work, cfg.batch_size, repeats, torch.channels_last)
        del work
        result = search(cfg, progress=False)
    rows = result.episodes
    later = rows[len(rows) // 2 :]
    mean = lambda key: statistics.fmean(r[key] for r in later)  # noqa: E731
    episode_s = mean("episode_s")
    return {
        "case": name, "reward_images": rows[0] and spec["reward_size"], "float_s": float_s,
        "first_episode_s": rows[0]["episode_s"], "episode_s": episode_s, "ratio": episode_s / float_s, "target": target,
        "float_cl_s": float_cl_s, "ratio_cl": episode_s / float_cl_s,
        "eval_share": mean("eval_s") / episode_s, "agent_share": mean("agent_s") / episode_s, "cost_share": mean("cost_s") / episode_s,
        "eval_s": mean("eval_s"), "agent_s": mean("agent_s"), "cost_s": mean("cost_s"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--episodes", type=int, default=10, help="episodes per case (the last half are timed)")
    parser.add_argument("--repeats", type=int, default=3, help="float passes (the fastest counts)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    results = [run_case(c, args.episodes, args.repeats) for c in args.cases]
    lines = [
        f"torch threads: {torch.get_num_threads()}. Episode = rollout (agent + budget limits) + weight quantization + "
        "calibration + reward-split pass + cost model + the agent's learning step. The search evaluates channels-last "
        "on a CPU; the ratio is against the model's float pass as given, the last column against the same float pass "
        "channels-last.",
        "",
        "| case | reward images | float pass s | episode s (first) | episode s | ratio | target | evaluation | agent | cost | "
        "float pass channels-last s | ratio to it |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['case']} | {r['reward_images']} | {r['float_s']:.2f} | {r['first_episode_s']:.2f} | {r['episode_s']:.2f} | "
            f"**{r['ratio']:.2f}** | {r['target']} | {100 * r['eval_share']:.0f} % ({r['eval_s']:.2f} s) | "
            f"{100 * r['agent_share']:.0f} % ({r['agent_s']:.2f} s) | {100 * r['cost_share']:.1f} % ({r['cost_s']:.3f} s) | "
            f"{r['float_cl_s']:.2f} | {r['ratio_cl']:.2f} |"
        )
    body = "\n".join(lines)
    print(body)
    record("search_speed", "Search episode time against one float forward pass (benchmarks/search.py)", body, results=args.results)


if __name__ == "__main__":
    main()
