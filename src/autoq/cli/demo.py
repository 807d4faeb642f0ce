"""``autoq demo``: the whole pipeline on the embedded default, in a few minutes on a laptop CPU."""

from __future__ import annotations

import argparse
import time

from autoq.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="search, finetune and compare on the embedded default (no download, CPU, a few minutes)",
        description="On the small digits CNN that ships with autoq, search kernel-wise bit widths with the AutoQ agent "
        "under a latency budget on the temporal accelerator model, finetune the best policy, and print float vs 8-bit "
        "vs the found policy on the test split.",
    )
    p.add_argument("--episodes", type=int, default=60, help="search episodes")
    p.add_argument(
        "--budget",
        default="latency=0.4",
        help="resource budget: a fraction of the 8-bit model's latency (0.4) or metric=value (energy=0.5)",
    )
    p.add_argument("--hardware", default="temporal", help="accelerator: temporal, spatial or a YAML file")
    p.add_argument("--agent", default="autoq", help="agent: autoq, hiro, haq, ddpg-kernel, random, uniform")
    p.add_argument("--finetune-epochs", type=int, default=3, help="finetuning epochs of the best policy")
    p.add_argument("--seed", type=int, default=0, help="seed of everything")
    p.add_argument("--out", default=None, help="run folder (default: runs/demo-<time>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted demo in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoq.engine.setup import build_workload
    from autoq.hardware import CostModel, load_accelerator
    from autoq.quant import Policy
    from autoq.search import FinetuneConfig, SearchConfig, search
    from autoq.search.summary import compare_on_test

    t0 = time.perf_counter()
    out = args.out or time.strftime("runs/demo-%Y%m%d-%H%M%S")
    args.resume_hint = f"; every finished episode is saved: run the same command with --out {out} --resume to continue"
    warmup = max(1, args.episodes // 3)
    budget = args.budget
    try:
        budget = f"latency={float(budget)}"  # a bare fraction budgets latency, as the help says
    except ValueError:
        pass
    cfg = SearchConfig(
        dataset="digits",
        calib_size=128,
        reward_size=500,
        batch_size=500,
        hardware=args.hardware,
        mode="resource",
        budget=budget,
        agent=args.agent,
        episodes=args.episodes,
        seed=args.seed,
        agent_options={"warmup_episodes": warmup},
        out=out,
        finetune=True,
        finetune_options=FinetuneConfig(epochs=args.finetune_epochs, train_batch_size=64),
    )
    result = search(cfg, resume=args.resume, progress=not args.quiet)
    work = build_workload(cfg)
    cost_model = CostModel(work.layers, load_accelerator(cfg.hardware))
    entries = {"float32": None, "uniform 8/8": Policy.uniform(work.layers, 8, 8)}
    if result.best_policy is not None:
        import torch

        entries["found"] = result.best_policy
        entries["found + finetune"] = (result.best_policy, torch.load(result.finetune.weights, weights_only=True))
    rows = compare_on_test(work, cfg, cost_model, entries)
    for r in rows:
        r["test_top1"] = 100 * r["test_top1"]
    table = common.format_table(
        rows,
        ["model", "test_top1", "latency_ms", "energy_mj", "avg_w_bits", "avg_a_bits"],
        {"test_top1": ".2f", "latency_ms": ".4f", "energy_mj": ".4f", "avg_w_bits": ".2f", "avg_a_bits": ".2f"},
    )
    minutes = (time.perf_counter() - t0) / 60
    text = (
        f"\n{work.spec.name} on {work.data.name}: {len(work.layers)} layers, budget {cfg.budget} on the {cfg.hardware} "
        f"accelerator, {cfg.episodes} episodes of the {cfg.agent} agent ({minutes:.1f} min)\n"
        f"test split: {rows[0]['n']} images (top-1 in %)\n\n{table}\n\nrun folder: {result.run_dir}\n"
        f"next: autoq report {result.run_dir}"
    )
    common.emit(args, {"run_dir": str(result.run_dir), "rows": rows, "minutes": minutes}, text)
    return 0
