"""Turn a float model into a fake-quantized one for a policy, and calibrate its activations.

:func:`quantized` does both at once: what every command that scores, finetunes or exports a policy needs.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from autoq.errors import AutoQError
from autoq.quant.modules import QUANT_MODULES, QuantMixin
from autoq.quant.policy import Policy


def quant_modules(model: nn.Module) -> dict[str, QuantMixin]:
    """The quantized layers of ``model`` by name, in registration order."""
    return {name: m for name, m in model.named_modules() if isinstance(m, QuantMixin)}


def apply_policy(model: nn.Module, policy: Policy, *, weight_clip: str = "mse", act_clip: str = "mse") -> nn.Module:
    """A quantized copy of ``model``: every layer named in ``policy`` becomes a fake-quantized layer.

    The float model is left untouched. Activations must be calibrated (:func:`calibrate`) before
    the copy is evaluated.
    """
    qmodel = copy.deepcopy(model)
    modules = dict(qmodel.named_modules())
    for name in policy.weight_bits:
        module = modules.get(name)
        if module is None:
            raise AutoQError(f"policy names layer {name!r}, which the model does not have")
        if isinstance(module, QuantMixin):
            continue
        cls = QUANT_MODULES.get(type(module))
        if cls is None:
            raise AutoQError(f"layer {name!r} is a {type(module).__name__}; only Conv2d and Linear are quantized")
        parent_name, _, child = name.rpartition(".")
        setattr(modules[parent_name] if parent_name else qmodel, child, cls.from_float(module, weight_clip, act_clip))
    set_policy(qmodel, policy)
    return qmodel


def set_policy(qmodel: nn.Module, policy: Policy) -> None:
    """Change the bits of an already quantized model in place (weights are re-quantized lazily)."""
    mods = quant_modules(qmodel)
    for name, bits in policy.weight_bits.items():
        if name not in mods:
            raise AutoQError(f"policy names layer {name!r}, which is not quantized in this model")
        mods[name].set_bits(bits, policy.act_bits[name])


def policy_of(qmodel: nn.Module) -> Policy:
    """The policy a quantized model currently carries."""
    mods = quant_modules(qmodel)
    return Policy(
        {n: m.w_bits.cpu().numpy() for n, m in mods.items()},
        {n: int(m.a_bits) for n, m in mods.items()},
    )


def calibrate(qmodel: nn.Module, batches: Iterable[Tensor | tuple], device: torch.device | str | None = None) -> int:
    """Record the input range of every quantized layer over ``batches``; returns the images seen.

    Weights stay quantized during the pass and activations float, so each clip fits what the
    quantized upstream layers really produce.
    """
    mods = quant_modules(qmodel)
    was_training = qmodel.training
    qmodel.eval()
    for m in mods.values():
        m.reset_calibration()
        m.observing = True
    seen = 0
    try:
        with torch.no_grad():
            for batch in batches:
                x = batch[0] if isinstance(batch, (tuple, list)) else batch
                if device is not None:
                    x = x.to(device, non_blocking=True)
                qmodel(x)
                seen += x.shape[0]
    finally:
        for m in mods.values():
            m.observing = False
        qmodel.train(was_training)
    if seen == 0:
        raise AutoQError("calibration saw no images: the calibration split is empty")
    return seen


def quantized(
    model: nn.Module,
    policy: Policy,
    calib_batches: Iterable[Tensor | tuple],
    *,
    weight_clip: str = "mse",
    act_clip: str = "mse",
    device: torch.device | str | None = None,
    memory_format: torch.memory_format | None = None,
) -> nn.Module:
    """A quantized copy of ``model`` for ``policy``, on ``device``, with activations calibrated over
    ``calib_batches``, in eval mode.

    ``memory_format`` (e.g. channels-last) is applied before calibration, so the copy is calibrated
    in the layout it will run in.
    """
    qmodel = apply_policy(model, policy, weight_clip=weight_clip, act_clip=act_clip)
    if device is not None:
        qmodel.to(device)
    if memory_format is not None:
        qmodel.to(memory_format=memory_format)
    calibrate(qmodel, calib_batches, device)
    return qmodel.eval()
