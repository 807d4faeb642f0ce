"""The model registry: ``create_model``, ``list_models``, ``model_spec``.

Names are torchvision's classification models, the CIFAR ResNets, ``digits-cnn``; a model the user
brings is named by ``path/to/file.py:factory`` or by the path of a TorchScript file (or, with
``trust_checkpoint``, of a pickled model).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from autoq.data.paths import shared_dir
from autoq.errors import AutoQError
from autoq.models import torchvision_models, user
from autoq.models.cifar_resnet import DEPTHS, CifarResNet
from autoq.models.cifar_stems import CIFAR_STEM_MODELS, build_cifar_stem, pretrained_file
from autoq.models.default import default_model
from autoq.models.small_cnn import SmallCNN
from autoq.models.weights import load_weights
from autoq.utils.registry import Registry

Shape = tuple[int, ...]


@dataclass(frozen=True)
class ModelSpec:
    """What the rest of the tool needs to know about a model before building it.

    ``input_shape`` is (C, H, W) without the batch dimension; ``preprocess`` holds the resize / crop /
    mean / std of torchvision's pretrained weights (``None`` for other models).
    """

    name: str
    input_shape: Shape
    num_classes: int | None
    default_dataset: str | None
    description: str
    preprocess: dict | None = None


@dataclass(frozen=True)
class _Entry:
    spec: ModelSpec
    build: Callable[[int | None, bool, Shape | None], nn.Module]  # (num_classes, pretrained, input_shape)


_REGISTRY: Registry[_Entry] | None = None

_CIFAR_PRETRAINED = {
    "resnet20": "models/cifar10/resnet20-12fca82f.th",
    "resnet32": "models/cifar10/resnet32-d509ac18.th",
}
_USER_FORMS = "or path/to/file.py:factory, or the path of a TorchScript file"


def _load_shared(model: nn.Module, name: str, rel: str | None) -> nn.Module:
    """Load the shared folder's weights for ``name`` (``rel`` below it) into ``model``."""

    if rel is None:
        raise AutoQError(f"no pretrained weights for {name!r} are known; pass a state-dict file with --weights")
    root = shared_dir()
    path = root / rel if root is not None else None
    if path is None or not path.is_file():
        raise AutoQError(
            f"pretrained {name} weights not found ({rel} under the shared folder); "
            "set AUTOQ_SHARED to the folder holding them or pass the file with --weights"
        )
    load_weights(model, path)
    return model


def _cifar_build(name: str) -> Callable[[int | None, bool, Shape | None], nn.Module]:
    def build(num_classes: int | None, pretrained: bool, input_shape: Shape | None) -> nn.Module:
        model = CifarResNet(DEPTHS[name], num_classes or 10, in_channels=input_shape[0] if input_shape else 3)
        return _load_shared(model, name, _CIFAR_PRETRAINED.get(name)) if pretrained else model

    return build


def _cifar_stem_build(name: str) -> Callable[[int | None, bool, Shape | None], nn.Module]:
    def build(num_classes: int | None, pretrained: bool, input_shape: Shape | None) -> nn.Module:
        if input_shape is not None and input_shape[0] != 3:
            raise AutoQError(f"{name} takes 3-channel images, not input shape {tuple(input_shape)}")
        if pretrained and num_classes not in (None, 10):
            raise AutoQError(f"the pretrained {name} has 10 classes; drop --num-classes or --pretrained")
        model = build_cifar_stem(name, num_classes or 10)
        return _load_shared(model, name, pretrained_file(name)) if pretrained else model

    return build


def _digits_build(num_classes: int | None, pretrained: bool, input_shape: Shape | None) -> nn.Module:
    if pretrained:
        if num_classes not in (None, 10) or (input_shape is not None and input_shape[0] != 1):
            raise AutoQError("the pretrained digits-cnn has 10 classes and 1 input channel")
        return default_model()[0]
    return SmallCNN(num_classes or 10, in_channels=input_shape[0] if input_shape else 1)


def _torchvision_build(name: str) -> Callable[[int | None, bool, Shape | None], nn.Module]:
    return lambda num_classes, pretrained, input_shape: torchvision_models.build(name, num_classes, pretrained, input_shape)


def _registry() -> Registry[_Entry]:
    """Built on first use, so that importing the package does not import torchvision."""
    global _REGISTRY
    if _REGISTRY is not None:
        return _REGISTRY

    reg: Registry[_Entry] = Registry("model")
    for name in torchvision_models.names():
        pre = torchvision_models.default_preprocess(name)
        crop = pre["crop_size"]
        spec = ModelSpec(name, (3, crop, crop), 1000, "imagenet", f"torchvision {name}, ImageNet classifier", preprocess=pre)
        reg.add(name, _Entry(spec, _torchvision_build(name)))
    for name, depth in DEPTHS.items():
        weights = " (pretrained weights in the shared folder)" if name in _CIFAR_PRETRAINED else ""
        spec = ModelSpec(name, (3, 32, 32), 10, "cifar10-subset", f"CIFAR ResNet-{depth}, option-A shortcuts{weights}")
        reg.add(name, _Entry(spec, _cifar_build(name)))

    for name, base in CIFAR_STEM_MODELS.items():
        spec = ModelSpec(
            name,
            (3, 32, 32),
            10,
            "cifar10-jpeg",
            f"torchvision {base} with a CIFAR stem (pretrained: trained on JPEG CIFAR-10, shared folder)",
        )
        reg.add(name, _Entry(spec, _cifar_stem_build(name)))
    spec = ModelSpec(
        "digits-cnn", (1, 8, 8), 10, "digits", "small CNN of the embedded default (pretrained: trained once on digits)"
    )
    reg.add("digits-cnn", _Entry(spec, _digits_build))
    _REGISTRY = reg
    return reg


