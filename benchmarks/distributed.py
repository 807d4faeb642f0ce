"""Search episode and finetuning epoch time with 1 and with 2 processes (torchrun, gloo on CPU).

    python benchmarks/distributed.py

Both runs use the same machine and settings (ResNet-20 on cifar10-subset, the same seed); a single
process uses every core, each of N processes gets cores / N threads. The results are identical by
construction (tests/engine/test_distributed.py); this measures only the time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record  # noqa: E402

from autoq.data.paths import shared_dir  # noqa: E402
from autoq.runs.folder import read_rows  # noqa: E402


def run(procs: int, out: Path, args) -> dict:
    weights = shared_dir() / "models/cifar10/resnet20-12fca82f.th"
    cores = os.cpu_count() or 1
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // procs))}
    cli = [
        "search",
        "--model",
        "resnet20",
        "--weights",
        str(weights),
        "--dataset",
        "cifar10-subset",
        "--agent",
        "autoq",
        "--episodes",
        str(args.episodes),
        "--agent-warmup-episodes",
        str(args.episodes),
        "--reward-size",
        str(args.reward_size),
        "--calib-size",
        "128",
        "--quiet",
        "--finetune",
        "--finetune-epochs",
        "1",
        "--out",
        str(out),
    ]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={procs}", "-m", "autoq"]
    subprocess.run(launcher + cli, env=env, check=True, capture_output=True)
    rows = read_rows(out / "episodes.csv")[1:]
    ft = read_rows(out / "finetune.csv")[0]
    acc = json.loads((out / "finetune.json").read_text())
    return {
        "procs": procs,
        "threads": max(1, cores // procs),
        "episode_s": statistics.fmean(r["episode_s"] for r in rows),
        "eval_s": statistics.fmean(r["eval_s"] for r in rows),
        "epoch_s": ft["seconds"],
        "top1": acc["top1"],
        "rewards": [r["reward"] for r in read_rows(out / "episodes.csv")],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--reward-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = [run(p, Path(tmp) / f"p{p}", args) for p in (1, 2)]
    one, two = results
    lines = [
        f"ResNet-20, cifar10-subset, reward split {args.reward_size} images, mean of episodes 2..{args.episodes}; "
        f"finetuning: one epoch. Same episode rewards with 1 and 2 processes: {one['rewards'] == two['rewards']}; "
        f"finetuned test top-1 {100 * one['top1']:.1f} % / {100 * two['top1']:.1f} % (all-reduced gradients sum in "
        "another order, so the finetuned weights agree closely, not bit for bit).",
        "",
        "| processes | threads each | episode s | of which evaluation s | finetune epoch s | speed-up (episode) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['procs']} | {r['threads']} | {r['episode_s']:.2f} | {r['eval_s']:.2f} | {r['epoch_s']:.2f} | "
            f"{results[0]['episode_s'] / r['episode_s']:.2f} |"
        )
    body = "\n".join(lines)
    print(body)
    record("distributed", "Distributed search and finetuning, 1 against 2 processes (benchmarks/distributed.py)", body)


if __name__ == "__main__":
    main()
