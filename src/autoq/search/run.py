"""``autoq.search``: the episode loop, with checkpoints, resume, progress and the run folder."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from autoq.errors import AutoQError
from autoq.search import runfolder as rf
from autoq.search.budget import BudgetSpec, BudgetTracker, describe
from autoq.config import SearchConfig, build
from autoq.search.environment import Outcome, QuantEnv, extrinsic_reward
from autoq.search.lock import RunLock
from autoq.search.rollout import SearchSpace, rollout
from autoq.utils.io import atomic_write_json
from autoq.utils.threads import one_thread

log = logging.getLogger("autoq.search")


@dataclass
class SearchResult:
    """What a search found: the best policy within the budget, its scores, and where the files are."""

    run_dir: Path
    best_policy: Any  # autoq.quant.Policy, or None when no episode met the budget
    best: dict
    references: dict
    episodes: list[dict] = field(default_factory=list)
    finetune: Any = None  # FinetuneResult when the search finetuned its best policy


class Budget:
    """The budgeted metric as a sum over layers, and the absolute limit a budget spec means."""

    def __init__(self, spec: BudgetSpec, cost_model, space: SearchSpace, ref8: Outcome) -> None:
        self.spec, self.cost_model, self.space = spec, cost_model, space
        layers = space.layers
        if spec.metric == "size":
            self.layer_cost = lambda i, w, a: float(np.sum(w)) * layers[i].kernel_numel
            self.fixed, self.to_metric = 0.0, lambda total: total
            reference = ref8.size_bits
        elif spec.metric in ("latency", "energy"):
            k = 0 if spec.metric == "latency" else 1
            self.layer_cost = lambda i, w, a: cost_model.layer_costs(i, w, a)[k]
            self.fixed = 0.0
            self.to_metric = lambda total: total
            reference = ref8.latency_s if k == 0 else ref8.energy_j
        else:  # area: utilisation = max(fixed resources, (fixed BRAM + resident weight BRAM) / device BRAM)
            self.layer_cost = lambda i, w, a: cost_model.layer_costs(i, w, a)[2]  # 0 unless weights_on_chip
            self.fixed = cost_model.fixed_bram36()
            cap, floor = cost_model.device_bram36(), cost_model.fixed_utilisation()
            self.to_metric = lambda total: max(floor, total / cap)
            reference = ref8.area
        self.limit = spec.value * reference if spec.relative else spec.value
        self.reference = reference
        w_min, a_min = space.minimum()
        internal = self.limit
        if spec.metric == "area":
            internal = self.limit * cost_model.device_bram36()
            if cost_model.fixed_utilisation() > self.limit:
                internal = -1.0  # the accelerator alone exceeds it
        self.tracker = BudgetTracker(self.layer_cost, [l.c_out for l in layers], internal, w_min, a_min, self.fixed)
        self.minimum = self.to_metric(self.tracker.minimum)

    def check_feasible(self) -> None:
        if self.minimum > self.limit * (1 + 1e-9):
            smallest = self.minimum / self.reference
            why = ""
            if self.spec.metric == "area" and not self.cost_model.area_depends_on_bits:
                why = (" (on this board the area is the accelerator's own: weights stream from DRAM, so no bit "
                       "width changes it; set weights_on_chip: true in the board file to budget their BRAM)")
            raise AutoQError(
                f"budget {self.spec.metric}={describe(self.spec.metric, self.limit)} cannot be met even at the minimum bits; "
                f"the smallest feasible is {self.spec.metric}={smallest:.4f} of the 8-bit model "
                f"({describe(self.spec.metric, self.minimum)}){why}"
            )

    def value(self, out: Outcome) -> float:
        return {"latency": out.latency_s, "energy": out.energy_j, "area": out.area, "size": out.size_bits}[self.spec.metric]

    def met(self, out: Outcome) -> bool:
        return self.value(out) <= self.limit * (1 + 1e-9)


def search(
    config: SearchConfig | None = None,
    *,
    resume: bool = False,
    progress: bool = True,
    on_episode: Callable[[dict], None] | None = None,
    **settings: Any,
) -> SearchResult:
    """Run (or resume) a search; settings are :class:`SearchConfig` fields, e.g. ``search(model="resnet20", episodes=100)``.

    ``on_episode`` is called with each episode's row once its checkpoint is written (on the main
    process): a hook for live plots, logging or timing.
    """
    from autoq.agents import AgentConfig
    from autoq.agents.presets import apply_preset
    from autoq.engine.distributed import init_distributed

    cfg = config if config is not None else build(SearchConfig, settings, "search settings")
    if config is not None and settings:
        cfg = build(SearchConfig, {**cfg.to_dict(), **settings}, "search settings")
    cfg.validate()
    agent_cfg = build(AgentConfig, apply_preset(dict(cfg.agent_options)), "agent_options")
    ctx = init_distributed(cfg.device)
    run_dir = cfg.run_dir()
    if not ctx.is_main:
        return _search(cfg, agent_cfg, ctx, run_dir, resume, progress, on_episode)
    created = rf.make_folder(run_dir)
    with RunLock(run_dir):
        try:
            return _search(cfg, agent_cfg, ctx, run_dir, resume, progress, on_episode)
        except Exception:  # a failed start leaves nothing; an interrupted one stays resumable
            if created:
                rf.remove_if_unstarted(run_dir)
            raise


def _search(cfg: SearchConfig, agent_cfg, ctx, run_dir: Path, resume: bool, progress: bool,
            on_episode: Callable[[dict], None] | None) -> SearchResult:
    """The search itself, in a run folder this process holds (on the main process)."""
    import torch
    from tqdm import tqdm

    from autoq.agents import NetworkSpec, create_agent
    from autoq.engine.distributed import broadcast
    from autoq.engine.setup import build_workload
    from autoq.hardware import CostModel, load_accelerator
    from autoq.quant import Policy
    from autoq.search.fingerprints import run_fingerprints
    from autoq.utils.seeding import seed_everything

    resolved = {**cfg.to_dict(), "agent_options": _plain(agent_cfg)}
    seed_everything(cfg.seed)
    work = build_workload(cfg)
    accelerator = load_accelerator(cfg.hardware)
    has_ckpt = None
    if ctx.is_main:
        has_ckpt = rf.prepare(run_dir, resolved, resume)
        rf.record_fingerprints(run_dir, run_fingerprints(work, accelerator))
    has_ckpt = broadcast(has_ckpt, ctx)
    cost_model = CostModel(work.layers, accelerator, sort_kernels=cfg.sort_kernels)
    env = QuantEnv(work, cfg, cost_model, ctx)
    layers = work.layers

    pinned = {}
    if cfg.keep_first_last is not None:
        pinned = {0: cfg.keep_first_last, len(layers) - 1: cfg.keep_first_last}
    space = SearchSpace(layers, (cfg.w_min, cfg.w_max), (cfg.a_min, cfg.a_max), pinned)
    if not space.searchable:
        raise AutoQError("no layer is left to search: the model's only layers are pinned by --keep-first-last")

    references = _references(env, run_dir, ctx)
    ref8 = Outcome(**{k: v for k, v in references["uniform8"].items() if k in Outcome.__dataclass_fields__})
    budget = None
    if cfg.mode == "resource":
        budget = Budget(BudgetSpec.parse(cfg.budget), cost_model, space, ref8)
        budget.check_feasible()
        references["budget"] = {
            "metric": budget.spec.metric, "limit": budget.limit, "minimum": budget.minimum, "reference_8bit": budget.reference,
        }
    psi = cfg.objective()
    if ctx.is_main:
        atomic_write_json(run_dir / rf.REFERENCES, references)
    if cfg.agent == "ilp":  # no agent: sensitivity plus an integer program
        from autoq.search.ilp import program_search

        rows, best = program_search(cfg, env, space, budget, references, ref8, psi, run_dir, ctx, work.spec.name)
        return _finish(cfg, work, run_dir, ctx, rows, best, references, progress)

    agent = None
    if ctx.is_main:
        searchable = [layers[i] for i in space.searchable]
        stats = env.kernel_stats()
        spec = NetworkSpec.from_layers(
            searchable, [stats[i] for i in space.searchable], w_range=space.w_range, a_range=space.a_range
        )
        agent = create_agent(cfg.agent, spec, agent_cfg, seed=cfg.seed)

    rows: list[dict] = []
    best: dict = {}
    start = 0
    run_id = rf.run_record(run_dir).get("id") if ctx.is_main else None
    if has_ckpt:
        state = rf.load_checkpoint(run_dir / rf.CHECKPOINT) if ctx.is_main else None
        if ctx.is_main:
            rows = rf.check_resume(run_dir, state, cfg.seed)
            agent.load_state_dict(state["agent"])
            best = state["best"]
        start = broadcast(state["episode"] if ctx.is_main else None, ctx)
        if ctx.is_main:
            log.info("resuming %s at episode %d of %d", run_dir, start, cfg.episodes)

    bar = tqdm(total=cfg.episodes, initial=start, desc="search", unit="ep", disable=not (progress and ctx.is_main), dynamic_ncols=True)
    for episode in range(start, cfg.episodes):
        t_start = time.perf_counter()
        decision = None
        if ctx.is_main:
            with one_thread():
                decision = rollout(agent, space, budget.tracker if budget else None, budget.layer_cost if budget else None)
        policy = broadcast(decision.policy if ctx.is_main else None, ctx)
        out = env.score(policy, episode)
        if not ctx.is_main:
            continue
        out.reward = extrinsic_reward(out, ref8, psi)
        t0 = time.perf_counter()
        with one_thread():
            info = agent.end_episode(out.reward, [policy.weight_bits[layers[i].name] for i in space.searchable],
                                     [policy.act_bits[layers[i].name] for i in space.searchable])
        agent_s = decision.agent_s + time.perf_counter() - t0
        within = budget.met(out) if budget else True
        row = {"episode": episode, **out.metrics(), "within_budget": within, "lowered": decision.lowered,
               "trimmed": decision.trimmed,
               "eval_s": out.eval_s, "agent_s": agent_s, "cost_s": out.cost_s + decision.budget_s}
        row.update({f"agent_{k}": float(v) for k, v in (info or {}).items()})
        row["episode_s"] = time.perf_counter() - t_start
        rows.append(row)
        if within and _better(out, best):
            best = {"episode": episode, **out.metrics(), "policy": policy.to_dict()}
            policy.meta.update({"model": work.spec.name, "episode": episode, "accuracy_reward_split": out.accuracy,
                                "latency_s": out.latency_s, "energy_j": out.energy_j, "hardware": cfg.hardware})
            policy.save(run_dir / rf.BEST_POLICY)
        rf.write_rows(run_dir / rf.EPISODES, rows)
        rf.save_checkpoint(run_dir / rf.CHECKPOINT, {"episode": episode + 1, "agent": agent.state_dict(), "best": best,
                                                     "seed": cfg.seed, "run_id": run_id, "rows_sha256": rf.rows_checksum(rows)})
        if on_episode is not None:
            on_episode(row)
        bar.update(1)
        if best:
            bar.set_postfix(best_acc=f"{best['accuracy']:.3f}", lat_ms=f"{1e3 * best['latency_s']:.3g}", refresh=False)
    bar.close()

    return _finish(cfg, work, run_dir, ctx, rows, best, references, progress)


def _finish(cfg: SearchConfig, work, run_dir: Path, ctx, rows: list[dict], best: dict, references: dict, progress: bool) -> SearchResult:
    """The summary, the optional finetune of the best policy, and the result (every strategy ends here)."""
    import torch

    from autoq.engine.distributed import broadcast
    from autoq.quant import Policy

    layers = work.layers
    best = broadcast(best, ctx)
    best_policy = Policy.from_dict(best["policy"], layers) if best else None
    result = SearchResult(run_dir, best_policy, {k: v for k, v in best.items() if k != "policy"}, references, rows)
    if ctx.is_main:
        atomic_write_json(run_dir / rf.SUMMARY, {"best": result.best, "references": references, "episodes": len(rows)})
        if not best:
            log.warning("no episode met the budget: no best policy was written")
    if cfg.finetune and best_policy is not None:
        from autoq.train.finetune import finetune

        result.finetune = finetune(best_policy, cfg, cfg.finetune_options, run_dir=run_dir, work=work, ctx=ctx, progress=progress)
    torch.set_grad_enabled(True)
    return result


def _references(env: QuantEnv, run_dir: Path, ctx) -> dict:
    """Float, uniform 8/8 and 4/4 scores on the reward split: the reward's reference and the report's points."""
    from autoq.engine.distributed import all_reduce_accuracy
    from autoq.engine.loops import evaluate
    from autoq.quant import Policy

    float_acc = all_reduce_accuracy(evaluate(env.float_model.to(ctx.device), env.reward_batches(), ctx.device), ctx)
    refs: dict[str, Any] = {"float": {"accuracy": float_acc.top1, "n": float_acc.n}}
    for bits in (8, 4):
        out = env.score(Policy.uniform(env.layers, bits, bits))
        refs[f"uniform{bits}"] = {**out.metrics(), "n": out.n, "correct": out.correct}
        refs[f"uniform{bits}"].pop("reward")
    return refs


def _plain(obj: Any) -> dict:
    import dataclasses

    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(obj).items()}


def _better(out: Outcome, best: dict) -> bool:
    """Higher reward wins; at equal reward (e.g. accuracy saturated) the faster, then the less energy-hungry policy."""
    if not best:
        return True
    return (out.reward, -out.latency_s, -out.energy_j) > (best["reward"], -best["latency_s"], -best["energy_j"])
