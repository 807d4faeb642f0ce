"""The embedded default: the small digits CNN, with weights that ship inside the package.

The weights were trained once by ``tools/train_default_model.py`` and are package data, so every
machine loads the same model at once; training at first use gave machine-dependent weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save
from torch import nn

from autoq.errors import AutoQError
from autoq.models.small_cnn import SmallCNN
from autoq.utils.io import atomic_write_bytes

WEIGHTS_FILE = Path(__file__).resolve().parent / "weights" / "digits-cnn.safetensors"


def default_weights_path() -> Path:
    """The shipped weights file of the embedded default."""
    return WEIGHTS_FILE


def default_metadata() -> dict:
    """What the training script recorded: recipe, test accuracy, torch version."""

    with safe_open(str(WEIGHTS_FILE), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("autoq", "{}"))


def default_model() -> tuple[nn.Module, Path]:
    """The embedded default model in eval mode and the path of its weights."""

    if not WEIGHTS_FILE.is_file():
        raise AutoQError(f"the embedded default's weights {str(WEIGHTS_FILE)!r} are missing; reinstall autoq")
    model = SmallCNN(10, in_channels=1)
    model.load_state_dict(load_file(str(WEIGHTS_FILE)))
    return model.eval(), WEIGHTS_FILE


def save_default_weights(model: nn.Module, path: Path, meta: dict) -> None:
    """Write ``model``'s state dict as safetensors with ``meta`` (atomically: used by the training script)."""

    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, save(state, metadata={"autoq": json.dumps(meta)}))
