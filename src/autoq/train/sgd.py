"""One loop of optimisation steps, shared by the policy finetune, the search's per-episode finetune,
the reward-fidelity benchmark and the training of the embedded default.

A short finetune sees little data, so batch norm can keep its running statistics (``freeze_bn``);
on a GPU the steps can run under bfloat16 autocast (``amp``) while the loss stays float32.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LossFn = Callable[[Tensor, Tensor], Tensor]


def mean_cross_entropy(logits: Tensor, y: Tensor) -> Tensor:
    """The default loss: cross-entropy averaged over the batch."""
    return F.cross_entropy(logits, y)


def set_train_mode(model: nn.Module, freeze_bn: bool = False) -> None:
    """Training mode for ``model``; with ``freeze_bn`` its batch-norm layers stay in eval mode, so their
    running statistics neither change nor normalise by batch statistics."""
    model.train()
    if freeze_bn:
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.eval()


def train_steps(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    batches: Iterable[tuple[Tensor, Tensor]],
    device: torch.device | str = "cpu",
    *,
    max_steps: int | None = None,
    freeze_bn: bool = False,
    amp: bool = False,
    loss_fn: LossFn = mean_cross_entropy,
    forward: nn.Module | None = None,
) -> list[float]:
    """One optimisation step per batch of ``batches`` (at most ``max_steps``); returns each step's loss.

    ``forward`` runs the forward pass when it is not ``model`` itself (a DistributedDataParallel
    wrapper of it); the modes are set on ``model``, which is left in eval mode.
    """
    device = torch.device(device)
    set_train_mode(model, freeze_bn)
    run = forward if forward is not None else model
    autocast = amp and device.type == "cuda"
    losses: list[float] = []
    try:
        for step, (x, y) in enumerate(batches):
            if max_steps is not None and step >= max_steps:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=autocast):
                logits = run(x)
            loss = loss_fn(logits, y)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    finally:
        model.eval()
    return losses
