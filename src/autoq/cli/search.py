"""``autoq search``: find a bit width for every kernel and activation layer."""

from __future__ import annotations

import argparse

from autoq.cli import common
from autoq.config import FinetuneConfig, SearchConfig, add_dataclass_args, build, given, load_yaml
from autoq.errors import AutoQError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "search",
        help="search kernel-wise bit widths with an RL agent",
        description="Search one weight bit width per kernel and one activation bit width per layer. Each episode "
        "quantizes the model with the agent's bits, calibrates, measures top-1 on the reward split and the cost on the "
        "accelerator model, and rewards the agent. The run folder (--out) gets config.yaml, episodes.csv, "
        "best_policy.json, references.json and a checkpoint after every episode; --resume continues it. "
        "Every setting can also come from --config FILE.yaml; flags override the file.",
    )
    p.add_argument("--config", default=None, help="YAML file of settings (SearchConfig fields)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_dataclass_args(p.add_argument_group("search settings"), SearchConfig)
    add_agent_args(p)
    add_dataclass_args(p.add_argument_group("finetuning (with --finetune)"), FinetuneConfig, prefix="finetune-")
    common.add_json_arg(p)
    p.set_defaults(func=run)


def add_agent_args(p: argparse.ArgumentParser) -> None:
    from autoq.agents import AgentConfig

    add_dataclass_args(p.add_argument_group("agent hyperparameters"), AgentConfig, prefix="agent-")


def resolve(args: argparse.Namespace) -> SearchConfig:
    """Defaults < --config file < flags."""
    from autoq.agents import AgentConfig

    values = load_yaml(args.config) if args.config else {}
    if isinstance(values.get("agent"), dict):  # agent: {name: autoq, preset: paper, ...}: the agent and its options
        options = dict(values.pop("agent"))
        values["agent"] = options.pop("name", "autoq")
        values["agent_options"] = {**options, **(values.get("agent_options") or {})}
    for key in ("agent_options", "finetune_options"):
        if not isinstance(values.get(key) or {}, dict):
            raise AutoQError(f"{args.config}: {key} must be a mapping of settings, got {values[key]!r}")
    values.update(given(args, SearchConfig))
    values["agent_options"] = {**(values.get("agent_options") or {}), **given(args, AgentConfig, "agent-")}
    values["finetune_options"] = {**(values.get("finetune_options") or {}), **given(args, FinetuneConfig, "finetune-")}
    return build(SearchConfig, values, args.config or "settings")


def run(args: argparse.Namespace) -> int:
    from autoq.search import search

    cfg = resolve(args)
    cfg.validate()  # every setting, the finetuning ones included, before the search starts
    result = search(cfg, resume=args.resume, progress=not args.quiet)
    common.emit(args, summary(result), describe(result))
    return 0


def summary(result) -> dict:
    out = {"run_dir": str(result.run_dir), "best": result.best, "references": result.references, "episodes": len(result.episodes)}
    if result.finetune is not None:
        out["finetune"] = result.finetune.to_dict()
    return out


def describe(result) -> str:
    refs, best = result.references, result.best
    lines = [f"run folder: {result.run_dir}"]
    if not best:
        lines.append("no episode met the budget")
        return "\n".join(lines)
    r8 = refs["uniform8"]
    lines.append(
        f"best (episode {best['episode']}): reward-split top-1 {100 * best['accuracy']:.2f} % "
        f"(float {100 * refs['float']['accuracy']:.2f} %, 8-bit {100 * r8['accuracy']:.2f} %)"
    )
    lines.append(
        f"  latency {1e3 * best['latency_s']:.4g} ms ({best['latency_s'] / r8['latency_s']:.3f} of 8-bit), "
        f"energy {1e3 * best['energy_j']:.4g} mJ ({best['energy_j'] / r8['energy_j']:.3f} of 8-bit), "
        f"avg bits w {best['avg_w_bits']:.2f} / a {best['avg_a_bits']:.2f}"
    )
    if result.finetune is not None:
        f = result.finetune
        lines.append(
            f"finetuned: test top-1 {100 * f.top1:.2f} % (float {100 * f.float_top1:.2f} % on the same {f.n} images, "
            f"{100 * (f.top1 - f.float_top1):+.2f} points)"
        )
    lines.append(f"policy: {result.run_dir / 'best_policy.json'}")
    return "\n".join(lines)
