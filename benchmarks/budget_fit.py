"""How often a search's budget had to lower the agent's bits: two run folders compared.

Reads ``episodes.csv`` of two searches run with the same command, one before and one after a change
to the budget code, and records per run: the share of episodes the final lowering sweep touched
(``lowered``), the share the exact per-layer fit trimmed (``trimmed``; absent before it existed), the
mean steps of each, the share within the budget and the reward-split accuracy (best, and mean of the
last 50 episodes). The searches themselves are long (minutes per 100 episodes on a CPU); run them
first, e.g.::

    autoq search --model resnet20 --weights ../shared/models/cifar10/resnet20-12fca82f.th \\
        --dataset cifar10-subset --hardware temporal --budget latency=0.5 --reward-size 250 \\
        --episodes 200 --seed 0 --out runs/before
    python benchmarks/budget_fit.py --before runs/before --after runs/after --search-command "..."
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import record  # noqa: E402


def summarize(run: Path) -> dict[str, float]:
    """Rates and accuracies of one run folder's episodes."""
    with open(run / "episodes.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit(f"{run}/episodes.csv has no episodes")

    def steps(col: str) -> list[int]:
        return [int(r[col]) for r in rows] if col in rows[0] else []

    lowered, trimmed = steps("lowered"), steps("trimmed")
    acc = [float(r["accuracy"]) for r in rows]
    return {
        "episodes": len(rows),
        "lowered_rate": sum(s > 0 for s in lowered) / len(rows),
        "lowered_mean": statistics.mean(lowered),
        "trimmed_rate": sum(s > 0 for s in trimmed) / len(rows) if trimmed else float("nan"),
        "trimmed_mean": statistics.mean(trimmed) if trimmed else float("nan"),
        "within": sum(r["within_budget"] == "True" for r in rows) / len(rows),
        "best_acc": max(acc),
        "last50_acc": statistics.mean(acc[-50:]),
        "avg_w_bits": statistics.mean(float(r["avg_w_bits"]) for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="run folder of the search before")
    parser.add_argument("--after", type=Path, required=True, help="run folder of the search after")
    parser.add_argument("--search-command", default="", help="the autoq search command both runs used")
    parser.add_argument("--note", default="", help="one line on what changed between the runs")
    args = parser.parse_args()
    lines = []
    if args.search_command:
        lines += [f"Both searches: `{args.search_command}`.", ""]
    if args.note:
        lines += [args.note, ""]
    lines += [
        "| run | episodes | episodes lowered by the final sweep | mean sweep steps | episodes trimmed by the "
        "per-layer fit | mean trim steps | within budget | best accuracy | mean accuracy, last 50 | mean weight bits |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, run in (("before", args.before), ("after", args.after)):
        s = summarize(run)
        trimmed = "n/a" if s["trimmed_rate"] != s["trimmed_rate"] else f"{s['trimmed_rate']:.1%}"
        trim_mean = "n/a" if s["trimmed_mean"] != s["trimmed_mean"] else f"{s['trimmed_mean']:.2f}"
        row = (
            f"| {label} | {s['episodes']} | {s['lowered_rate']:.1%} | {s['lowered_mean']:.3f} | {trimmed} "
            f"| {trim_mean} "
            f"| {s['within']:.1%} | {s['best_acc']:.3f} | {s['last50_acc']:.3f} | {s['avg_w_bits']:.2f} |"
        )
        print(row)
        lines.append(row)
    record("budget_fit", "Budget fit: episodes the budget lowered (benchmarks/budget_fit.py)", "\n".join(lines))


if __name__ == "__main__":
    main()
