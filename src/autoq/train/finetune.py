"""Quantization-aware finetuning of a policy (docs/search.md, "Finetuning"): SGD, fixed learning rate, best epoch kept.

The best epoch is chosen by reward-split accuracy, equal accuracies by the lower reward-split loss
(a small reward split saturates: at 100 % every epoch ties); the test split is evaluated once, at
the end.
With ``torchrun`` each process trains on its part of every global batch (DistributedDataParallel)
and the loss is scaled so that the gradient equals the single-process one.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from autoq.config import FinetuneConfig, RunConfig
from autoq.data import as_tensors, iterate_batches
from autoq.data.loader import fits_in_memory
from autoq.engine.device import fast_memory_format
from autoq.engine.distributed import all_reduce_accuracy, all_reduce_sum, init_distributed
from autoq.engine.loops import evaluate
from autoq.engine.setup import build_workload
from autoq.errors import AutoQError
from autoq.quant import Policy, quantized
from autoq.runs import folder as rf
from autoq.runs.lock import claimed
from autoq.train.sgd import train_steps
from autoq.utils.io import atomic_torch_save, atomic_write_json
from autoq.utils.seeding import seed_everything

log = logging.getLogger("autoq.finetune")


@dataclass
class FinetuneResult:
    """Accuracy of the finetuned policy (test split) against the float model on the same images."""

    run_dir: Path
    top1: float
    top5: float
    n: int
    float_top1: float
    float_top5: float
    reward_top1_before: float
    reward_top1_after: float
    best_epoch: int
    weights: Path
    history: list

    def to_dict(self) -> dict:
        return {
            "top1": self.top1,
            "top5": self.top5,
            "n": self.n,
            "float_top1": self.float_top1,
            "float_top5": self.float_top5,
            "paired_top1_diff": self.top1 - self.float_top1,
            "reward_top1_before": self.reward_top1_before,
            "reward_top1_after": self.reward_top1_after,
            "best_epoch": self.best_epoch,
            "weights": str(self.weights),
        }


def finetune(
    policy,
    run: RunConfig,
    ft: FinetuneConfig | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    work=None,
    ctx=None,
    progress: bool = True,
) -> FinetuneResult:
    """Finetune ``policy`` (a Policy or a policy file) on ``run``'s model and data; files go to ``run_dir``.

    The folder is locked while this process writes into it (a search that finetunes holds it already).
    """

    ft = ft or FinetuneConfig()
    ft.validate()
    run.validate()
    ctx = ctx or init_distributed(run.device)
    run_dir = Path(run_dir or run.out or "runs/finetune")
    if not ctx.is_main:
        return _finetune(policy, run, ft, run_dir, resume, work, ctx, progress)
    with claimed(run_dir, progress=rf.FINETUNE_CHECKPOINT):
        rf.remove_temporaries(run_dir)
        return _finetune(policy, run, ft, run_dir, resume, work, ctx, progress)


@dataclass
class _Epochs:
    """The epochs trained so far: the best one (reward top-1, then lower reward loss) and one row each."""

    best_acc: float
    best_loss: float
    best_epoch: int
    best_state: dict
    history: list = field(default_factory=list)
    start: int = 1  # the next epoch to train

    def offer(self, epoch: int, scored, model: nn.Module) -> None:
        """Keep ``model``'s weights when epoch ``epoch`` scored better than the best so far."""
        if (scored.top1, -scored.loss) > (self.best_acc, -self.best_loss):
            self.best_acc, self.best_loss, self.best_epoch = scored.top1, scored.loss, epoch
            self.best_state = copy.deepcopy(model.state_dict())

    def checkpoint(self, epoch: int, model: nn.Module, opt: torch.optim.Optimizer) -> dict:
        return {
            "epoch": epoch,
            "model": model.state_dict(),
            "optimizer": opt.state_dict(),
            "best_acc": self.best_acc,
            "best_loss": self.best_loss,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "history": self.history,
        }

    def resume(self, path: Path, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        """Continue from the checkpoint at ``path``: weights, optimiser, best epoch and history."""
        state = rf.load_checkpoint(path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        self.best_acc, self.best_epoch, self.best_state, self.history = (
            state["best_acc"],
            state["best_epoch"],
            state["best_state"],
            state["history"],
        )
        self.best_loss = state.get("best_loss", math.inf)
        self.start = state["epoch"] + 1


def _finetune(
    policy, run: RunConfig, ft: FinetuneConfig, run_dir: Path, resume: bool, work, ctx, progress: bool
) -> FinetuneResult:
    """The finetuning itself, in a folder this process holds (on the main process)."""

    seed_everything(run.seed)
    work = work or build_workload(run)
    if not isinstance(policy, Policy):
        policy = Policy.load(policy, work.layers)
    policy.validate(work.layers)
    qmodel = _quantized_copy(work, policy, run, ctx.device)
    train_model = _distributed(qmodel, ctx)
    opt = torch.optim.SGD(qmodel.parameters(), lr=ft.lr, momentum=ft.momentum, weight_decay=ft.weight_decay)
    scored = _accuracy(qmodel, work.splits.reward, run, ctx)
    epochs = _Epochs(scored.top1, scored.loss, 0, copy.deepcopy(qmodel.state_dict()))
    ckpt_path = run_dir / rf.FINETUNE_CHECKPOINT
    if resume and ckpt_path.exists():
        epochs.resume(ckpt_path, qmodel, opt)
    _train(train_model, qmodel, opt, epochs, work, run, ft, run_dir, ctx, progress)

    qmodel.load_state_dict(epochs.best_state)
    test = _accuracy(qmodel, work.splits.test, run, ctx)
    float_test = _accuracy(work.model.to(ctx.device), work.splits.test, run, ctx)
    weights = run_dir / rf.FINETUNED
    result = FinetuneResult(
        run_dir,
        test.top1,
        test.top5,
        test.n,
        float_test.top1,
        float_test.top5,
        scored.top1,
        epochs.best_acc,
        epochs.best_epoch,
        weights,
        epochs.history,
    )
    if ctx.is_main:
        atomic_torch_save(weights, epochs.best_state)
        policy.save(run_dir / "finetuned_policy.json")
        atomic_write_json(run_dir / rf.FINETUNE_JSON, result.to_dict())
    return result


def _quantized_copy(work, policy, run: RunConfig, device: torch.device) -> nn.Module:
    """The calibrated quantized model, in the search's memory layout: the same scores, faster steps."""

    sample = next(iter(iterate_batches(work.splits.calib, 2)))[0]
    fmt = fast_memory_format(work.model, sample, device)
    calib = iterate_batches(work.splits.calib, run.batch_size)
    return quantized(
        work.model, policy, calib, weight_clip=run.weight_clip, act_clip=run.act_clip, device=device, memory_format=fmt
    )


def _accuracy(model: nn.Module, split, run: RunConfig, ctx):
    """Accuracy of ``model`` on ``split``, every process evaluating its shard."""

    batches = iterate_batches(split, run.batch_size, rank=ctx.rank, world_size=ctx.world_size, num_workers=run.workers)
    return all_reduce_accuracy(evaluate(model, batches, ctx.device), ctx)


def _train(
    train_model: nn.Module,
    qmodel: nn.Module,
    opt,
    epochs: _Epochs,
    work,
    run: RunConfig,
    ft: FinetuneConfig,
    run_dir: Path,
    ctx,
    progress: bool,
) -> None:
    """Epochs ``epochs.start`` to ``ft.epochs``, each scored on the reward split and checkpointed."""

    n_train = len(work.splits.train)
    if n_train < ft.train_batch_size and ft.epochs:
        raise AutoQError(
            f"the training split has {n_train} images, fewer than one batch of {ft.train_batch_size}: "
            "lower the finetuning batch size (--train-batch-size)"
        )
    fetch = _Fetcher(work.splits.train) if ft.epochs else None
    bar = tqdm(total=ft.epochs, initial=epochs.start - 1, desc="finetune", unit="epoch", disable=not (progress and ctx.is_main))
    for epoch in range(epochs.start, ft.epochs + 1):
        t0 = time.perf_counter()
        loss_sum, steps = _train_epoch(train_model, qmodel, opt, fetch, ft, run.seed, epoch, ctx)
        scored = _accuracy(qmodel, work.splits.reward, run, ctx)
        epochs.offer(epoch, scored, qmodel)
        epochs.history.append(
            {
                "epoch": epoch,
                "train_loss": loss_sum / max(steps, 1),
                "reward_top1": scored.top1,
                "reward_loss": scored.loss,
                "seconds": time.perf_counter() - t0,
            }
        )
        if ctx.is_main:
            rf.write_rows(run_dir / rf.FINETUNE_CSV, epochs.history)
            rf.save_checkpoint(run_dir / rf.FINETUNE_CHECKPOINT, epochs.checkpoint(epoch, qmodel, opt))
        bar.update(1)
        bar.set_postfix(loss=f"{epochs.history[-1]['train_loss']:.3f}", reward_top1=f"{scored.top1:.3f}", refresh=False)
    bar.close()


def _distributed(qmodel: nn.Module, ctx) -> nn.Module:
    """The module the training steps run: ``qmodel`` itself, or a DistributedDataParallel wrapper of it."""
    if not ctx.active:
        return qmodel

    device = ctx.device
    return DistributedDataParallel(qmodel, device_ids=[device] if device.type == "cuda" else None, broadcast_buffers=False)


def _train_epoch(train_model, qmodel, opt, fetch: _Fetcher, ft: FinetuneConfig, seed: int, epoch: int, ctx) -> tuple[float, int]:
    """One pass over the training split in global batches; this process takes every world_size-th image of each.

    Returns the sum over steps of the global mean loss, and the number of steps.
    """

    def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # sum over this process's images / global batch, times world size: DDP's mean makes it the global mean
        return F.cross_entropy(logits.float(), y, reduction="sum") * (ctx.world_size / ft.train_batch_size)

    batches = _global_batches(fetch, ft.train_batch_size, seed, epoch, ctx)
    losses = train_steps(
        qmodel, opt, batches, ctx.device, freeze_bn=ft.freeze_bn, amp=ft.amp, loss_fn=loss_fn, forward=train_model
    )
    loss_sum = 0.0
    for loss in losses:
        loss_sum += loss / ctx.world_size
    return all_reduce_sum(loss_sum, ctx), len(losses)


def _global_batches(fetch: _Fetcher, batch_size: int, seed: int, epoch: int, ctx) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """This process's part of each full global batch of the epoch's order (full batches only: equal steps everywhere)."""
    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(fetch.split), generator=g)
    for start in range(0, len(order) - batch_size + 1, batch_size):
        yield fetch(order[start : start + batch_size][ctx.rank :: ctx.world_size])


class _Fetcher:
    """Images and labels by index; the whole split is held in memory when it is small enough."""

    def __init__(self, split: Any) -> None:
        self.split = split
        self.tensors = as_tensors(split) if fits_in_memory(split) else None

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tensors is not None:
            return self.tensors[0][idx], self.tensors[1][idx]
        items = [self.split[int(i)] for i in idx]
        return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])
