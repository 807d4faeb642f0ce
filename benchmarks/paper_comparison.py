"""The paper's comparison on real data: kernel-wise AutoQ against layer-wise DDPG (HAQ) and the other baselines.

    python benchmarks/paper_comparison.py --episodes 200 --seeds 0 1 --jobs 2
    python benchmarks/paper_comparison.py --smoke --out /tmp/pc --results /tmp/pc/RESULTS.md   # CI
    python benchmarks/paper_comparison.py --episodes 200 --seeds 0 1 --report-only   # table of the finished cells

For every model, accelerator, mode, agent and seed it runs ``autoq search`` (resource mode: latency at
0.5 of the 8-bit model; accuracy mode: the default ψ), finetunes the best policy the same way for every
agent, and writes a table, the AutoQ-vs-HAQ reductions at equal accuracy, the effect of kernel sorting
and learning-curve plots. Every run folder is resumable: run the same command again after an
interruption and it continues where it stopped.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _results import RESULTS, record  # noqa: E402

MODELS = {
    "resnet20": ("resnet20", "models/cifar10/resnet20-12fca82f.th"),
    "resnet32": ("resnet32", "models/cifar10/resnet32-d509ac18.th"),
}
AGENTS = ["uniform", "haq", "ddpg-kernel", "hiro", "autoq"]
LABELS = {"uniform": "network-wise sweep", "haq": "layer-wise DDPG (HAQ)", "ddpg-kernel": "kernel-wise flat DDPG",
          "hiro": "kernel-wise HIRO (ζ=0)", "autoq": "AutoQ (ζ=0.5)"}
PAPER = {"latency": 54.06, "energy": 50.69}


def cell_dir(out: Path, model: str, hw: str, mode: str, agent: str, seed: int) -> Path:
    return out / model / hw / mode / f"{agent}-s{seed}"


def run_cell(args, model: str, hw: str, mode: str, agent: str, seed: int) -> Path:
    """Search (resuming if the folder exists) and finetune one cell; returns its folder."""
    from autoq.data.paths import shared_dir

    run = cell_dir(args.out, model, hw, mode, agent, seed)
    name, weights = MODELS[model]
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "MKL_NUM_THREADS": str(args.threads)}
    base = [sys.executable, "-m", "autoq"]
    if not (run / "summary.json").exists():
        cmd = base + [
            "search", "--model", name, "--weights", str(shared_dir() / weights), "--dataset", "cifar10-subset",
            "--hardware", hw, "--mode", mode, "--agent", agent, "--episodes", str(args.episodes), "--seed", str(seed),
            "--reward-size", str(args.reward_size), "--calib-size", str(args.calib_size), "--batch-size", str(args.batch_size),
            "--agent-warmup-episodes", str(args.warmup), "--out", str(run), "--quiet",
        ]
        if mode == "resource":
            cmd += ["--budget", f"latency={args.budget}"]
        if (run / "config.yaml").exists():
            cmd.append("--resume")
        subprocess.run(cmd, env=env, check=True, capture_output=not args.verbose)
    if args.finetune_epochs and (run / "best_policy.json").exists() and not (run / "finetune.json").exists():
        cmd = base + ["finetune", "--run", str(run), "--epochs", str(args.finetune_epochs), "--quiet", "--resume"]
        subprocess.run(cmd, env=env, check=True, capture_output=not args.verbose)
    return run


def read_cell(run: Path) -> dict:
    from autoq.search.runfolder import read_rows

    summary = json.loads((run / "summary.json").read_text())
    rows = read_rows(run / "episodes.csv")
    ft = json.loads((run / "finetune.json").read_text()) if (run / "finetune.json").exists() else None
    seed = int(run.name.rsplit("-s", 1)[1])
    return {"summary": summary, "rows": rows, "finetune": ft, "wall_s": sum(r["episode_s"] for r in rows), "seed": seed}


def sorting_effect(run: Path, hw: str) -> tuple[float, float] | None:
    """Latency of the run's best policy with kernel sorting on and off (cost model only)."""
    import yaml

    from autoq.engine.setup import build_model
    from autoq.hardware import CostModel, load_accelerator
    from autoq.quant import Policy

    if not (run / "best_policy.json").exists():
        return None
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    layers = build_model(cfg["model"], cfg["weights"]).layers
    policy = Policy.load(run / "best_policy.json", layers)
    acc = load_accelerator(hw)
    return tuple(CostModel(layers, acc, sort_kernels=s).evaluate(policy).latency_s for s in (True, False))


