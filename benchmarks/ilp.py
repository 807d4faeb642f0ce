"""Integer program (layer-wise and kernel-wise) against the best uniform policy at latency budgets.

For each model and accelerator: the Fisher sensitivity once, then at every latency budget (a
fraction of the 8-bit model's latency) the layer-wise program's policy, the kernel-wise strategy's
(the best-rewarded of its solutions at 1, 2, ... kernel groups, as ``--agent ilp --granularity kernel``
returns) and every uniform policy on the budget's frontier (for each activation width, the widest weights that
fit); the uniform policy with the best holdout (reward-split) top-1 is "best uniform". All are
scored on the search's reward split (the class-balanced holdout subset) and on the first
``--test-size`` test images (evenly spaced: the set is stored class by class).
Results go to ``benchmarks/RESULTS.md`` (section ``ilp``).

    python benchmarks/ilp.py                                   # resnet20 and mobilenet_v2-cifar, full test set
    python benchmarks/ilp.py --models resnet20 --test-size 2000
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import torch
from _results import RESULTS, record

from autoq.config import SearchConfig
from autoq.data import iterate_batches
from autoq.data.paths import shared_dir
from autoq.engine.distributed import init_distributed
from autoq.engine.loops import evaluate
from autoq.engine.setup import build_workload
from autoq.errors import AutoQError
from autoq.hardware import CostModel, load_accelerator
from autoq.quant import Policy, calibrate, set_policy
from autoq.search.budget import Budget, BudgetSpec
from autoq.search.callbacks import better
from autoq.search.environment import Outcome, QuantEnv, extrinsic_reward
from autoq.search.ilp import group_counts, layer_sensitivity, resource_solution
from autoq.search.program import all_candidates
from autoq.search.rollout import SearchSpace

MODELS = {
    "resnet20": dict(model="resnet20", weights="models/cifar10-jpeg/resnet20.pth"),
    "mobilenet_v2-cifar": dict(model="mobilenet_v2-cifar", pretrained=True),
}


def workload_env(name: str, hw: str, args) -> tuple[SearchConfig, QuantEnv]:
    settings = dict(MODELS[name])
    if "weights" in settings:
        settings["weights"] = str(shared_dir() / settings["weights"])
    cfg = SearchConfig(
        **settings,
        dataset="cifar10-jpeg",
        hardware=hw,
        device=args.device,
        reward_size=args.reward_size,
        sensitivity_images=args.sensitivity_images,
    )
    work = build_workload(cfg)
    ctx = init_distributed(cfg.device)
    env = QuantEnv(work, cfg, CostModel(work.layers, load_accelerator(hw)), ctx)
    n = len(work.splits.test)  # stored class by class: take every (n / test_size)-th image, all classes alike
    picks = np.linspace(0, n - 1, min(args.test_size, n)).round().astype(int).tolist()
    env.test = list(iterate_batches(torch.utils.data.Subset(work.splits.test, picks), cfg.batch_size))
    return cfg, env


def test_top1(env: QuantEnv, policy: Policy | None) -> float:
    """Top-1 of ``policy`` (None: float) on the benchmark's test images, calibrated as the search calibrates."""
    if policy is None:
        return evaluate(env.float_model.to(env.ctx.device), env.test, env.ctx.device).top1
    set_policy(env.qmodel, policy)
    calibrate(env.infer, env.calib)
    return evaluate(env.infer, env.test, env.ctx.device).top1


def uniform_frontier(env: QuantEnv, limit: float) -> list[Policy]:
    """For each activation width, the widest uniform weights within the latency ``limit``."""
    out = []
    for a in range(2, 9):
        for w in range(8, 0, -1):
            p = Policy.uniform(env.layers, w, a)
            if env.cost_model.evaluate(p).latency_s <= limit:
                out.append(p)
                break
    return out


def scored(env: QuantEnv, policy: Policy, ref8: Outcome, psi: dict) -> Outcome:
    """``policy``'s outcome on the reward split with its reward, as the search scores an episode."""
    out = env.score(policy)
    out.reward = extrinsic_reward(out, ref8, psi)
    return out


def program_policy(env: QuantEnv, cands: dict, groups: list[int], budget: Budget, ref8: Outcome, psi: dict) -> Policy:
    """What ``--agent ilp`` returns when it solves at ``groups``: the solution with the best reward."""
    best, best_out = None, {}
    for g in groups:
        sol = resource_solution(cands[g], budget)
        policy = Policy({l.name: w for l, (w, _) in zip(env.layers, sol)}, {l.name: a for l, (_, a) in zip(env.layers, sol)})
        policy.meta["kernel_groups"] = g
        out = scored(env, policy, ref8, psi)
        if better(out, best_out):
            best, best_out = policy, {"reward": out.reward, "latency_s": out.latency_s, "energy_j": out.energy_j}
    return best


