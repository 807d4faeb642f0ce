"""The comparison of benchmarks/PROTOCOL.md: AutoQ against uniform, HAQ, the integer program and the rest.

    python benchmarks/paper_comparison.py --tier full --models resnet20 mobilenet_v2-cifar --device cuda
    python benchmarks/paper_comparison.py --tier cpu                  # ResNet-20, temporal, 0.5, 30 episodes
    python benchmarks/paper_comparison.py --report-only               # tables from the committed records

Every cell (model, accelerator, mode, budget, strategy, seed) is an ``autoq search`` plus ``autoq finetune``
of the returned policy in a work folder (resumable: run the command again after an interruption), then
one test pass image by image; its record goes to ``benchmarks/records/<model>/<hw>/<mode>/``. The
report, RESULTS.md's ``comparison`` section and README's comparison block, is generated from the
records alone, so that ``--report-only`` reproduces them exactly.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from comparison_records import (  # noqa: E402
    RECORDS,
    code_digests,
    is_stale,
    load_records,
    record_path,
    reference_path,
    write_cell_record,
    write_reference,
)
from comparison_report import write_report  # noqa: E402

MODELS = {  # name -> model flags (the shared folder's JPEG CIFAR-10 weights)
    "resnet20": ["--model", "resnet20", "--weights", "{shared}/models/cifar10-jpeg/resnet20.pth"],
    "mobilenet_v2-cifar": ["--model", "mobilenet_v2-cifar", "--pretrained"],
    "resnet18-cifar": ["--model", "resnet18-cifar", "--pretrained"],
    "squeezenet1_0-cifar": ["--model", "squeezenet1_0-cifar", "--pretrained"],
}
STRATEGIES = {  # name -> search flags
    "uniform": ["--agent", "uniform"],
    "random": ["--agent", "random"],
    "haq": ["--agent", "haq"],
    "ddpg-kernel": ["--agent", "ddpg-kernel"],
    "hiro": ["--agent", "hiro"],
    "autoq-paper": ["--agent", "autoq", "--agent-preset", "paper"],
    "autoq": ["--agent", "autoq"],
    "ilp-layer": ["--agent", "ilp", "--granularity", "layer"],
    "ilp-kernel": ["--agent", "ilp", "--granularity", "kernel"],
}
LEARNERS = {"haq", "ddpg-kernel", "hiro", "autoq-paper", "autoq"}
TIERS = {  # PROTOCOL.md, "Reduced settings"
    "full": {
        "episodes": 400,
        "warmup": None,
        "reward_size": 500,
        "finetune_epochs": 10,
        "budgets": [0.3, 0.5, 0.7],
        "models": list(MODELS),
        "hardware": ["temporal", "spatial"],
        "modes": ["resource", "accuracy"],
    },
    "cpu": {
        "episodes": 30,
        "warmup": 8,
        "reward_size": 500,
        "finetune_epochs": 0,
        "budgets": [0.5],
        "models": ["resnet20"],
        "hardware": ["temporal"],
        "modes": ["resource"],
    },
    "cpu-150": {
        "episodes": 150,
        "warmup": 40,
        "reward_size": 500,
        "finetune_epochs": 0,
        "budgets": [0.5],
        "models": ["resnet20"],
        "hardware": ["temporal"],
        "modes": ["resource"],
    },
    "smoke": {
        "episodes": 2,
        "warmup": 1,
        "reward_size": 100,
        "finetune_epochs": 0,
        "budgets": [0.5],
        "models": ["resnet20"],
        "hardware": ["temporal"],
        "modes": ["resource"],
    },
}


def cells(args) -> list[tuple]:
    """Every (model, hw, mode, budget, strategy, seed) the command selects; accuracy mode has no budget."""
    out = []
    for model, hw, mode in itertools.product(args.models, args.hardware, args.modes):
        budgets = args.budgets if mode == "resource" else [None]
        out += list(itertools.product([model], [hw], [mode], budgets, args.strategies, args.seeds))
    return out


def autoq(args, *words: str) -> None:
    """Run one ``autoq`` command; its output is shown only when it fails."""
    done = subprocess.run([sys.executable, "-m", "autoq", *words], capture_output=not args.verbose, text=True)
    if done.returncode:
        raise SystemExit(f"autoq {' '.join(words[:1])} failed ({done.returncode}): {(done.stderr or '')[-2000:]}")


def search_flags(args, model: str, hw: str, mode: str, budget: float | None, strategy: str, seed: int, run: Path) -> list[str]:
    from autoq.data.paths import shared_dir

    tier = TIERS[args.tier]
    flags = (
        [w.format(shared=shared_dir()) for w in MODELS[model]]
        + STRATEGIES[strategy]
        + [
            "--dataset",
            "cifar10-jpeg",
            "--hardware",
            hw,
            "--mode",
            mode,
            "--seed",
            str(seed),
            "--episodes",
            str(tier["episodes"]),
            "--reward-metric",
            "kl",
            "--reward-size",
            str(tier["reward_size"]),
            "--device",
            args.device,
            "--out",
            str(run),
            "--quiet",
        ]
    )
    if mode == "resource":
        flags += ["--budget", f"latency={budget}"]
    if tier["warmup"] is not None and strategy in LEARNERS:
        flags += ["--agent-warmup-episodes", str(tier["warmup"])]
    return flags


def _claim(run: Path, digests: dict[str, str]) -> None:
    """Keep a run folder only if this code started it (a stamp beside it holds the code digests); a folder
    left by other code, or without its stamp (an interrupted start), is removed and the cell starts afresh."""
    stamp = run.with_name(run.name + ".digests.json")
    if run.exists() and (not stamp.exists() or json.loads(stamp.read_text()) != digests):
        shutil.rmtree(run)
    if not run.exists():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps(digests))


def run_cell(args, model: str, hw: str, mode: str, budget: float | None, strategy: str, seed: int) -> str:
    """Search, finetune and test one cell unless its record is current; returns what happened."""
    path = record_path(args.records, model, hw, mode, strategy, budget, seed, args.tier)
    digests = code_digests(strategy)
    if path.exists() and not args.rerun and not is_stale(load_records([path])[0], digests):
        return "current"
    run = args.work / args.tier / model / hw / mode / f"{strategy}-{budget if budget is not None else 'psi'}-s{seed}"
    _claim(run, digests)
    if not (run / "summary.json").exists():
        resume = ["--resume"] if (run / "config.yaml").exists() else []
        autoq(args, "search", *search_flags(args, model, hw, mode, budget, strategy, seed, run), *resume)
    epochs = TIERS[args.tier]["finetune_epochs"]
    if epochs and (run / "best_policy.json").exists() and not (run / "finetune.json").exists():
        autoq(args, "finetune", "--run", str(run), "--epochs", str(epochs), "--quiet", "--resume")
    write_cell_record(path, run, args.tier, strategy, digests, args.device)
    return "ran"


def run_references(args) -> None:
    """The uniform 8-bit model of every model, accelerator and seed: the anchor of every front."""
    for model, hw, seed in itertools.product(args.models, args.hardware, args.seeds):
        path = reference_path(args.records, model, hw, seed)
        if not path.exists() or args.rerun:
            from autoq.data.paths import shared_dir

            flags = [w.format(shared=shared_dir()) for w in MODELS[model]]
            write_reference(path, flags, hw, seed, TIERS[args.tier]["reward_size"], args.device)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tier", choices=list(TIERS), default="cpu", help="PROTOCOL.md's settings (full, cpu, cpu-150, smoke)")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=None, help="default: the tier's")
    p.add_argument("--hardware", nargs="+", choices=["temporal", "spatial"], default=None, help="default: the tier's")
    p.add_argument("--modes", nargs="+", choices=["resource", "accuracy"], default=None, help="default: the tier's")
    p.add_argument("--strategies", nargs="+", choices=list(STRATEGIES), default=list(STRATEGIES))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--records", type=Path, default=RECORDS, help="folder of the records (committed)")
    p.add_argument("--work", type=Path, default=HERE / "comparison_runs", help="run folders (not committed)")
    p.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    p.add_argument("--readme", type=Path, default=HERE.parent / "README.md", help="README whose comparison block is rewritten")
    p.add_argument("--rerun", action="store_true", help="rerun cells whose record is current")
    p.add_argument("--report-only", action="store_true", help="run nothing: regenerate the tables from the records")
    p.add_argument("--verbose", action="store_true")
    args = p.parse_args()
    tier = TIERS[args.tier]
    args.models, args.hardware = args.models or tier["models"], args.hardware or tier["hardware"]
    args.modes, args.budgets = args.modes or tier["modes"], tier["budgets"]
    if not args.report_only:
        run_references(args)
        for i, key in enumerate(cells(args), 1):
            what = run_cell(args, *key)
            print(f"[{i}/{len(cells(args))}] {'/'.join(str(k) for k in key)}: {what}", flush=True)
    write_report(args.records, args.results, args.readme, STRATEGIES, list(MODELS))


if __name__ == "__main__":
    main()
