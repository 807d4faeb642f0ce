"""Quantization-aware finetuning of a policy (method.md §2): SGD, fixed learning rate, best epoch kept.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from autoq.errors import AutoQError
from autoq.search import runfolder as rf
from autoq.config import FinetuneConfig, RunConfig
from autoq.utils.io import atomic_torch_save, atomic_write_json

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
            "top1": self.top1, "top5": self.top5, "n": self.n, "float_top1": self.float_top1, "float_top5": self.float_top5,
            "paired_top1_diff": self.top1 - self.float_top1, "reward_top1_before": self.reward_top1_before,
            "reward_top1_after": self.reward_top1_after, "best_epoch": self.best_epoch, "weights": str(self.weights),
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
    from autoq.engine.distributed import init_distributed
    from autoq.search.lock import RunLock

    ft = ft or FinetuneConfig()
    ft.validate()
    run.validate()
    ctx = ctx or init_distributed(run.device)
    run_dir = Path(run_dir or run.out or "runs/finetune")
    if not ctx.is_main:
        return _finetune(policy, run, ft, run_dir, resume, work, ctx, progress)
    rf.make_folder(run_dir)
    with RunLock(run_dir):
        rf.remove_temporaries(run_dir)
        return _finetune(policy, run, ft, run_dir, resume, work, ctx, progress)


def _finetune(policy, run: RunConfig, ft: FinetuneConfig, run_dir: Path, resume: bool, work, ctx, progress: bool) -> FinetuneResult:
    """The finetuning itself, in a folder this process holds (on the main process)."""
    from tqdm import tqdm

    from autoq.data import iterate_batches
    from autoq.engine.device import fast_memory_format
    from autoq.engine.distributed import all_reduce_accuracy
    from autoq.engine.loops import evaluate
    from autoq.engine.setup import build_workload
    from autoq.quant import Policy, apply_policy, calibrate
    from autoq.utils.seeding import seed_everything

    seed_everything(run.seed)
    work = work or build_workload(run)
    if not isinstance(policy, Policy):
        policy = Policy.load(policy, work.layers)
    policy.validate(work.layers)
    device = ctx.device

    def accuracy(model, split):
        batches = iterate_batches(split, run.batch_size, rank=ctx.rank, world_size=ctx.world_size, num_workers=run.workers)
        return all_reduce_accuracy(evaluate(model, batches, device), ctx)

    sample = next(iter(iterate_batches(work.splits.calib, 2)))[0]
    fmt = fast_memory_format(work.model, sample, device)  # the search's layout: the same scores, faster steps
    qmodel = apply_policy(work.model, policy, weight_clip=run.weight_clip, act_clip=run.act_clip).to(device, memory_format=fmt)
    calibrate(qmodel, iterate_batches(work.splits.calib, run.batch_size), device)
    train_model = qmodel
    if ctx.active:
        from torch.nn.parallel import DistributedDataParallel

        train_model = DistributedDataParallel(qmodel, device_ids=[device] if device.type == "cuda" else None, broadcast_buffers=False)
    opt = torch.optim.SGD(qmodel.parameters(), lr=ft.lr, momentum=ft.momentum, weight_decay=ft.weight_decay)

    scored = accuracy(qmodel, work.splits.reward)
    before = scored.top1
    best_acc, best_loss, best_epoch, best_state, history, start = before, scored.loss, 0, copy.deepcopy(qmodel.state_dict()), [], 1
    ckpt_path = run_dir / rf.FINETUNE_CHECKPOINT
    if resume and ckpt_path.exists():
        state = rf.load_checkpoint(ckpt_path)
        qmodel.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        best_acc, best_epoch, best_state, history = state["best_acc"], state["best_epoch"], state["best_state"], state["history"]
        best_loss = state.get("best_loss", math.inf)
        start = state["epoch"] + 1

    n_train = len(work.splits.train)
    if n_train < ft.train_batch_size and ft.epochs:
        raise AutoQError(f"the training split has {n_train} images, fewer than one batch of {ft.train_batch_size}: lower the finetuning batch size (--train-batch-size)")
    fetch = _Fetcher(work.splits.train) if ft.epochs else None
    bar = tqdm(total=ft.epochs, initial=start - 1, desc="finetune", unit="epoch", disable=not (progress and ctx.is_main))
    for epoch in range(start, ft.epochs + 1):
        t0 = time.perf_counter()
        loss_sum, steps = _train_epoch(train_model, qmodel, opt, fetch, ft, run.seed, epoch, ctx)
        scored = accuracy(qmodel, work.splits.reward)
        acc = scored.top1
        if (acc, -scored.loss) > (best_acc, -best_loss):
            best_acc, best_loss, best_epoch, best_state = acc, scored.loss, epoch, copy.deepcopy(qmodel.state_dict())
        history.append({"epoch": epoch, "train_loss": loss_sum / max(steps, 1), "reward_top1": acc, "reward_loss": scored.loss,
                        "seconds": time.perf_counter() - t0})
        if ctx.is_main:
            rf.write_rows(run_dir / rf.FINETUNE_CSV, history)
            rf.save_checkpoint(ckpt_path, {"epoch": epoch, "model": qmodel.state_dict(), "optimizer": opt.state_dict(),
                                           "best_acc": best_acc, "best_loss": best_loss, "best_epoch": best_epoch, "best_state": best_state,
                                           "history": history})
        bar.update(1)
        bar.set_postfix(loss=f"{history[-1]['train_loss']:.3f}", reward_top1=f"{acc:.3f}", refresh=False)
    bar.close()

    qmodel.load_state_dict(best_state)
    test = accuracy(qmodel, work.splits.test)
    float_test = accuracy(work.model.to(device), work.splits.test)
    weights = run_dir / rf.FINETUNED
    result = FinetuneResult(run_dir, test.top1, test.top5, test.n, float_test.top1, float_test.top5,
                            before, best_acc, best_epoch, weights, history)
    if ctx.is_main:
        atomic_torch_save(weights, best_state)
        policy.save(run_dir / "finetuned_policy.json")
        atomic_write_json(run_dir / rf.FINETUNE_JSON, result.to_dict())
    return result


def _train_epoch(train_model, qmodel, opt, fetch: _Fetcher, ft: FinetuneConfig, seed: int, epoch: int, ctx) -> tuple[float, int]:
    """One pass over the training split in global batches; this process takes every world_size-th image of each.

    Returns the sum over steps of the global mean loss, and the number of steps.
    """
    from autoq.engine.distributed import all_reduce_sum

    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    order = torch.randperm(len(fetch.split), generator=g)
    qmodel.train()
    if ft.freeze_bn:
        for m in qmodel.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()
    amp = ft.amp and ctx.device.type == "cuda"
    loss_sum, steps = 0.0, 0
    for start in range(0, len(order) - ft.train_batch_size + 1, ft.train_batch_size):  # full batches only: equal steps everywhere
        idx = order[start : start + ft.train_batch_size][ctx.rank :: ctx.world_size]
        x, y = fetch(idx)
        x, y = x.to(ctx.device, non_blocking=True), y.to(ctx.device, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=amp):
            logits = train_model(x)
        # sum over this process's images / global batch, times world size: DDP's mean makes it the global mean
        loss = F.cross_entropy(logits.float(), y, reduction="sum") * (ctx.world_size / ft.train_batch_size)
        loss.backward()
        opt.step()
        loss_sum += float(loss.detach()) / ctx.world_size
        steps += 1
    qmodel.eval()
    return all_reduce_sum(loss_sum, ctx), steps


class _Fetcher:
    """Images and labels by index; the whole split is held in memory when it is small enough."""

    def __init__(self, split) -> None:
        from autoq.data import as_tensors
        from autoq.search.environment import MAX_CACHED_BYTES, split_bytes

        self.split = split
        self.tensors = as_tensors(split) if len(split) and split_bytes(split) <= MAX_CACHED_BYTES else None

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tensors is not None:
            return self.tensors[0][idx], self.tensors[1][idx]
        items = [self.split[int(i)] for i in idx]
        return torch.stack([x for x, _ in items]), torch.tensor([int(y) for _, y in items])
