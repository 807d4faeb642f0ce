"""Which reward to trust: how well each reward metric and reward-split size ranks policies by test top-1.

    python benchmarks/reward_fidelity.py                                    # both models, record
    python benchmarks/reward_fidelity.py --models resnet20 --policies 12 --test-size 2000 --no-record
    python benchmarks/reward_fidelity.py --report-only                      # tables from the records

For each model, ``--policies`` quantization policies spread over the cost range: uniform (W, A)
pairs, layer-wise random and kernel-wise random (each policy's mean bits drawn over the whole
range, then spread per layer or per kernel). Each policy is calibrated on training images, as a
search does, and its logits on all 5,000 holdout images and on the test images are kept. Every reward
metric (top-1, cross-entropy, KL divergence from the float model) is then computed on class-balanced
holdout subsets of each size (``--draws`` seeded subsets per size below 5,000) and ranked against the
policy's test top-1 (Spearman and Kendall, mean over draws). ``--finetune K`` also finetunes K policies
briefly and ranks the pre-finetune reward against the finetuned test top-1. Episode time per metric and
size is one search evaluation (weight quantization, calibration, reward pass) through the search's
own environment. Records go to ``benchmarks/records/reward_fidelity/<model>.json``; the RESULTS.md
section is generated from them.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from _results import RESULTS, command, machine, report_records, write_record  # noqa: E402
from scipy import stats  # noqa: E402

from autoq.data import iterate_batches  # noqa: E402
from autoq.data.paths import shared_dir  # noqa: E402
from autoq.data.splits import balanced_subset  # noqa: E402
from autoq.engine.device import resolve_device  # noqa: E402
from autoq.engine.distributed import DistContext  # noqa: E402
from autoq.engine.loops import logits_of  # noqa: E402
from autoq.engine.setup import build_workload  # noqa: E402
from autoq.hardware import CostModel, load_accelerator  # noqa: E402
from autoq.quant import Policy, calibrate, quantized, set_policy  # noqa: E402
from autoq.quant.fusion import fuse_for_inference  # noqa: E402
from autoq.search import SearchConfig  # noqa: E402
from autoq.search.environment import QuantEnv  # noqa: E402
from autoq.train.sgd import train_steps  # noqa: E402

RECORDS = Path(__file__).resolve().parent / "records" / "reward_fidelity"  # <model>.json.gz
METRICS = ("top1", "loss", "kl")
MODELS = {
    "resnet20": dict(model="resnet20", weights="models/cifar10-jpeg/resnet20.pth"),
    "mobilenet_v2-cifar": dict(model="mobilenet_v2-cifar", pretrained=True),
}


def make_policies(layers, count: int, seed: int) -> list[tuple[str, Policy]]:
    """``count`` policies over the cost range: a third uniform pairs, a third layer-wise, a third kernel-wise."""
    rng = np.random.default_rng(seed)
    kinds = ["uniform", "layer", "kernel"]
    out = []
    for i in range(count):
        kind = kinds[i % 3]
        mean_w, mean_a = rng.uniform(1.5, 8.5), rng.uniform(1.5, 8.5)
        if kind == "uniform":
            w = {l.name: np.full(l.c_out, int(np.clip(round(mean_w), 2, 8))) for l in layers}
            a = {l.name: int(np.clip(round(mean_a), 2, 8)) for l in layers}
        else:
            lw = {l.name: mean_w + rng.normal(0, 1.5) for l in layers}
            spread = 1.2 if kind == "kernel" else 0.0
            w = {l.name: np.clip(np.rint(lw[l.name] + rng.normal(0, spread, l.c_out)), 1, 8).astype(int) for l in layers}
            a = {l.name: int(np.clip(round(mean_a + rng.normal(0, 1.5)), 2, 8)) for l in layers}
        out.append((kind, Policy(w, a)))
    return out


def metric_values(logits: torch.Tensor, labels: torch.Tensor, ref: torch.Tensor) -> dict[str, np.ndarray]:
    """Per image: hit (top-1), cross-entropy and KL divergence of the reference's softmax from this one's."""
    logp = F.log_softmax(logits, 1)
    ref_logp = F.log_softmax(ref, 1)
    kl = (ref_logp.exp() * (ref_logp - logp)).sum(1)
    return {
        "top1": (logits.argmax(1) == labels).double().numpy(),
        "loss": F.nll_loss(logp, labels, reduction="none").double().numpy(),
        "kl": kl.double().numpy(),
    }


def reward(values: dict[str, np.ndarray], metric: str, idx: np.ndarray) -> float:
    """The reward's score of one policy on the images ``idx``: higher is better for every metric."""
    mean = float(values[metric][idx].mean())
    return mean if metric == "top1" else math.exp(-mean)


