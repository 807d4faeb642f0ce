"""ResNet-20 passes with glibc's allocator as it is and keeping freed memory (what the command line sets).

    python benchmarks/allocator.py            # three pairs of fresh processes, alternating
    python benchmarks/allocator.py --pairs 5

The setting is process-wide and cannot be undone, so each measurement runs in a fresh process
(``--child``). Each process times, five times in turn: the float pass over the 1000-image reward
split as given and channels-last, and the search environment's evaluation of a random policy
(calibration on 256 images and the reward-split pass). The table gives the medians over all
processes of each kind, and their ratio side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import RESULTS, record  # noqa: E402

PARTS = {
    "float_given": "float pass, as given",
    "float_cl": "float pass, channels-last",
    "evaluation": "search evaluation of a policy",
}


def child(retained: bool) -> dict[str, list[float]]:
    """Times of each part, five rounds, in this process."""
    import copy
    import time

    import numpy as np
    import torch

    from autoq.data.paths import shared_dir
    from autoq.engine.distributed import DistContext
    from autoq.engine.loops import evaluate
    from autoq.engine.setup import build_workload
    from autoq.quant import Policy
    from autoq.search import SearchConfig
    from autoq.search.environment import QuantEnv
    from autoq.utils.allocator import retain_freed_memory

    if retained and not retain_freed_memory():
        raise SystemExit("glibc's allocator cannot be set here")
    root = shared_dir()
    if root is None:
        raise SystemExit("shared folder not found (set AUTOQ_SHARED)")
    cfg = SearchConfig(model="resnet20", weights=str(root / "models/cifar10/resnet20-12fca82f.th"), dataset="cifar10-subset")
    work = build_workload(cfg)
    env = QuantEnv(work, cfg, None, DistContext())
    passes = {}
    for key, fmt in (("float_given", torch.contiguous_format), ("float_cl", torch.channels_last)):
        model = copy.deepcopy(work.model).to(memory_format=fmt)
        batches = [(x.contiguous(memory_format=fmt), y) for x, y in env.reward]
        passes[key] = (lambda m, b: lambda: evaluate(m, b))(model, batches)
    rng = np.random.default_rng(0)

    def evaluation() -> None:
        bits = {l.name: rng.integers(2, 9, l.c_out) for l in work.layers}
        env.accuracy(Policy(bits, {l.name: int(rng.integers(2, 9)) for l in work.layers}))

    passes["evaluation"] = evaluation
    for run in passes.values():
        run()  # warm-up
    times: dict[str, list[float]] = {k: [] for k in passes}
    for _ in range(5):
        for key, run in passes.items():
            t = time.perf_counter()
            run()
            times[key].append(time.perf_counter() - t)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=3, help="pairs of processes, one of each kind, alternating")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--child", choices=["system", "retained"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child == "retained")))
        return
    times: dict[str, dict[str, list[float]]] = {"system": {k: [] for k in PARTS}, "retained": {k: [] for k in PARTS}}
    env = {**os.environ, "AUTOQ_MALLOC": ""}
    for pair in range(args.pairs):
        for kind in ("system", "retained"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", kind], env=env, check=True, capture_output=True, text=True
            ).stdout
            for key, values in json.loads(out.strip().splitlines()[-1]).items():
                times[kind][key] += values
            print(f"pair {pair + 1}/{args.pairs}: {kind} done", file=sys.stderr)
    lines = [
        f"{args.pairs} pairs of fresh processes, alternating; five timings of each part per process; medians in seconds. "
        "Evaluation = calibration on 256 images + the 1000-image reward-split pass of the fused quantized graph, "
        "for a new random policy each time.",
        "",
        "| part | glibc as it is | keeping freed memory | ratio |",
        "|---|---|---|---|",
    ]
    for key, title in PARTS.items():
        a, b = statistics.median(times["system"][key]), statistics.median(times["retained"][key])
        lines.append(f"| {title} | {a:.3f} | {b:.3f} | {b / a:.2f} |")
    body = "\n".join(lines)
    print(body)
    record(
        "allocator",
        "glibc's allocator: as it is against keeping freed memory (benchmarks/allocator.py)",
        body,
        results=args.results,
    )


if __name__ == "__main__":
    main()
