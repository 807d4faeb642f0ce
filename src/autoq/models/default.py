"""The embedded default: the small CNN trained once on digits and cached in the user's cache folder."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from autoq.data.paths import cache_dir
from autoq.errors import AutoQError

log = logging.getLogger(__name__)

# Changing the recipe changes the file name, so a stale cache is never used.
RECIPE = {"version": 1, "seed": 0, "epochs": 15, "batch_size": 32, "lr": 3e-3, "weight_decay": 1e-4}


def default_weights_path() -> Path:
    return cache_dir() / "models" / f"digits-cnn-v{RECIPE['version']}.pt"


def train_digits_cnn(progress: bool = True) -> tuple[nn.Module, dict]:
    """Train the small CNN on the digits training split with a fixed seed; return it and its metrics.

    Adam with cosine learning-rate decay, no augmentation, one thread: the same weights on every run
    of the same machine and library versions.
    """
    from autoq.data import load_dataset
    from autoq.utils.seeding import seed_everything

    seed_everything(RECIPE["seed"])
    data = load_dataset("digits")
    # Batches of 32 8x8 images are too small to share between threads: one thread is as fast when the
    # machine is idle and several times faster when other processes compete for the cores.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model, seconds = _train(data, progress)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    x, y = data.test.tensors  # type: ignore[attr-defined]
    with torch.no_grad():
        accuracy = (model(x).argmax(1) == y).float().mean().item()
    log.info("trained digits-cnn in %.1f s: test accuracy %.2f %% on %d images", seconds, 100 * accuracy, len(y))
    return model, {"test_accuracy": accuracy, "train_seconds": seconds, "test_images": len(y), **RECIPE}


def _train(data, progress: bool) -> tuple[nn.Module, float]:
    from tqdm.auto import tqdm

    from autoq.data import iterate_batches
    from autoq.models.small_cnn import SmallCNN

    model = SmallCNN(10, in_channels=1)
    opt = torch.optim.Adam(model.parameters(), lr=RECIPE["lr"], weight_decay=RECIPE["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=RECIPE["epochs"])
    start = time.perf_counter()
    bar = tqdm(range(RECIPE["epochs"]), desc="training digits-cnn (once)", disable=not progress, leave=False)
    for epoch in bar:
        model.train()
        for x, y in iterate_batches(data.train, RECIPE["batch_size"], shuffle=True, seed=RECIPE["seed"], epoch=epoch):
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    return model, time.perf_counter() - start


def default_model(retrain: bool = False) -> tuple[nn.Module, Path]:
    """The embedded default model in eval mode and the path of its cached weights.

    Trains it on first use (seconds on a CPU) and writes the weights atomically into the cache;
    later calls load the cached file. A corrupt cache file is replaced.
    """
    from autoq.models.registry import create_model
    from autoq.models.weights import load_weights
    from autoq.utils.io import atomic_torch_save

    path = default_weights_path()
    if path.is_file() and not retrain:
        model = create_model("digits-cnn")
        try:
            load_weights(model, path)
            return model.eval(), path
        except AutoQError as e:
            log.warning("cached default model unusable (%s); training it again", e)
    log.info("training the embedded default model (digits-cnn on digits); cached at %s", path)
    model, meta = train_digits_cnn()
    atomic_torch_save(path, {"state_dict": model.state_dict(), "meta": meta})
    return model.eval(), path
