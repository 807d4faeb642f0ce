"""Learning on the synthetic task with a known optimum, at the paper's budget, for every agent.

Each agent runs ``--episodes`` exploring episodes (default 400: 100 at constant noise, then 300 with
decaying noise, the paper's schedule) on ``--seeds`` random tasks, through the same interface the
search drives. Reported per agent, averaged over seeds and relative to the task's optimum (known in
closed form, see ``autoq.tasks.synthetic``): the greedy (noise-free) policy's reward at the end,
the mean reward of the last 10 exploring episodes, and the best reward seen. The best layer-wise and
network-wise configurations are reported too: an agent must beat the layer-wise optimum to show it
uses kernel-wise precision at all. Writes the learning curves to ``benchmarks/agents_synthetic.png``
and the table to RESULTS.md (section ``agents_synthetic``).

    python benchmarks/agents_synthetic.py [--episodes 400] [--seeds 3] [--jobs 2] [--cache DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

AGENTS = ("autoq", "hiro", "haq", "ddpg-kernel", "random", "uniform")
TASK = dict(n_layers=8, channels=(8, 16, 24, 32))  # 9 layers, about 180 kernels


def run_one(name: str, seed: int, episodes: int, config: dict, task_kw: dict) -> dict:
    """One agent on one seed's task: the reward of every episode and the final greedy reward."""
    import torch

    from autoq.agents import AgentConfig, create_agent
    from autoq.tasks.synthetic import SyntheticTask

    torch.set_num_threads(1)
    task = SyntheticTask.make(seed=seed, **task_kw)
    agent = create_agent(name, task.spec, AgentConfig(**config), seed=seed)
    t0 = time.perf_counter()
    rewards = [task.run_episode(agent).reward for _ in range(episodes)]
    seconds = time.perf_counter() - t0
    greedy = task.run_episode(agent, explore=False).reward
    return {
        "name": name,
        "seed": seed,
        "rewards": rewards,
        "greedy": greedy,
        "optimum": task.optimum("kernel").reward,
        "layer": task.optimum("layer").reward,
        "network": task.optimum("network").reward,
        "seconds": seconds,
    }


def plot(curves: dict[str, np.ndarray], path: Path, layer: float, network: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for name, c in curves.items():
        k = 10
        smooth = np.convolve(c, np.ones(k) / k, mode="valid")
        ax.plot(np.arange(k, len(c) + 1), smooth, label=name)
    ax.axhline(1.0, color="k", lw=1, label="kernel-wise optimum")
    ax.axhline(0.95, color="k", lw=1, ls=":", label="95 % of the optimum")
    ax.axhline(layer, color="grey", lw=1, ls="--", label="layer-wise optimum")
    ax.axhline(network, color="grey", lw=1, ls="-.", label="network-wise optimum")
    ax.set_ylim(-1.0, 1.1)
    ax.set_xlabel("episode")
    ax.set_ylabel("reward / optimal reward (mean of seeds, 10-episode average)")
    ax.set_title("Agents on the synthetic task (reward 0 = all 8 bits)")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=400)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2, help="processes (one thread each)")
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument("--config", default="{}", help="AgentConfig overrides as JSON, for every agent")
    parser.add_argument("--task", default=json.dumps(TASK), help="SyntheticTask.make arguments as JSON")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write RESULTS.md or the PNG")
    parser.add_argument(
        "--cache", type=Path, default=None, help="folder keeping each finished (agent, seed) run, so a rerun resumes"
    )
    args = parser.parse_args()
    from autoq.agents import AgentConfig

    config, task_kw = json.loads(args.config), json.loads(args.task)
    names = args.agents.split(",")
    jobs = [(n, s) for n in names for s in range(args.seeds)]
    key = json.dumps([args.episodes, config, task_kw], sort_keys=True)
    cached = {}
    if args.cache:
        args.cache.mkdir(parents=True, exist_ok=True)
        for n, s in jobs:
            f = args.cache / f"{n}-s{s}.json"
            if f.exists() and (r := json.loads(f.read_text()))["key"] == key:
                cached[(n, s)] = r
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = {j: pool.submit(run_one, *j, args.episodes, config, task_kw) for j in jobs if j not in cached}
        for (n, s), f in futures.items():
            cached[(n, s)] = {**f.result(), "key": key}
            if args.cache:
                (args.cache / f"{n}-s{s}.json").write_text(json.dumps(cached[(n, s)]))
    results = [cached[j] for j in jobs]

    rows, curves = [], {}
    layer = float(np.mean([r["layer"] / r["optimum"] for r in results]))
    network = float(np.mean([r["network"] / r["optimum"] for r in results]))
    for name in names:
        rs = [r for r in results if r["name"] == name]
        rel = np.array([np.array(r["rewards"]) / r["optimum"] for r in rs])
        curves[name] = rel.mean(0)
        greedy = np.mean([r["greedy"] / r["optimum"] for r in rs])
        last10 = rel[:, -10:].mean()
        best = rel.max(1).mean()
        secs = np.mean([r["seconds"] for r in rs]) / args.episodes
        rows.append((name, greedy, last10, best, secs))
        print(
            f"{name:12s} greedy {greedy:6.3f}  last-10 {last10:6.3f}  best {best:6.3f}  ({secs * 1e3:.0f} ms/episode)", flush=True
        )
    print(f"layer-wise optimum {layer:.3f}, network-wise optimum {network:.3f} (relative to the kernel-wise optimum)")

    cfg = dataclasses.replace(AgentConfig(), **config)
    body = (
        f"Synthetic task `SyntheticTask.make({', '.join(f'{k}={v}' for k, v in task_kw.items())}, seed=s)`, "
        f"s = 0..{args.seeds - 1}; {args.episodes} episodes per agent; AgentConfig defaults"
        + (f" with {config}" if config else "")
        + f" (noise {cfg.noise}, constant for {cfg.warmup_episodes} episodes, then x{cfg.noise_decay} per episode). "
        "Rewards are relative to each seed's kernel-wise optimum (1.0 = optimal, 0 = all 8 bits), then "
        "averaged over seeds. *greedy*: the noise-free policy after the last episode; *last 10*: mean of "
        "the last 10 exploring episodes; *best*: best episode seen.\n\n"
        "| agent | greedy | last 10 | best | ms / episode |\n| --- | --- | --- | --- | --- |\n"
        + "\n".join(f"| {n} | {g:.3f} | {l:.3f} | {b:.3f} | {s * 1e3:.0f} |" for n, g, l, b, s in rows)
        + f"\n| *layer-wise optimum* | {layer:.3f} | | | |\n| *network-wise optimum* | {network:.3f} | | | |\n\n"
        "Learning curves: `benchmarks/agents_synthetic.png`."
    )
    if not args.no_record:
        from _results import record

        plot(curves, HERE / "agents_synthetic.png", layer, network)
        record("agents_synthetic", "Agents on the synthetic task (known optimum)", body)


if __name__ == "__main__":
    main()
