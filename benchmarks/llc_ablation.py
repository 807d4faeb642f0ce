"""Does the low-level controller learn? Six agent configurations on the measured task and on the real bench.

Configurations (the same episodes for all):

- (a) ``paper``: ``--agent-preset paper`` (the paper's card: no prior, LLC noise = HLC noise, ...);
- (b) ``defaults``: AutoQ at today's defaults (goal prior with the std spread, residual penalty);
- (c) ``frozen``: the defaults with the LLC never updated (it stays at its initial actor: the prior
  plus the untrained residual network's small output): what the rule alone achieves;
- (c') ``prior`` (measured task only): (c) with the residual network's output layer zeroed, so the
  LLC is exactly the prior;
- (d) ``no-prior``: the defaults without the prior: the LLC's actor alone places the bits;
- (e) ``hiro``: the same agent with HIRO's goal-only low-level reward (zeta = 0);
- (f) ``haq``: layer-wise DDPG with the single-controller improvements it has (updates per episode,
  reward standardisation and clipping; it has no joint critic).

On the real bench only, the warm start (``--warm-start ilp``, section ``warm_start``): ``warm`` is (b)
and ``haq-warm`` is (f), each playing the integer program's solutions as its first episodes; ``ilp`` is
the program alone (``--agent ilp``), for reference.

    python benchmarks/llc_ablation.py --tasks bench:resnet20 --configs defaults warm haq haq-warm ilp \
        --episodes 100 --seeds 3 --reward-metric kl --records benchmarks/warm_start --section warm_start

Tasks: ``measured:<model>``, the measured synthetic task of ``autoq.tasks.measured`` (table from
``benchmarks/measure_damage.py``; reward -KL, latency budget, exact optimum by integer programming);
``bench:<model>``, the real search (``autoq.search``: JPEG CIFAR-10, resource mode at 0.5 of the
8-bit latency, temporal accelerator), whose returned policy is then evaluated on the holdout and
test splits. One JSON record per run in ``--records`` (default benchmarks/llc_ablation/); the
table (mean and spread over seeds) goes to RESULTS.md (section ``llc_ablation``) unless --no-results.

    python benchmarks/llc_ablation.py --tasks measured:resnet20 --episodes 400 --seeds 3 --jobs 2
    python benchmarks/llc_ablation.py --tasks bench:resnet20 bench:mobilenet_v2-cifar --episodes 400 \\
        --seeds 3 --jobs 14 --device cuda
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from autoq.data.paths import shared_dir  # noqa: E402

SHARED = shared_dir() or HERE.parent.parent / "shared"
CONFIGS: dict[str, tuple[str, dict]] = {
    "paper": ("autoq", {"preset": "paper"}),
    "defaults": ("autoq", {}),
    "frozen": ("autoq", {"kernel_updates_per_episode": 0}),
    "prior": ("autoq", {"kernel_updates_per_episode": 0}),  # and the residual's output layer zeroed: exactly the prior
    "no-prior": ("autoq", {"goal_prior": False}),
    "hiro": ("hiro", {}),
    "haq": ("haq", {}),
    "warm": ("autoq", {}),
    "haq-warm": ("haq", {}),
    "ilp": ("ilp", {}),
}
SEARCH = {"warm": {"warm_start": "ilp"}, "haq-warm": {"warm_start": "ilp"}}  # search settings beside the agent's
BENCH_ONLY = ("warm", "haq-warm", "ilp")
BENCH_MODELS = {
    "resnet20": {"model": "resnet20", "weights": str(SHARED / "models/cifar10-jpeg/resnet20.pth")},
    "mobilenet_v2-cifar": {"model": "mobilenet_v2-cifar", "pretrained": True},
}


def zero_residual(agent) -> None:
    """Zero the LLC actor's last layer (and its target's): the actor's output is then exactly its prior."""
    import torch

    with torch.no_grad():
        for net in (agent.low.actor, agent.low.actor_target):
            net.body[-1].weight.zero_()
            net.body[-1].bias.zero_()
    agent.low._np_actor = None


def run_measured(model: str, config: str, seed: int, episodes: int, budget: float) -> dict:
    """One agent configuration on the measured task of ``model``: rewards per episode, final greedy reward, optimum."""
    import torch

    from autoq.agents import AgentConfig, create_agent
    from autoq.agents.presets import apply_preset
    from autoq.tasks.measured import MeasuredTask

    torch.set_num_threads(1)
    task = MeasuredTask.load(HERE / f"damage_{model}.npz", budget=budget)
    name, options = CONFIGS[config]
    agent = create_agent(name, task.spec, AgentConfig(**apply_preset(options)), seed=seed)
    if config == "prior":
        zero_residual(agent)
    t0 = time.perf_counter()
    rewards = [task.run_episode(agent).reward for _ in range(episodes)]
    seconds = time.perf_counter() - t0
    greedy = task.run_episode(agent, explore=False)
    return {
        "task": f"measured:{model}",
        "config": config,
        "seed": seed,
        "episodes": episodes,
        "rewards": rewards,
        "final_reward": greedy.reward,
        "best_reward": max(rewards),
        "seconds": seconds,
        "latency_ratio": task.latency(greedy.w_bits, greedy.a_bits) / task.latency_ref(),
    }


