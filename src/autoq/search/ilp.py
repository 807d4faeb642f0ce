"""The ``--agent ilp`` strategy inside :func:`autoq.search.search`: solve, score, write the run folder.

It takes the place of the episode loop: the sensitivity estimate and the integer program
(:mod:`autoq.search.program`) give one policy in resource mode and a few in accuracy mode, at each
kernel-group count (:func:`group_counts`: one, the layer-wise program; several for
``--granularity kernel``); each is scored by the search's own environment and recorded as one row of
``episodes.csv``, and the best within the budget becomes ``best_policy.json``, so that report,
export and finetune read the folder as they read an agent's.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import torch

from autoq.config import SearchConfig
from autoq.engine.distributed import broadcast
from autoq.quant import Policy
from autoq.runs import folder as rf
from autoq.search.callbacks import better as _better
from autoq.search.candidates import LayerCandidates
from autoq.search.environment import Outcome, QuantEnv, extrinsic_reward
from autoq.search.program import ACCURACY_LEVELS, accuracy_programs, all_candidates, choose, weighted_cost
from autoq.search.rollout import SearchSpace
from autoq.search.sensitivity import QuantizerTables, Sensitivity, estimate_sensitivity

log = logging.getLogger("autoq.search")

BUDGET_COLUMN = {"latency": 0, "energy": 1, "area": 2, "size": 3}


def layer_sensitivity(cfg: SearchConfig, env: QuantEnv) -> Sensitivity:
    """The Fisher sensitivity of ``env``'s model on its first ``--sensitivity-images`` calibration images."""
    images = torch.cat([x.float().contiguous() for x in env.calib])[: cfg.sensitivity_images]
    tables = QuantizerTables.of(env.qmodel, env.layers)
    return estimate_sensitivity(env.float_model, env.layers, images.split(cfg.batch_size), tables, seed=cfg.seed)


def group_counts(granularity: str, kernel_groups: int) -> list[int]:
    """Kernel groups per layer the program is solved at: 1 (layer-wise), or 1, 2, 4, ... and ``kernel_groups``.

    The kernel-wise strategy solves every count and keeps the solution that scores best on the reward
    split: each program is optimal for the sensitivity *estimate*, which is least accurate at the
    fewest bits that finer groups reach for, so the estimate alone cannot tell whether splitting a
    layer's kernels pays. One group is the layer-wise program, so the kernel-wise strategy never
    returns a policy that scores below the layer-wise one.
    """
    if granularity == "layer":
        return [1]
    counts, g = {1, kernel_groups}, 2
    while g < kernel_groups:
        counts.add(g)
        g *= 2
    return sorted(counts)


def solve(
    cands: list[LayerCandidates], budget, references: dict, psi: dict, device_bram36: int
) -> list[list[tuple[np.ndarray, int]]]:
    """The program's solutions: one in resource mode, ``ACCURACY_LEVELS`` in accuracy mode."""
    if budget is not None:
        return [resource_solution(cands, budget)]
    return accuracy_programs(cands, weighted_cost(cands, references["uniform8"], psi, device_bram36), ACCURACY_LEVELS)


def plan(cfg: SearchConfig, env: QuantEnv, space: SearchSpace, budget, references: dict, psi: dict) -> tuple[list[Policy], dict]:
    """The program's policies (every solved program at every group count) and the time each step took."""
    t0 = time.perf_counter()
    sens = layer_sensitivity(cfg, env)
    t1 = time.perf_counter()
    cands = {g: all_candidates(space, sens, env.cost_model, g) for g in group_counts(cfg.granularity, cfg.kernel_groups)}
    t2 = time.perf_counter()
    solutions = [(g, sol) for g, c in cands.items() for sol in solve(c, budget, references, psi, env.cost_model.device_bram36())]
    t3 = time.perf_counter()
    policies = []
    for g, sol in solutions:
        policy = space.policy([w.copy() for w, _ in sol], [a for _, a in sol])
        policy.meta["sensitivity"] = sens.policy_cost([w for w, _ in sol], [a for _, a in sol])
        policy.meta["kernel_groups"] = g
        policies.append(policy)
    timing = {
        "sensitivity_s": t1 - t0,
        "candidates_s": t2 - t1,
        "solve_s": t3 - t2,
        "candidates": int(sum(len(c.a_bits) for cs in cands.values() for c in cs)),
    }
    log.info("ilp: sensitivity %.1fs, %d candidates in %.1fs, solved in %.1fs", t1 - t0, timing["candidates"], t2 - t1, t3 - t2)
    return policies, timing


def resource_solution(cands: list[LayerCandidates], budget) -> list[tuple[np.ndarray, int]]:
    """The least sensitive policy within ``budget`` (a :class:`autoq.search.budget.Budget`)."""
    column = BUDGET_COLUMN[budget.spec.metric]
    room = budget.tracker.limit - budget.tracker.fixed
    return choose(cands, [c.costs[:, column] for c in cands], room)


def program_search(
    cfg: SearchConfig,
    env: QuantEnv,
    space: SearchSpace,
    budget,
    references: dict,
    ref8: Outcome,
    psi: dict,
    run_dir,
    ctx,
    model_name: str,
) -> tuple[list[dict], dict]:
    """Solve, score every solution on the reward split, write ``episodes.csv`` and ``best_policy.json``."""

    planned = plan(cfg, env, space, budget, references, psi) if ctx.is_main else None
    policies, timing = broadcast(planned, ctx)
    rows: list[dict] = []
    best: dict = {}
    for k, policy in enumerate(policies):
        t_start = time.perf_counter()
        out = env.score(policy, k)
        if not ctx.is_main:
            continue
        out.reward = extrinsic_reward(out, ref8, psi)
        within = budget.met(out) if budget else True
        row = {
            "episode": k,
            **out.metrics(),
            "within_budget": within,
            "lowered": 0,
            "eval_s": out.eval_s,
            "agent_s": timing["sensitivity_s"] + timing["candidates_s"] + timing["solve_s"] if k == 0 else 0.0,
            "cost_s": out.cost_s,
            "predicted_loss_increase": policy.meta["sensitivity"],
            "kernel_groups": policy.meta["kernel_groups"],
            **timing,
        }
        row["episode_s"] = time.perf_counter() - t_start
        rows.append(row)
        if within and _better(out, best):
            best = {"episode": k, **out.metrics(), "policy": policy.to_dict()}
            policy.meta.update(
                {
                    "model": model_name,
                    "episode": k,
                    "accuracy_reward_split": out.accuracy,
                    "latency_s": out.latency_s,
                    "energy_j": out.energy_j,
                    "hardware": cfg.hardware,
                    "strategy": f"ilp-{cfg.granularity}",
                    "kernel_groups": policy.meta["kernel_groups"],
                }
            )
            policy.save(run_dir / rf.BEST_POLICY)
        rf.write_rows(run_dir / rf.EPISODES, rows)
    return rows, best
