"""Train the embedded default (digits-cnn on digits) and write the weights that ship with the package.

The weights are trained once and committed as ``src/autoq/models/weights/digits-cnn.safetensors`` so
that every machine runs the same model: training is deterministic only for one machine and library
build, and a figure measured on the shipped model (e.g. 362 of 364 test images) must hold everywhere.

Run from the repository root to retrain (about 5 s on one CPU core)::

    python tools/train_default_model.py            # rewrites the shipped file
    python tools/train_default_model.py --out X    # writes elsewhere, e.g. to compare

Recipe: seed 0, 15 epochs of Adam (lr 3e-3, weight decay 1e-4) with cosine decay, batch 32, no
augmentation, one thread. The file's metadata records the recipe, the test accuracy and the torch
version that trained it.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from autoq.data import iterate_batches, load_dataset  # noqa: E402
from autoq.models.default import WEIGHTS_FILE, save_default_weights  # noqa: E402
from autoq.models.small_cnn import SmallCNN  # noqa: E402
from autoq.train.sgd import train_steps  # noqa: E402
from autoq.utils.seeding import seed_everything  # noqa: E402

RECIPE = {"seed": 0, "epochs": 15, "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-4}


def train(data) -> nn.Module:
    """The recipe above on the digits training split."""
    model = SmallCNN(10, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=RECIPE["epochs"])
    for epoch in range(RECIPE["epochs"]):
        train_steps(model, opt, iterate_batches(data.train, RECIPE["batch_size"], shuffle=True, seed=RECIPE["seed"], epoch=epoch))
        sched.step()
    return model.eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=WEIGHTS_FILE, help="safetensors file to write")
    args = parser.parse_args()
    seed_everything(RECIPE["seed"])
    torch.set_num_threads(1)
    data = load_dataset("digits")
    start = time.perf_counter()
    model = train(data)
    seconds = time.perf_counter() - start
    x, y = data.test.tensors
    with torch.no_grad():
        correct = int((model(x).argmax(1) == y).sum())
    meta = {
        **RECIPE,
        "test_correct": correct,
        "test_images": len(y),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "train_seconds": round(seconds, 1),
    }
    save_default_weights(model, args.out, meta)
    print(json.dumps({"out": str(args.out), **meta}))


if __name__ == "__main__":
    main()
