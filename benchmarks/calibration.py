"""How the search calibrates activations: every episode on every element, every episode on a sample, or once.

    python benchmarks/calibration.py                     # both models, record
    python benchmarks/calibration.py --report-only       # the table from the records

The policies are those of the reward-fidelity records (``benchmarks/records/reward_fidelity/``:
42 per model, spread over the cost range, each with its test top-1 on all 10,000 test images measured
with its own calibration). Each is scored as the search scores it (the KL reward on the default
500 class-balanced holdout images, 256 calibration images) under three calibrations:

- ``episode, every element``: the clips of each policy from histograms that count every activation;
- ``episode, sampled``: the same, with maps of more than ``HIST_SAMPLE`` elements counted on an even
  sample of their rows (the default);
- ``once``: the clips of the uniform 8-bit policy, which the search scores first, kept for every policy.

Reported: rank correlation of each reward with test top-1 (all policies, and the better half, where a
search spends its time), its agreement with the first variant, and the evaluation time per policy.
Records go to ``benchmarks/records/calibration/<model>.json.gz``; RESULTS.md section ``calibration``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from _results import RESULTS, command, machine, read_record, report_records, write_record  # noqa: E402
from reward_fidelity import MODELS  # noqa: E402
from reward_fidelity import RECORDS as FIDELITY  # noqa: E402
from scipy import stats  # noqa: E402

from autoq.data.paths import shared_dir  # noqa: E402
from autoq.engine.distributed import init_distributed  # noqa: E402
from autoq.engine.setup import build_model, build_workload  # noqa: E402
from autoq.hardware import CostModel, load_accelerator  # noqa: E402
from autoq.quant import Policy  # noqa: E402
from autoq.quant import quantizer as Q  # noqa: E402
from autoq.search import SearchConfig  # noqa: E402
from autoq.search.environment import QuantEnv  # noqa: E402
from autoq.utils.allocator import retain_freed_memory  # noqa: E402

RECORDS = Path(__file__).resolve().parent / "records" / "calibration"
VARIANTS = {  # name: (calibrate setting, histogram sample)
    "episode, every element": ("episode", 1 << 62),
    "episode, sampled": ("episode", Q.HIST_SAMPLE),
    "once (8-bit clips)": ("once", Q.HIST_SAMPLE),
}


def scores(name: str, variant: str, policies: list[Policy], args) -> tuple[list[float], list[float]]:
    """The KL score of every policy and its evaluation time, the search's environment calibrating as ``variant`` says."""
    calibrate, sample = VARIANTS[variant]
    settings = dict(MODELS[name])
    if "weights" in settings:
        settings["weights"] = str(shared_dir() / settings["weights"])
    cfg = SearchConfig(**settings, dataset="cifar10-jpeg", calibrate=calibrate, device=args.device)
    old, Q.HIST_SAMPLE = Q.HIST_SAMPLE, sample
    try:
        work = build_workload(cfg)
        env = QuantEnv(work, cfg, CostModel(work.layers, load_accelerator(cfg.hardware)), init_distributed(cfg.device))
        env.accuracy(Policy.uniform(work.layers, 8, 8))  # the search's first evaluation: "once" keeps its clips
        out, times = [], []
        for policy in policies:
            t = time.perf_counter()
            out.append(env.accuracy(policy).score("kl"))
            times.append(time.perf_counter() - t)
    finally:
        Q.HIST_SAMPLE = old
    return out, times


def run_model(name: str, args) -> dict:
    fidelity = read_record(FIDELITY / f"{name}.json.gz")
    layers = build_model(MODELS[name]["model"]).discovery.layers
    policies = [Policy.from_dict(p["policy"], layers) for p in fidelity["policies"]][: args.policies]
    rec = {
        "model": name,
        "command": command(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "hist_sample": Q.HIST_SAMPLE,
        "test_top1": [p["test_top1"] for p in fidelity["policies"]][: args.policies],
        "variants": {},
    }
    for variant in VARIANTS:
        s, t = scores(name, variant, policies, args)
        rec["variants"][variant] = {"score": s, "eval_s": t}
        print(f"{name}, {variant}: median evaluation {statistics.median(t):.2f} s", flush=True)
    return rec


def table(rec: dict) -> str:
    test = np.asarray(rec["test_top1"])
    good = test >= np.median(test)
    first = np.asarray(next(iter(rec["variants"].values()))["score"])
    lines = [
        f"### {rec['model']}",
        "",
        f"{len(test)} policies of the reward-fidelity record (test top-1 {100 * test.min():.1f}–{100 * test.max():.1f} %), "
        f"KL reward on 500 holdout images, 256 calibration images; sample: {rec['hist_sample']:,} elements per map; "
        f"recorded {rec['date']} by `{rec['command']}` on {rec['machine']}.",
        "",
        "| calibration | Spearman ρ with test top-1 | Kendall τ | ρ, better half | ρ with every element, every episode "
        "| largest score difference to it | evaluation s (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for variant, v in rec["variants"].items():
        s = np.asarray(v["score"])
        lines.append(
            f"| {variant} | {stats.spearmanr(s, test).statistic:.3f} | {stats.kendalltau(s, test).statistic:.3f} | "
            f"{stats.spearmanr(s[good], test[good]).statistic:.3f} | {stats.spearmanr(s, first).statistic:.4f} | "
            f"{np.abs(s - first).max():.4f} | {statistics.median(v['eval_s']):.2f} |"
        )
    return "\n".join(lines)


def report(results: Path) -> str:
    title = "Activation calibration: every element, a sample, or once (benchmarks/calibration.py)"
    return report_records("calibration", title, RECORDS, table, "benchmarks/calibration.py", results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--policies", type=int, default=42, help="the first N policies of each fidelity record")
    p.add_argument("--device", default="cpu")
    p.add_argument("--report-only", action="store_true", help="regenerate the RESULTS section from the records")
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args()
    if not args.report_only:
        retain_freed_memory()  # as the command line does
        for name in args.models:
            write_record(RECORDS / f"{name}.json.gz", run_model(name, args))
    print(report(args.results))


if __name__ == "__main__":
    main()
