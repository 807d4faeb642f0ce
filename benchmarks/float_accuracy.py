"""Float32 top-1 of the JPEG CIFAR-10 bench's four networks on all test and holdout images.

    python benchmarks/float_accuracy.py [--device cuda]

The same evaluation as ``autoq evaluate --model M --pretrained --dataset cifar10-jpeg --split S``;
the shared folder's README gives the figures measured when the weights were trained.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import RESULTS, record  # noqa: E402

from autoq.data import iterate_batches  # noqa: E402
from autoq.data.paths import shared_dir  # noqa: E402
from autoq.engine.device import resolve_device  # noqa: E402
from autoq.engine.loops import evaluate  # noqa: E402
from autoq.engine.setup import attach_data, build_model  # noqa: E402

# model, how its weights are named, top-1 % measured when trained (test, holdout)
MODELS = [
    ("resnet20", "models/cifar10-jpeg/resnet20.pth", 86.97, 87.22),
    ("resnet18-cifar", None, 90.49, 90.56),
    ("mobilenet_v2-cifar", None, 88.90, 88.90),
    ("squeezenet1_0-cifar", None, 81.63, 82.06),
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args()
    device = resolve_device(args.device)
    lines = ["| model | test top-1 % | expected | holdout top-1 % | expected | seconds |", "|---|---|---|---|---|---|"]
    for name, weights, exp_test, exp_hold in MODELS:
        t = time.perf_counter()
        path = str(shared_dir() / weights) if weights else None
        work = build_model(name, weights=path, pretrained=weights is None)
        attach_data(work, "cifar10-jpeg")
        model = work.model.to(device)
        acc = {s: evaluate(model, iterate_batches(getattr(work.splits, s), 500), device).top1 for s in ("test", "holdout")}
        lines.append(
            f"| {name} | {100 * acc['test']:.2f} | {exp_test:.2f} | {100 * acc['holdout']:.2f} | {exp_hold:.2f} | "
            f"{time.perf_counter() - t:.0f} |"
        )
        print(lines[-1], flush=True)
    record(
        "float_accuracy",
        "Float accuracy of the JPEG CIFAR-10 bench (benchmarks/float_accuracy.py)",
        "\n".join(lines),
        results=args.results,
    )


if __name__ == "__main__":
    main()
