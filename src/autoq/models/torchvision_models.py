"""Every torchvision classification model, random or with torchvision's own pretrained weights."""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from autoq.errors import AutoQError

# Models built with auxiliary classifiers by default; their extra heads only run in training mode.
_AUX_HEADS = {"googlenet": ("aux1", "aux2"), "inception_v3": ("AuxLogits",)}


def names() -> list[str]:
    """torchvision's classification models (``torchvision.models``, not its detection or video ones)."""

    return torchvision.models.list_models(module=torchvision.models)


def default_preprocess(name: str) -> dict:
    """Crop and resize size, interpolation, mean and std of torchvision's ``DEFAULT`` weights for ``name``."""

    weights = torchvision.models.get_model_weights(name).DEFAULT
    kw = dict(getattr(weights.transforms, "keywords", {}))
    crop = int(kw.get("crop_size", 224))
    interpolation = kw.get("interpolation")
    return {
        "crop_size": crop,
        "resize_size": int(kw.get("resize_size", 256 if crop == 224 else round(crop * 256 / 224))),
        "interpolation": getattr(interpolation, "value", "bilinear"),
        "mean": tuple(kw.get("mean", (0.485, 0.456, 0.406))),
        "std": tuple(kw.get("std", (0.229, 0.224, 0.225))),
        "num_params": weights.meta.get("num_params"),
        "gmacs": weights.meta.get("_ops"),
    }


def build(name: str, num_classes: int | None, pretrained: bool, input_shape: tuple[int, ...] | None) -> nn.Module:
    """``torchvision.models.get_model``; pretrained uses torchvision's loader (torch hub cache, then download)."""

    if input_shape is not None and input_shape[0] != 3:
        raise AutoQError(f"torchvision model {name!r} takes 3-channel images, not input shape {tuple(input_shape)}")
    kwargs: dict = {}
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if name.startswith("vit_"):  # position embeddings are sized for one resolution: the spec's by default
        kwargs["image_size"] = input_shape[1] if input_shape is not None else default_preprocess(name)["crop_size"]
    if not pretrained:
        if name in _AUX_HEADS:
            kwargs.update(aux_logits=False, init_weights=True)
        return torchvision.models.get_model(name, weights=None, **kwargs)
    weights = torchvision.models.get_model_weights(name).DEFAULT
    target = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    try:
        model = torchvision.models.get_model(name, weights=weights, **kwargs)
    except ValueError as e:  # torchvision refuses arguments that do not fit the pretrained weights
        raise AutoQError(f"--pretrained {name}: {e} (pretrained weights fix the classes and input size)") from None
    except OSError as e:  # URLError included
        raise AutoQError(
            f"could not download the pretrained weights of {name!r} ({type(e).__name__}: no network?); "
            f"place {weights.url} at {target} or pass a local file with --weights"
        ) from None
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AutoQError(
            f"the pretrained weights of {name!r} at {target} could not be loaded ({first}); delete the file to download it again"
        ) from None
    for attr in _AUX_HEADS.get(name, ()):
        setattr(model, attr, None)
    if hasattr(model, "aux_logits"):
        model.aux_logits = False
    return model
