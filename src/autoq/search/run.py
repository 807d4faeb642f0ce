"""``autoq.search``: the episode loop, with checkpoints, resume, progress and the run folder."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autoq.agents import AgentConfig, NetworkSpec, create_agent
from autoq.agents.presets import apply_preset
from autoq.config import SearchConfig, build
from autoq.engine.distributed import all_reduce_accuracy, broadcast, init_distributed
from autoq.engine.loops import evaluate
from autoq.engine.setup import build_workload
from autoq.errors import AutoQError
from autoq.hardware import CostModel, load_accelerator
from autoq.quant import Policy
from autoq.runs import folder as rf
from autoq.runs.fingerprints import run_fingerprints
from autoq.runs.lock import claimed
from autoq.search.budget import Budget, BudgetSpec
from autoq.search.callbacks import (
    BestSoFar,
    CallbackList,
    Checkpoint,
    EpisodeLog,
    EpisodeStep,
    Hook,
    ProgressBar,
    SearchState,
)
from autoq.search.environment import Outcome, QuantEnv, extrinsic_reward
from autoq.search.ilp import plan, program_search
from autoq.search.rollout import SearchSpace, rollout
from autoq.train.finetune import finetune
from autoq.utils.io import atomic_write_json
from autoq.utils.seeding import seed_everything
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

    cfg = config if config is not None else build(SearchConfig, settings, "search settings")
    if config is not None and settings:
        cfg = build(SearchConfig, {**cfg.to_dict(), **settings}, "search settings")
    cfg.validate()
    agent_cfg = build(AgentConfig, apply_preset(dict(cfg.agent_options)), "agent_options")
    ctx = init_distributed(cfg.device)
    run_dir = cfg.run_dir()
    if not ctx.is_main:
        return _search(cfg, agent_cfg, ctx, run_dir, resume, progress, on_episode)
    with claimed(run_dir):
        return _search(cfg, agent_cfg, ctx, run_dir, resume, progress, on_episode)


@dataclass
class SearchSetup:
    """Everything an episode needs, built once: the workload, its environment, the space, references and budget."""

    work: Any  # autoq.engine.setup.Workload
    env: QuantEnv
    space: SearchSpace
    references: dict
    ref8: Outcome
    budget: Budget | None
    psi: dict
    has_checkpoint: bool


def _search(
    cfg: SearchConfig, agent_cfg, ctx, run_dir: Path, resume: bool, progress: bool, on_episode: Callable[[dict], None] | None
) -> SearchResult:
    """The search itself, in a run folder this process holds (on the main process): set up, then learn."""
    setup = _setup(cfg, agent_cfg, ctx, run_dir, resume)
    if cfg.agent == "ilp":  # no agent: sensitivity plus an integer program
        rows, best = program_search(
            cfg, setup.env, setup.space, setup.budget, setup.references, setup.ref8, setup.psi, run_dir, ctx, setup.work.spec.name
        )
        return _finish(cfg, setup.work, run_dir, ctx, rows, best, setup.references, progress)
    agent = _make_agent(cfg, agent_cfg, setup) if ctx.is_main else None
    state, start = _resume(cfg, ctx, run_dir, agent, setup.has_checkpoint)
    callbacks = _callbacks(cfg, ctx, run_dir, setup, agent, progress, on_episode)
    demos = _demonstrations(cfg, setup) if cfg.warm_start and ctx.is_main else []
    _learn(cfg, ctx, setup, agent, state, start, callbacks, demos)
    return _finish(cfg, setup.work, run_dir, ctx, state.rows, state.best, setup.references, progress)


def _setup(cfg: SearchConfig, agent_cfg, ctx, run_dir: Path, resume: bool) -> SearchSetup:
    """Workload, cost model, environment, search space, references and budget; the run folder prepared."""

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
        references["budget"] = budget.as_record()
    psi = cfg.objective()
    if ctx.is_main:
        atomic_write_json(run_dir / rf.REFERENCES, references)
    return SearchSetup(work, env, space, references, ref8, budget, psi, bool(has_ckpt))


def _make_agent(cfg: SearchConfig, agent_cfg, setup: SearchSetup):
    """The agent, observing the searchable layers and their kernels' weight statistics."""

    space = setup.space
    stats = setup.env.kernel_stats()
    spec = NetworkSpec.from_layers(
        space.searchable_layers, [stats[i] for i in space.searchable], w_range=space.w_range, a_range=space.a_range
    )
    return create_agent(cfg.agent, spec, agent_cfg, seed=cfg.seed)


def _resume(cfg: SearchConfig, ctx, run_dir: Path, agent, has_checkpoint: bool) -> tuple[SearchState, int]:
    """The rows and best episode so far and the next episode: from the checkpoint, or a fresh start."""

    state, start = SearchState(), 0
    if has_checkpoint:
        saved = rf.load_checkpoint(run_dir / rf.CHECKPOINT) if ctx.is_main else None
        if ctx.is_main:
            state.rows = rf.check_resume(run_dir, saved, cfg.seed)
            agent.load_state_dict(saved["agent"])
            state.best = saved["best"]
        start = broadcast(saved["episode"] if ctx.is_main else None, ctx)
        if ctx.is_main:
            log.info("resuming %s at episode %d of %d", run_dir, start, cfg.episodes)
    return state, start


