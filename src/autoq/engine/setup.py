"""Build the model, its layers and the data splits that a run's settings name (shared by every command).

Imports of torch happen inside the functions, so that the command line starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from autoq.data import load_dataset, make_splits
from autoq.errors import AutoQError
from autoq.models import create_model, default_model, model_spec
from autoq.quant import discover_layers

DEFAULT_MODEL = "digits-cnn"


@dataclass
class Workload:
    """A model ready to quantize and the data to search and finetune it on."""

    model: Any  # torch.nn.Module
    spec: Any
    discovery: Any  # autoq.quant.Discovery
    data: Any = None
    splits: Any = None

    @property
    def layers(self):
        return self.discovery.layers


MAX_INPUT_ELEMENTS = 3 * 2048 * 2048  # far above any classification input, far below what exhausts memory


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``C,H,W`` (or ``CxHxW``) as a tuple; None stays None."""
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in str(text).replace("x", ",").split(","))
    except ValueError:
        raise AutoQError(f"input shape {text!r} is not C,H,W (e.g. 3,224,224)") from None
    if len(shape) != 3 or min(shape) <= 0:
        raise AutoQError(f"input shape {text!r} must be three positive integers C,H,W")
    if shape[0] * shape[1] * shape[2] > MAX_INPUT_ELEMENTS:
        raise AutoQError(
            f"input shape {text!r} has more than {MAX_INPUT_ELEMENTS} values per image; give the model's real input size"
        )
    return shape


def check_finite(model: Any, source: str) -> None:
    """Refuse a model with NaN or infinite weights, naming the first such tensor (it would score chance)."""

    for name, t in list(model.named_parameters()) + list(model.named_buffers()):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise AutoQError(
                f"{source}: tensor {name!r} holds NaN or infinite values; use weights from a finished, stable training run"
            )


def build_model(
    model: str | None = None,
    weights: str | None = None,
    pretrained: bool = False,
    num_classes: int | None = None,
    input_shape: str | None = None,
    trust_checkpoint: bool = False,
) -> Workload:
    """The named model (weights loaded, eval mode) and its layers; no name gives the embedded default."""

    shape = parse_shape(input_shape)
    if num_classes is not None and not 1 <= num_classes <= 1_000_000:
        raise AutoQError(f"--num-classes {num_classes} must be between 1 and 1000000")
    if model is None and weights is None and not pretrained:
        net, _ = default_model()
        spec = model_spec(DEFAULT_MODEL)
    else:
        name = model or DEFAULT_MODEL
        spec = model_spec(name, input_shape=shape, num_classes=num_classes)
        net = create_model(
            name,
            weights=weights,
            num_classes=num_classes,
            pretrained=pretrained,
            input_shape=shape,
            trust_checkpoint=trust_checkpoint,
        )
    net.eval()
    check_finite(net, f"weights {weights!r}" if weights else f"model {spec.name!r}")
    discovery = discover_layers(net, torch.zeros(1, *spec.input_shape))
    if not discovery.layers:
        raise AutoQError(f"model {spec.name!r} has no Conv2d or Linear layer to quantize")
    return Workload(net, spec, discovery)


def attach_data(
    work: Workload,
    dataset: str | None = None,
    data_dir: str | None = None,
    calib_size: int = 256,
    reward_size: int = 1000,
    seed: int = 0,
) -> Workload:
    """Load the data set (the model's own by default) and its seeded calibration / reward / train / test splits."""

    name = dataset or work.spec.default_dataset
    if name is None:
        raise AutoQError(f"model {work.spec.name!r} has no default data set: pass --dataset")
    work.data = load_dataset(
        name,
        data_dir,
        input_shape=work.spec.input_shape,
        num_classes=work.spec.num_classes,
        preprocess=getattr(work.spec, "preprocess", None),
    )
    work.splits = make_splits(work.data, calib_size=calib_size, reward_size=reward_size, seed=seed)
    return work


def build_workload(cfg: Any) -> Workload:
    """Model and data from any settings object with the :class:`~autoq.config.RunConfig` fields."""
    work = build_model(cfg.model, cfg.weights, cfg.pretrained, cfg.num_classes, cfg.input_shape, cfg.trust_checkpoint)
    return attach_data(work, cfg.dataset, cfg.data_dir, cfg.calib_size, cfg.reward_size, cfg.seed)