def cell(env: QuantEnv, cands: dict, budget: Budget, ref8: Outcome, psi: dict, kernel_groups: int) -> list[dict]:
    """Rows for one budget: best uniform (by reward-split top-1), layer-wise program, kernel-wise program."""
    uniform = max(uniform_frontier(env, budget.limit), key=lambda p: (env.score(p).accuracy, -env.score(p).latency_s))
    rows = [("best uniform", uniform)]
    for gran in ("layer", "kernel"):
        rows.append((f"{gran}-wise program", program_policy(env, cands, group_counts(gran, kernel_groups), budget, ref8, psi)))
    out = []
    for what, policy in rows:
        s = env.score(policy)
        assert budget.met(s), f"{what} exceeds the budget"
        w = np.concatenate(list(policy.weight_bits.values()))
        label = f"{what} (w{int(w[0])}/a{policy.act_bits[env.layers[0].name]})" if what == "best uniform" else what
        if what == "kernel-wise program":
            label += f" ({policy.meta['kernel_groups']} group{'s' if policy.meta['kernel_groups'] > 1 else ''})"
        out.append(
            {
                "policy": label,
                "latency": s.latency_s / ref8.latency_s,
                "holdout": s.accuracy,
                "test": test_top1(env, policy),
                "w": s.avg_w_bits,
                "a": s.avg_a_bits,
            }
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--hardware", nargs="+", default=["temporal", "spatial"])
    ap.add_argument("--budgets", nargs="+", type=float, default=[0.3, 0.5, 0.7])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--test-size", type=int, default=10000, help="test images scored (N evenly spaced of the 10,000)")
    ap.add_argument("--reward-size", type=int, default=500, help="holdout images of the search's reward split")
    ap.add_argument("--sensitivity-images", type=int, default=64)
    ap.add_argument("--kernel-groups", type=int, default=4)
    ap.add_argument("--results", type=Path, default=RESULTS)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    lines, t0 = [], time.time()
    for name in args.models:
        sens = None
        for hw in args.hardware:
            cfg, env = workload_env(name, hw, args)
            ref8 = env.score(Policy.uniform(env.layers, 8, 8))
            sens = sens or layer_sensitivity(cfg, env)
            space = SearchSpace(env.layers, (cfg.w_min, cfg.w_max), (cfg.a_min, cfg.a_max), {})
            cands = {g: all_candidates(space, sens, env.cost_model, g) for g in group_counts("kernel", args.kernel_groups)}
            fl = test_top1(env, None)
            lines.append(f"| {name} | {hw} | float | float32 | | | {100 * fl:.2f} | |")
            lines.append(
                f"| {name} | {hw} | 1.0 | uniform 8/8 | 1.000 | {100 * ref8.accuracy:.2f} | "
                f"{100 * test_top1(env, Policy.uniform(env.layers, 8, 8)):.2f} | 8.00 / 8.00 |"
            )
            for frac in args.budgets:
                budget = Budget(BudgetSpec.parse(f"latency={frac}"), env.cost_model, space, ref8)
                try:
                    budget.check_feasible()
                except AutoQError as e:
                    lines.append(f"| {name} | {hw} | {frac} | infeasible: {str(e).split('; ')[-1]} | | | | |")
                    continue
                for r in cell(env, cands, budget, ref8, cfg.objective(), args.kernel_groups):
                    lines.append(
                        f"| {name} | {hw} | {frac} | {r['policy']} | {r['latency']:.3f} | {100 * r['holdout']:.2f} | "
                        f"{100 * r['test']:.2f} | {r['w']:.2f} / {r['a']:.2f} |"
                    )
                print("\n".join(lines[-3:]), flush=True)
    head = (
        "| model | accelerator | latency budget (of 8-bit) | policy | latency (of 8-bit) | holdout top-1 % | test top-1 % "
        "| avg bits w / a |\n"
        "|---|---|---|---|---|---|---|---|"
    )
    body = (
        f"Reward split: {args.reward_size} class-balanced holdout images; test: {args.test_size} of the 10,000 "
        f"test images, evenly spaced (the set is stored class by class); sensitivity from {args.sensitivity_images} "
        f"calibration images; the kernel-wise program is solved at 1, 2, ... {args.kernel_groups} kernel groups per "
        "layer and returns the solution with the best reward (KL on the reward split), as `--agent ilp --granularity "
        "kernel` does (its group count in brackets); bits w 1..8, a 2..8, no finetuning. "
        f"Total {(time.time() - t0) / 60:.1f} min.\n\n" + head + "\n" + "\n".join(lines)
    )
    record(
        "ilp",
        "Integer program (layer-wise, kernel-wise) vs the best uniform policy at latency budgets",
        body,
        results=args.results,
    )


if __name__ == "__main__":
    main()