def _callbacks(
    cfg: SearchConfig, ctx, run_dir: Path, setup: SearchSetup, agent, progress: bool, on_episode: Callable[[dict], None] | None
) -> CallbackList:
    """Best-so-far, episode log, checkpoint, the user's hook and the progress bar, in that order (main process only)."""
    if not ctx.is_main:
        return CallbackList([])
    run_id = rf.run_record(run_dir).get("id")
    callbacks = [
        BestSoFar(run_dir, {"model": setup.work.spec.name, "hardware": cfg.hardware}),
        EpisodeLog(run_dir),
        Checkpoint(run_dir, agent, cfg.seed, run_id),
    ]
    if on_episode is not None:
        callbacks.append(Hook(on_episode))
    callbacks.append(ProgressBar(cfg.episodes, progress))
    return CallbackList(callbacks)


def _demonstrations(cfg: SearchConfig, setup: SearchSetup) -> list[Policy]:
    """``--warm-start ilp``: the integer program's policies, which the first episodes play (docs/search.md)."""
    policies, _ = plan(cfg, setup.env, setup.space, setup.budget, setup.references, setup.psi)
    log.info("warm start: the first %d episodes play the integer program's solutions", len(policies))
    return policies


def _learn(
    cfg: SearchConfig,
    ctx,
    setup: SearchSetup,
    agent,
    state: SearchState,
    start: int,
    callbacks: CallbackList,
    demos: list[Policy],
) -> None:
    """The episode loop: the agent decides (main process), every process scores, the agent learns, callbacks run.

    The first ``len(demos)`` episodes play ``demos`` (a warm start) instead of the agent's choices.
    """

    space, budget = setup.space, setup.budget
    callbacks.on_start(state, start)
    for episode in range(start, cfg.episodes):
        t_start = time.perf_counter()
        decision = None
        if ctx.is_main:
            demo = demos[episode] if episode < len(demos) else None
            with one_thread():
                decision = rollout(agent, space, budget.tracker if budget else None, demonstration=demo)
        policy = broadcast(decision.policy if ctx.is_main else None, ctx)
        out = setup.env.score(policy, episode)
        if not ctx.is_main:
            continue
        out.reward = extrinsic_reward(out, setup.ref8, setup.psi)
        t0 = time.perf_counter()
        with one_thread():
            info = agent.end_episode(
                out.reward, policy.weight_list(space.searchable_layers), policy.act_list(space.searchable_layers)
            )
        agent_s = decision.agent_s + time.perf_counter() - t0
        within = budget.met(out) if budget else True
        row = {
            "episode": episode,
            **out.metrics(),
            "within_budget": within,
            "lowered": decision.lowered,
            "trimmed": decision.trimmed,
            "eval_s": out.eval_s,
            "agent_s": agent_s,
            "cost_s": out.cost_s + decision.budget_s,
        }
        if cfg.warm_start:
            row["demonstration"] = int(episode < len(demos))
        row.update({f"agent_{k}": float(v) for k, v in (info or {}).items()})
        row["episode_s"] = time.perf_counter() - t_start
        state.rows.append(row)
        callbacks.on_episode(state, EpisodeStep(episode, policy, out, row))
    callbacks.on_end(state)


def _finish(
    cfg: SearchConfig, work, run_dir: Path, ctx, rows: list[dict], best: dict, references: dict, progress: bool
) -> SearchResult:
    """The summary, the optional finetune of the best policy, and the result (every strategy ends here)."""

    layers = work.layers
    best = broadcast(best, ctx)
    best_policy = Policy.from_dict(best["policy"], layers) if best else None
    result = SearchResult(run_dir, best_policy, {k: v for k, v in best.items() if k != "policy"}, references, rows)
    if ctx.is_main:
        atomic_write_json(run_dir / rf.SUMMARY, {"best": result.best, "references": references, "episodes": len(rows)})
        if not best:
            log.warning("no episode met the budget: no best policy was written")
    if cfg.finetune and best_policy is not None:
        result.finetune = finetune(best_policy, cfg, cfg.finetune_options, run_dir=run_dir, work=work, ctx=ctx, progress=progress)
    torch.set_grad_enabled(True)
    return result


def _references(env: QuantEnv, run_dir: Path, ctx) -> dict:
    """Float, uniform 8/8 and 4/4 scores on the reward split: the reward's reference and the report's points."""

    float_acc = all_reduce_accuracy(evaluate(env.float_model.to(ctx.device), env.reward_batches(), ctx.device), ctx)
    refs: dict[str, Any] = {"float": {"accuracy": float_acc.top1, "n": float_acc.n}}
    for bits in (8, 4):
        out = env.score(Policy.uniform(env.layers, bits, bits))
        refs[f"uniform{bits}"] = {**out.metrics(), "n": out.n, "correct": out.correct}
        refs[f"uniform{bits}"].pop("reward")
    return refs


def _plain(obj: Any) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(obj).items()}