def run_bench(
    model: str, config: str, seed: int, episodes: int, device: str, reward_metric: str, out: Path, warmup: int | None = None
) -> dict:
    """One agent configuration on the real search; the returned policy's holdout and test top-1.

    ``warmup``: the agents' episodes at constant noise (None: the agent's default)."""
    import torch

    from autoq.data import iterate_batches
    from autoq.engine.loops import evaluate
    from autoq.engine.setup import attach_data, build_model
    from autoq.quant import apply_policy, calibrate
    from autoq.search import search

    torch.set_num_threads(1)
    name, options = CONFIGS[config]
    if warmup is not None and name != "ilp":
        options = {**options, "warmup_episodes": warmup}
    kw = BENCH_MODELS[model]
    t0 = time.perf_counter()
    result = search(
        dataset="cifar10-jpeg",
        agent=name,
        agent_options=options,
        episodes=episodes,
        seed=seed,
        device=device,
        mode="resource",
        budget="latency=0.5",
        hardware="temporal",
        reward_metric=reward_metric,
        out=str(out / f"{model}-{config}-seed{seed}"),
        progress=False,
        **kw,
        **SEARCH.get(config, {}),
    )
    seconds = time.perf_counter() - t0
    record = {
        "task": f"bench:{model}",
        "config": config,
        "seed": seed,
        "episodes": episodes,
        "seconds": seconds,
        "reward_metric": reward_metric,
        "warmup": warmup,
        "device": device,
        "rewards": [float(e["reward"]) for e in result.episodes],
        "final_reward": float(result.best.get("reward", float("nan"))),
        "best_reward": float(result.best.get("reward", float("nan"))),
        "from_demonstration": bool(result.best and result.episodes[result.best["episode"]].get("demonstration", 0)),
        # the best of the agent's own episodes, the demonstrations left out
        "own_best_reward": max((float(e["reward"]) for e in result.episodes if not e.get("demonstration", 0)), default=None),
    }
    if result.best_policy is not None:
        work = build_model(kw["model"], kw.get("weights"), kw.get("pretrained", False))
        attach_data(work, "cifar10-jpeg", seed=seed)
        q = apply_policy(work.model, result.best_policy).to(device)
        calibrate(q, iterate_batches(work.splits.calib, 250), device)
        record["holdout_top1"] = evaluate(q, iterate_batches(work.splits.holdout, 250), device).top1
        record["test_top1"] = evaluate(q, iterate_batches(work.splits.test, 250), device).top1
    return record


def run_job(job: dict) -> dict:
    kind, model = job["task"].split(":", 1)
    if kind == "measured" and job["config"] in BENCH_ONLY:
        raise SystemExit(f"the {job['config']!r} configuration runs on the real bench only")
    if kind == "measured":
        rec = run_measured(model, job["config"], job["seed"], job["episodes"], job["budget"])
    elif job["config"] == "prior":
        raise SystemExit("the 'prior' configuration runs on the measured task only")
    else:
        rec = run_bench(
            model,
            job["config"],
            job["seed"],
            job["episodes"],
            job["device"],
            job["reward_metric"],
            Path(job["records"]) / "runs",
            job["warmup"],
        )
    path = Path(job["records"]) / f"{job['task'].replace(':', '_')}-{job['config']}-seed{job['seed']}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rec))
    os.replace(tmp, path)
    return rec