class Scorer:
    """One quantized copy of the model whose bits change per policy; logits of holdout and test."""

    def __init__(self, work, cfg: SearchConfig, device: str, test_size: int) -> None:
        self.work, self.device = work, device
        self.calib = [x.to(device) for x, _ in iterate_batches(work.splits.calib, cfg.batch_size)]
        self.qmodel = quantized(work.model, Policy.uniform(work.layers, 8, 8), self.calib, device=device)
        self.infer = fuse_for_inference(self.qmodel)
        test = work.splits.test
        step = max(1, len(test) // test_size)
        self.test_idx = np.arange(0, len(test), step)[:test_size]
        self.test = [
            (x.to(device), y) for x, y in iterate_batches(torch.utils.data.Subset(test, self.test_idx.tolist()), cfg.batch_size)
        ]
        self.holdout = [(x.to(device), y) for x, y in iterate_batches(work.splits.holdout, cfg.batch_size)]
        self.batch_size = cfg.batch_size

    def logits(self, model, batches) -> torch.Tensor:
        return torch.cat(logits_of(model, batches, self.device)).cpu()

    def score(self, policy: Policy) -> tuple[torch.Tensor, torch.Tensor]:
        set_policy(self.qmodel, policy)
        calibrate(self.infer, self.calib)
        return self.logits(self.infer, self.holdout), self.logits(self.infer, self.test)


def finetuned_test_top1(work, cfg: SearchConfig, policy: Policy, steps: int, device: str, test_idx) -> float:
    """Test top-1 after ``steps`` SGD steps (lr 1e-3, momentum 0.9, frozen batch norm) on ``train``."""
    q = quantized(work.model, policy, iterate_batches(work.splits.calib, cfg.batch_size), device=device)
    opt = torch.optim.SGD(q.parameters(), lr=1e-3, momentum=0.9)
    batches = iterate_batches(work.splits.train, 128, shuffle=True, seed=cfg.seed, drop_last=True)
    train_steps(q, opt, batches, device, max_steps=steps, freeze_bn=True)
    test = torch.utils.data.Subset(work.splits.test, test_idx.tolist())
    with torch.no_grad():
        hits = [int((q(x.to(device)).argmax(1).cpu() == y).sum()) for x, y in iterate_batches(test, cfg.batch_size)]
    return sum(hits) / len(test_idx)


def episode_times(cfg_kw: dict, sizes: list[int], device: str, repeats: int = 2) -> dict[str, dict[str, float]]:
    """Seconds of one search evaluation (the search's own environment) per metric and reward size."""
    out: dict[str, dict[int, float]] = {}
    rng = np.random.default_rng(0)
    for metric in METRICS:
        out[metric] = {}
        for size in sizes:
            cfg = SearchConfig(**cfg_kw, reward_size=size, reward_metric=metric, device=device)
            work = build_workload(cfg)
            ctx = DistContext(device=resolve_device(device))
            env = QuantEnv(work, cfg, CostModel(work.layers, load_accelerator("temporal")), ctx)
            times = []
            for r in range(repeats + 1):
                policy = Policy(
                    {l.name: rng.integers(2, 9, l.c_out) for l in work.layers},
                    {l.name: int(rng.integers(2, 9)) for l in work.layers},
                )
                t = time.perf_counter()
                env.score(policy, r)
                times.append(time.perf_counter() - t)
            out[metric][str(size)] = statistics.median(times[1:])  # the first also fixes the weight clips
            del env, work
    return out


def run_model(name: str, args) -> dict:
    spec = dict(MODELS[name])
    if "weights" in spec:
        root = shared_dir()
        if root is None or not (root / spec["weights"]).is_file():
            raise SystemExit(f"{name}: shared weights {spec['weights']} not found (set AUTOQ_SHARED)")
        spec["weights"] = str(root / spec["weights"])
    cfg_kw = dict(**spec, dataset="cifar10-jpeg", calib_size=256, batch_size=args.batch_size, seed=args.seed)
    cfg = SearchConfig(**cfg_kw, reward_size=5000, device=args.device)
    work = build_workload(cfg)
    scorer = Scorer(work, cfg, args.device, args.test_size)
    float_model = work.model.to(args.device).eval()
    ref_holdout, ref_test = scorer.logits(float_model, scorer.holdout), scorer.logits(float_model, scorer.test)
    y_hold = torch.cat([y for _, y in scorer.holdout])
    y_test = torch.cat([y for _, y in scorer.test])
    cost_model = CostModel(work.layers, load_accelerator("temporal"))
    lat8 = cost_model.evaluate(Policy.uniform(work.layers, 8, 8)).latency_s
    policies = make_policies(work.layers, args.policies, args.seed)
    rows = []
    t0 = time.perf_counter()
    for i, (kind, policy) in enumerate(policies):
        hold, test = scorer.score(policy)
        values = metric_values(hold, y_hold, ref_holdout)
        rows.append(
            {
                "kind": kind,
                "latency_rel": cost_model.evaluate(policy).latency_s / lat8,
                "avg_w_bits": policy.avg_weight_bits(work.layers),
                "avg_a_bits": policy.avg_act_bits(work.layers),
                "test_top1": float((test.argmax(1) == y_test).double().mean()),
                "holdout": {m: np.round(v, 5).tolist() for m, v in values.items()},
                "policy": policy.to_dict(),
            }
        )
        print(
            f"{name}: policy {i + 1}/{len(policies)} ({kind}) test {rows[-1]['test_top1']:.4f} "
            f"latency {rows[-1]['latency_rel']:.2f} [{time.perf_counter() - t0:.0f} s]",
            flush=True,
        )
    finetuned = []
    order = np.argsort([r["test_top1"] for r in rows])
    for k in np.linspace(0, len(rows) - 1, args.finetune).astype(int) if args.finetune else []:
        i = int(order[k])
        top1 = finetuned_test_top1(
            work, cfg, Policy.from_dict(rows[i]["policy"], work.layers), args.finetune_steps, args.device, scorer.test_idx
        )
        finetuned.append({"policy": i, "test_top1_finetuned": top1})
        print(f"{name}: finetuned policy {i}: test {rows[i]['test_top1']:.4f} -> {top1:.4f}", flush=True)
    times = episode_times(cfg_kw, args.sizes, args.device) if args.time else {}
    return {
        "model": name,
        "command": command(),
        "machine": machine(),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "device": args.device,
        "seed": args.seed,
        "sizes": args.sizes,
        "draws": args.draws,
        "test_images": len(scorer.test_idx),
        "holdout_labels": y_hold.tolist(),
        "float": {
            "test_top1": float((ref_test.argmax(1) == y_test).double().mean()),
            "holdout_top1": float((ref_holdout.argmax(1) == y_hold).double().mean()),
        },
        "finetune_steps": args.finetune_steps,
        "finetuned": finetuned,
        "episode_s": times,
        "policies": rows,
    }


# --- tables from the records -----------------------------------------------------------------------


def correlations(rec: dict) -> dict[tuple[str, int], tuple[float, float, float, float]]:
    """(metric, size) -> mean Spearman, mean Kendall, Spearman's spread over draws, and mean Spearman
    among the better half of the policies (test top-1 at or above the median), against test top-1.

    The better half is where a search spends its time: telling apart policies that all work."""
    labels = np.asarray(rec["holdout_labels"])
    test = np.array([p["test_top1"] for p in rec["policies"]])
    good = test >= np.median(test)
    values = [{m: np.asarray(v) for m, v in p["holdout"].items()} for p in rec["policies"]]
    out = {}
    for size in rec["sizes"]:
        draws = 1 if size >= len(labels) else rec["draws"]
        for metric in METRICS:
            rho, tau, rho_good = [], [], []
            for d in range(draws):
                idx = balanced_subset(labels, size, seed=d) if size < len(labels) else np.arange(len(labels))
                r = np.array([reward(v, metric, idx) for v in values])
                rho.append(stats.spearmanr(r, test).statistic)
                tau.append(stats.kendalltau(r, test).statistic)
                rho_good.append(stats.spearmanr(r[good], test[good]).statistic)
            out[(metric, size)] = (float(np.mean(rho)), float(np.mean(tau)), float(np.std(rho)), float(np.mean(rho_good)))
    return out


def finetuned_correlation(rec: dict, metric: str, size: int) -> float | None:
    if len(rec["finetuned"]) < 3:
        return None
    labels = np.asarray(rec["holdout_labels"])
    idx = balanced_subset(labels, size, seed=0) if size < len(labels) else np.arange(len(labels))
    pre = [
        reward({m: np.asarray(v) for m, v in rec["policies"][f["policy"]]["holdout"].items()}, metric, idx)
        for f in rec["finetuned"]
    ]
    post = [f["test_top1_finetuned"] for f in rec["finetuned"]]
    return float(stats.spearmanr(pre, post).statistic)


def table(rec: dict) -> str:
    corr = correlations(rec)
    tests = np.array([p["test_top1"] for p in rec["policies"]])
    lats = [p["latency_rel"] for p in rec["policies"]]
    lines = [
        f"### {rec['model']}",
        "",
        f"{len(rec['policies'])} policies (latency {min(lats):.2f}–{max(lats):.2f} of 8-bit on the temporal accelerator, "
        f"test top-1 {100 * min(tests):.1f}–{100 * max(tests):.1f} %; float {100 * rec['float']['test_top1']:.2f} % test, "
        f"{100 * rec['float']['holdout_top1']:.2f} % holdout) on {rec['test_images']} test images; "
        f"{rec['draws']} seeded class-balanced holdout subsets per size below 5000 (ρ is their mean); "
        f"the better half: the {int(np.sum(tests >= np.median(tests)))} policies at or above the median test top-1; "
        f"device {rec['device']}; "
        f"recorded {rec['date']} by `{rec['command']}` on {rec['machine']}.",
        "",
        "| metric | images | Spearman ρ (± over draws) | Kendall τ | ρ, better half | ρ after finetuning | evaluation s |",
        "|---|---|---|---|---|---|---|",
    ]
    for metric in METRICS:
        for size in rec["sizes"]:
            rho, tau, sd, rho_good = corr[(metric, size)]
            ft = finetuned_correlation(rec, metric, size)
            t = rec["episode_s"].get(metric, {}).get(str(size)) if rec["episode_s"] else None
            lines.append(
                f"| {metric} | {size} | {rho:.3f} (± {sd:.3f}) | {tau:.3f} | {rho_good:.3f} | "
                f"{'' if ft is None else f'{ft:.3f}'} | {'' if t is None else f'{t:.2f}'} |"
            )
    if rec["finetuned"]:
        lines += [
            "",
            f"Finetuned: {len(rec['finetuned'])} policies spread over the test top-1 range, "
            f"{rec['finetune_steps']} SGD steps of 128 training images each (lr 1e-3, momentum 0.9).",
        ]
    return "\n".join(lines)


def report(records: Path, results: Path) -> str:
    title = "Reward fidelity: reward metric and size against test top-1 (benchmarks/reward_fidelity.py)"
    return report_records("reward_fidelity", title, records, table, "benchmarks/reward_fidelity.py", results)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    p.add_argument("--policies", type=int, default=42)
    p.add_argument("--sizes", type=int, nargs="+", default=[250, 500, 1000, 5000])
    p.add_argument("--draws", type=int, default=10, help="seeded holdout subsets per size below 5000")
    p.add_argument("--test-size", type=int, default=10000, help="test images (evenly spaced; 10000 = all)")
    p.add_argument("--finetune", type=int, default=0, help="policies to finetune briefly (0: none)")
    p.add_argument("--finetune-steps", type=int, default=100)
    p.add_argument(
        "--time", action=argparse.BooleanOptionalAction, default=True, help="time one search evaluation per metric and size"
    )
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=250)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--records", type=Path, default=RECORDS)
    p.add_argument("--results", type=Path, default=RESULTS)
    p.add_argument("--report-only", action="store_true", help="regenerate the RESULTS.md section from the records")
    p.add_argument("--no-record", action="store_true", help="print, write no record and no RESULTS.md section")
    args = p.parse_args()
    if not args.report_only:
        for name in args.models:
            rec = run_model(name, args)
            if args.no_record:
                print(table(rec))
                continue
            write_record(args.records / f"{name}.json.gz", rec)
    if not args.no_record:
        print(report(args.records, args.results))


if __name__ == "__main__":
    main()