def list_models(pattern: str | None = None) -> list[str]:
    """Registered model names, sorted, optionally filtered by a shell-style ``pattern`` (``resnet*``)."""
    return _registry().names(pattern)


def _check_shape(shape: Shape | None) -> Shape | None:
    if shape is None:
        return None
    shape = tuple(int(v) for v in shape)
    if len(shape) != 3 or min(shape) <= 0:
        raise AutoQError(f"input shape {shape} must be three positive integers C,H,W")
    return shape


def _looks_like_path(name: str) -> bool:
    return os.sep in name or "/" in name or Path(name).suffix in {".py", ".pt", ".pth", ".ts", ".jit", ".tar", ".th"}


def _unknown(name: str) -> AutoQError:
    if _looks_like_path(name):
        return AutoQError(f"model file {name!r} not found; --model takes a registered name {_USER_FORMS}")
    return AutoQError(f"unknown model {name!r}; known: {', '.join(list_models())}; {_USER_FORMS}")


def model_spec(name: str, input_shape: Shape | None = None, num_classes: int | None = None) -> ModelSpec:
    """The spec of a registered or user model; ``input_shape`` / ``num_classes`` override its defaults.

    A user model's input shape comes from ``input_shape``, else from an ``INPUT_SHAPE`` constant in
    its Python file; model files (TorchScript, checkpoints) need ``input_shape``.
    """
    input_shape = _check_shape(input_shape)
    reg = _registry()
    if name in reg:
        spec = reg.get(name).spec
        return dataclasses.replace(
            spec,
            input_shape=input_shape or spec.input_shape,
            num_classes=num_classes if num_classes is not None else spec.num_classes,
        )
    if user.is_factory_ref(name):
        module, _ = user.factory_module(name)
        input_shape = input_shape or _check_shape(getattr(module, "INPUT_SHAPE", None))
        num_classes = num_classes if num_classes is not None else getattr(module, "NUM_CLASSES", None)
        if input_shape is None:
            raise AutoQError(f"the input shape of {name} is unknown: pass --input-shape C,H,W or define INPUT_SHAPE")
        return ModelSpec(name, input_shape, num_classes, getattr(module, "DATASET", None), f"user model {name}")
    if Path(name).is_file():
        if input_shape is None:
            raise AutoQError(f"the input shape of the model in {name!r} is unknown: pass --input-shape C,H,W")
        return ModelSpec(name, input_shape, num_classes, None, f"user model file {name}")
    raise _unknown(name)


def create_model(
    name: str,
    weights: str | os.PathLike | None = None,
    num_classes: int | None = None,
    pretrained: bool = False,
    *,
    input_shape: Shape | None = None,
    trust_checkpoint: bool = False,
) -> nn.Module:
    """Build the named model in eval mode, with random weights unless ``weights`` or ``pretrained``.

    ``weights`` is a state-dict file, loaded with ``weights_only=True``; ``pretrained`` takes
    torchvision's weights (downloaded into the torch hub cache), the shared folder's CIFAR weights
    (ResNet-20/32, the ``-cifar`` models), or the embedded default's digits-cnn weights.
    ``input_shape`` sets the input channels of
    the CIFAR ResNets and the small CNN, and the image size of torchvision's ViTs.
    """
    input_shape = _check_shape(input_shape)
    if weights is not None and pretrained:
        raise AutoQError("give either --weights or --pretrained, not both")
    reg = _registry()
    if name in reg:
        model = reg.get(name).build(num_classes, pretrained, input_shape)
    elif user.is_user_ref(name):
        if pretrained:
            raise AutoQError(f"--pretrained applies to registered models only; load {name}'s weights with --weights")
        if user.is_factory_ref(name):
            model = user.build_from_factory(name, num_classes)
        else:
            model = user.load_model_file(Path(name), trust_checkpoint)
    else:
        raise _unknown(name)
    if weights is not None:
        load_weights(model, weights)
    return model.eval()


def example_input(spec: ModelSpec | Shape, batch: int = 1, seed: int = 0) -> torch.Tensor:
    """A fixed random batch of the model's input shape, for discovery and smoke runs."""
    shape = spec.input_shape if isinstance(spec, ModelSpec) else tuple(spec)
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed))