def table(records: list[dict], optimum: dict[str, dict]) -> str:
    """Markdown table: per task and configuration, mean and spread (min..max) over seeds."""
    lines = []
    for task in sorted({r["task"] for r in records}):
        opt = optimum.get(task)
        episodes = sorted({r["episodes"] for r in records if r["task"] == task})
        metric = sorted({r.get("reward_metric", "kl") for r in records if r["task"] == task and r["task"].startswith("bench:")})
        head = f"**{task}**, {'/'.join(map(str, episodes))} episodes a run" + (
            f", reward metric {'/'.join(metric)}" if metric else ""
        )
        warmups = sorted({r["warmup"] for r in records if r["task"] == task and r.get("warmup") is not None})
        head += f", agents' warm-up {'/'.join(map(str, warmups))} episodes" if warmups else ""
        head += f"; exact optimum reward {opt['kernel']:.4f} (kernel-wise), {opt['layer']:.4f} (layer-wise)" if opt else ""
        lines += [
            head,
            "",
            "| config | seeds | final reward | spread (max-min) | best seen | KL / optimal KL | holdout top-1 | test top-1 "
            "| returned a demonstration | best own episode | s/run |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for config in CONFIGS:
            rs = [r for r in records if r["task"] == task and r["config"] == config]
            if not rs:
                continue
            f = np.array([r["final_reward"] for r in rs])
            b = np.array([r["best_reward"] for r in rs])
            h = [r["holdout_top1"] for r in rs if "holdout_top1" in r]
            t = [r["test_top1"] for r in rs if "test_top1" in r]
            pct = lambda v: f"{100 * np.mean(v):.2f} % (±{100 * (max(v) - min(v)) / 2:.2f})" if v else "-"  # noqa: E731
            times = f"{f.mean() / opt['kernel']:.2f}" if opt else "-"  # the measured task's reward is -KL
            demos = f"{sum(r.get('from_demonstration', False) for r in rs)}/{len(rs)}" if config in SEARCH else "-"
            own = [r["own_best_reward"] for r in rs if r.get("own_best_reward") is not None]
            own_text = f"{np.mean(own):.4f}" if own and config != "ilp" else "-"
            lines.append(
                f"| {config} | {len(rs)} | {f.mean():.4f} | {f.max() - f.min():.4f} | {b.mean():.4f} | {times} | "
                f"{pct(h)} | {pct(t)} | {demos} | {own_text} | "
                f"{np.mean([r['seconds'] for r in rs]):.0f} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["measured:resnet20"], help="measured:<model> and/or bench:<model>")
    ap.add_argument("--models", nargs="+", default=None, help="shorthand: measured and bench tasks of these models")
    ap.add_argument(
        "--configs", nargs="+", default=[c for c in CONFIGS if c != "prior" and c not in BENCH_ONLY], choices=list(CONFIGS)
    )
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--episodes", type=int, default=400)
    ap.add_argument("--jobs", type=int, default=2, help="processes running configurations side by side")
    ap.add_argument("--device", default="cpu", help="device of the real bench's evaluations (cuda on a GPU machine)")
    ap.add_argument("--budget", type=float, default=0.5, help="latency budget of the measured task (fraction of 8-bit)")
    ap.add_argument("--reward-metric", default="top1", choices=("top1", "loss", "kl"))
    ap.add_argument("--records", default=str(HERE / "llc_ablation"))
    ap.add_argument("--warmup", type=int, default=None, help="real bench: the agents' warm-up episodes (default: theirs)")
    ap.add_argument("--no-results", action="store_true")
    ap.add_argument("--section", default="llc_ablation", help="RESULTS.md section: llc_ablation, or warm_start")
    ap.add_argument(
        "--table-only", action="store_true", help="run nothing: rebuild the table from the records already in --records"
    )
    args = ap.parse_args(argv)
    tasks = list(args.tasks) if args.models is None else [f"{k}:{m}" for m in args.models for k in ("measured", "bench")]
    Path(args.records).mkdir(parents=True, exist_ok=True)
    jobs = [
        dict(
            task=t,
            config=c,
            seed=s,
            episodes=args.episodes,
            budget=args.budget,
            device=args.device,
            reward_metric=args.reward_metric,
            warmup=args.warmup,
            records=args.records,
        )
        for t in tasks
        for s in range(args.seeds)
        for c in args.configs
    ]
    t0 = time.perf_counter()
    if args.table_only:
        records = [json.loads(p.read_text()) for p in sorted(Path(args.records).glob("*.json"))]
        records = [r for r in records if r["task"] in tasks and r["config"] in args.configs]
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            records = list(pool.map(run_job, jobs))
    optimum = {}
    for t in tasks:
        if t.startswith("measured:"):
            from autoq.tasks.measured import MeasuredTask

            task = MeasuredTask.load(HERE / f"damage_{t.split(':', 1)[1]}.npz", budget=args.budget)
            optimum[t] = {"kernel": task.optimum("kernel").reward, "layer": task.optimum("layer").reward}
    text = table(records, optimum)
    print(text)
    if not args.no_results:
        from _results import record

        done = (
            f"{len(records)} runs"
            if args.table_only
            else f"{len(jobs)} runs, {args.jobs} processes, {time.perf_counter() - t0:.0f} s in all"
        )
        body = (
            f"{done}. Final reward: the greedy policy after the last episode (measured task, reward = -KL) or the "
            "returned policy, the best within the budget (real bench: temporal accelerator, latency budget 0.5, reward "
            "on the holdout subset by the metric named); spread: max - min over seeds; top-1: mean (± half the range "
            "over seeds) of the returned policy without finetuning, holdout on all 5,000 images, test on all 10,000.\n\n" + text
        )
        titles = {"warm_start": "Warm start from the integer program (benchmarks/llc_ablation.py)"}
        record(args.section, titles.get(args.section, "Low-level controller ablation (benchmarks/llc_ablation.py)"), body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