def mean(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.fmean(values) if values else float("nan")


def frontier(rows: list[dict], floor: float, key: str) -> float:
    """Smallest ``key`` among episodes whose reward-split accuracy reaches ``floor``."""
    fits = [r[key] for r in rows if r["accuracy"] >= floor - 1e-12]
    return min(fits) if fits else float("nan")


def pct(a: float, b: float) -> str:
    return f"{100 * (1 - a / b):.1f} %" if b and not math.isnan(a) and not math.isnan(b) else "n/a"


def report(args, cells: dict) -> str:
    lines = []
    for model, hw in itertools.product(args.models, args.hardware):
        for mode in args.modes:
            lines += [f"### {model}, {hw} accelerator, {mode} mode" + (f" (latency budget {args.budget} of 8-bit)" if mode == "resource" else ""), ""]
            lines += ["| agent | test top-1 % | vs float (paired) | latency ms | energy mJ | area (util.) | avg w bits | avg a bits | reward-split top-1 % | search min |",
                      "|---|---|---|---|---|---|---|---|---|---|"]
            for agent in args.agents:
                runs = [r for s in args.seeds if (r := cells.get((model, hw, mode, agent, s)))]
                if not runs:
                    lines.append(f"| {LABELS[agent]} | not run |  |  |  |  |  |  |  |  |")
                    continue
                runs = [r for r in runs if r["summary"]["best"]]
                if not runs:
                    lines.append(f"| {LABELS[agent]} | no policy met the budget |  |  |  |  |  |  |  |  |")
                    continue
                best = [r["summary"]["best"] for r in runs]
                fts = [r["finetune"] for r in runs if r["finetune"]]
                lines.append(
                    f"| {LABELS[agent]} | {100 * mean([f['top1'] for f in fts]):.2f} | {100 * mean([f['paired_top1_diff'] for f in fts]):+.2f} | "
                    f"{1e3 * mean([b['latency_s'] for b in best]):.3f} | {1e3 * mean([b['energy_j'] for b in best]):.3f} | "
                    f"{mean([b['area'] for b in best]):.3f} | {mean([b['avg_w_bits'] for b in best]):.2f} | {mean([b['avg_a_bits'] for b in best]):.2f} | "
                    f"{100 * mean([b['accuracy'] for b in best]):.2f} | {mean([r['wall_s'] for r in runs]) / 60:.1f} |"
                    + ("" if len(runs) == len(args.seeds) else f" (seeds: {', '.join(str(r['seed']) for r in runs)})")
                )
            lines.append("")
        # the paper's headline: latency / energy of AutoQ against HAQ at equal accuracy
        mode = "accuracy" if "accuracy" in args.modes else args.modes[0]
        rows = {a: [row for s in args.seeds if (c := cells.get((model, hw, mode, a, s))) for row in c["rows"]] for a in ("haq", "autoq")}
        refs = next((c["summary"]["references"] for k, c in cells.items() if k[:3] == (model, hw, mode)), None)
        if refs and rows["haq"] and rows["autoq"]:
            lines += [f"Equal-accuracy comparison, {model} on {hw}: over every episode of both agents ({mode} mode, all seeds), "
                      "the cheapest policy whose reward-split top-1 reaches the floor.", "",
                      "| accuracy floor | HAQ latency ms | AutoQ latency ms | latency reduction | HAQ energy mJ | AutoQ energy mJ | energy reduction |",
                      "|---|---|---|---|---|---|---|"]
            acc8 = refs["uniform8"]["accuracy"]
            for drop in (0.005, 0.01, 0.02, 0.05, 0.1):
                floor = acc8 - drop
                lh, la = frontier(rows["haq"], floor, "latency_s"), frontier(rows["autoq"], floor, "latency_s")
                eh, ea = frontier(rows["haq"], floor, "energy_j"), frontier(rows["autoq"], floor, "energy_j")
                lines.append(f"| 8-bit − {100 * drop:.1f} pt ({100 * floor:.1f} %) | {1e3 * lh:.3f} | {1e3 * la:.3f} | {pct(la, lh)} | "
                             f"{1e3 * eh:.3f} | {1e3 * ea:.3f} | {pct(ea, eh)} |")
            lines += ["", f"Paper (ImageNet, 4 CNNs, average): {PAPER['latency']} % lower latency, {PAPER['energy']} % lower energy.", ""]
        # kernel sorting
        sort_rows = []
        for agent in ("autoq", "haq"):
            vals = [sorting_effect(cell_dir(args.out, model, hw, "resource", agent, s), hw) for s in args.seeds
                    if (model, hw, "resource", agent, s) in cells]
            vals = [v for v in vals if v]
            if vals:
                sort_rows.append((agent, mean([v[0] for v in vals]), mean([v[1] for v in vals])))
        if len(sort_rows) == 2:
            (_, a_on, a_off), (_, h_on, h_off) = sort_rows
            lines += [f"Kernel sorting, {model} on {hw} (resource-mode best policies, latency ms):", "",
                      "| | sorted tiles | unsorted tiles |", "|---|---|---|",
                      f"| AutoQ (kernel-wise) | {1e3 * a_on:.3f} | {1e3 * a_off:.3f} |",
                      f"| HAQ (layer-wise: sorting changes nothing) | {1e3 * h_on:.3f} | {1e3 * h_off:.3f} |",
                      f"| kernel-wise latency gain over layer-wise | {pct(a_on, h_on)} | {pct(a_off, h_off)} |", ""]
    return "\n".join(lines)


def plot_curves(args, cells: dict) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for model, hw, mode in itertools.product(args.models, args.hardware, args.modes):
        if not any(k[:3] == (model, hw, mode) for k in cells):
            continue
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
        for agent in args.agents:
            curves = [cells[(model, hw, mode, agent, s)]["rows"] for s in args.seeds if (model, hw, mode, agent, s) in cells]
            if not curves:
                continue
            n = min(len(c) for c in curves)
            best = [[max(r["accuracy"] for r in c[: i + 1] if r["within_budget"]) if any(r["within_budget"] for r in c[: i + 1]) else float("nan")
                     for i in range(n)] for c in curves]
            reward = [[statistics.fmean(r["reward"] for r in c[max(0, i - 9) : i + 1]) for i in range(n)] for c in curves]
            ax1.plot(range(n), [100 * mean(col) for col in zip(*best)], label=LABELS[agent])
            ax2.plot(range(n), [mean(col) for col in zip(*reward)], label=LABELS[agent])
        ax1.set(xlabel="episode", ylabel="best reward-split top-1 so far (%)", title=f"{model}, {hw}, {mode} mode: best accuracy")
        ax2.set(xlabel="episode", ylabel="extrinsic reward (10-episode mean)", title="reward")
        for ax in (ax1, ax2):
            ax.grid(alpha=0.3)
        ax1.legend(fontsize=8)
        fig.tight_layout()
        path = args.plots / f"paper_comparison_{model}_{hw}_{mode}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet20"], choices=list(MODELS))
    p.add_argument("--hardware", nargs="+", default=["temporal", "spatial"])
    p.add_argument("--modes", nargs="+", default=["resource", "accuracy"], choices=["resource", "accuracy"])
    p.add_argument("--agents", nargs="+", default=AGENTS, choices=AGENTS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--episodes", type=int, default=200)
    p.add_argument("--warmup", type=int, default=None, help="episodes of constant exploration noise (default: episodes / 4)")
    p.add_argument("--budget", type=float, default=0.5, help="latency budget of resource mode, fraction of 8-bit")
    p.add_argument("--reward-size", type=int, default=1000)
    p.add_argument("--calib-size", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--finetune-epochs", type=int, default=10)
    p.add_argument("--jobs", type=int, default=1, help="cells run side by side")
    p.add_argument("--threads", type=int, default=None, help="torch threads per cell (default: cores / jobs)")
    p.add_argument("--out", type=Path, default=HERE / "paper_runs")
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--plots", type=Path, default=None, help="folder for the PNGs (default: beside --results)")
    p.add_argument("--smoke", action="store_true", help="a tiny budget, for CI")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--report-only", action="store_true", help="run nothing: report the finished cells among those selected")
    args = p.parse_args()
    if args.smoke:
        args.models, args.hardware, args.seeds, args.agents = ["resnet20"], ["temporal"], [0], ["haq", "autoq"]
        args.episodes, args.reward_size, args.calib_size, args.batch_size, args.finetune_epochs = 2, 100, 32, 100, 0
    args.warmup = args.warmup if args.warmup is not None else max(1, args.episodes // 4)
    args.threads = args.threads or max(1, (os.cpu_count() or 1) // args.jobs)
    args.plots = args.plots or args.results.parent
    args.out.mkdir(parents=True, exist_ok=True)

    keys = list(itertools.product(args.models, args.hardware, args.modes, args.agents, args.seeds))
    if args.report_only:
        keys = [k for k in keys if (cell_dir(args.out, *k) / "summary.json").exists()]
    t0 = time.time()
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {} if args.report_only else {k: pool.submit(run_cell, args, *k) for k in keys}
        for k, f in futures.items():
            f.result()
            print(f"done: {'/'.join(map(str, k))} ({(time.time() - t0) / 60:.1f} min)", flush=True)
    cells = {k: read_cell(cell_dir(args.out, *k)) for k in keys}
    body = report(args, cells)
    plots = plot_curves(args, cells)
    wall = sum(c["wall_s"] for c in cells.values()) / 3600
    done = sorted({"/".join(map(str, k[:4])) + " seeds " + ",".join(str(s) for s in args.seeds if (*k[:4], s) in cells) for k in cells})
    header = (
        (f"Finished cells reported ({len(cells)}): " + "; ".join(done) + ".\n\n" if args.report_only else "")
        + f"ResNet on cifar10-subset: reward split {args.reward_size} training images, test split 1000 test images; "
        f"{args.episodes} episodes per search ({args.warmup} at constant noise), seeds {args.seeds}, "
        f"best policy finetuned {args.finetune_epochs} epochs (SGD lr 1e-3, momentum 0.9) on the remaining training images. "
        f"Figures are means over seeds. Search time summed over all cells: {wall:.2f} h "
        f"({args.jobs} cells side by side, {args.threads} torch threads each).\n\n"
        + "Learning curves: " + ", ".join(f"`{p.name}`" for p in plots) + "\n"
    )
    print(body)
    record("paper_comparison", "Paper comparison: AutoQ against layer-wise DDPG and the baselines (benchmarks/paper_comparison.py)",
           header + "\n" + body, results=args.results)


if __name__ == "__main__":
    main()
