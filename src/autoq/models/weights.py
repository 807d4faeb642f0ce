"""Load a state-dict file into a model without unpickling arbitrary objects."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from autoq.errors import AutoQError

# Keys under which common training scripts nest the state dict.
_NESTED_KEYS = ("state_dict", "model_state_dict", "model", "net")


def _list(keys: list[str], limit: int = 12) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f" (and {len(keys) - limit} more)" if len(keys) > limit else "")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a checkpoint file, loaded with ``weights_only=True``.

    Accepts a plain state dict or one nested under ``state_dict`` / ``model_state_dict`` / ``model`` /
    ``net``, and strips the ``module.`` prefix that ``DataParallel`` adds.
    """
    path = Path(path)
    if not path.is_file():
        raise AutoQError(f"weights file {str(path)!r} not found; check the path given to --weights")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # the weights-only unpickler fails in many ways on foreign files
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise AutoQError(
            f"{str(path)!r} is not a weights-only checkpoint ({first}); save it with "
            "torch.save(model.state_dict(), path), or pass a whole pickled model as --model with --trust-checkpoint"
        ) from None
    if isinstance(obj, Mapping):
        for key in _NESTED_KEYS:
            if isinstance(obj.get(key), Mapping):
                obj = obj[key]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise AutoQError(f"{str(path)!r} holds no state dict (a mapping of names to tensors)")
    state = dict(obj)
    metadata = getattr(obj, "_metadata", None)  # module versions, used by BatchNorm's legacy loading
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
        if metadata is not None:
            metadata = {k[len("module.") :] if k.startswith("module.") else "": v for k, v in metadata.items()}
    if metadata is not None:
        state = _with_metadata(state, metadata)
    return state


def _with_metadata(state: dict, metadata: dict) -> dict:
    out = OrderedDict(state)
    out._metadata = metadata  # type: ignore[attr-defined]
    return out


def load_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load the state dict in ``path`` into ``model``; every key must match in name and shape."""
    state = read_state_dict(path)
    own = model.state_dict()
    wrong_shape = [
        f"{k} {tuple(v.shape)} vs model {tuple(own[k].shape)}" for k, v in state.items() if k in own and own[k].shape != v.shape
    ]
    if wrong_shape:
        raise AutoQError(
            f"weights in {str(path)!r} do not fit the model: shape mismatch for {_list(wrong_shape)}; "
            "check --model and --num-classes"
        )
    # BatchNorm step counters are absent from older checkpoints and are not weights: tolerate those only.
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    problems = [f"missing keys: {_list(missing)}"] * bool(missing)
    problems += [f"unexpected keys: {_list(unexpected)}"] * bool(unexpected)
    if problems:
        raise AutoQError(
            f"weights in {str(path)!r} do not match the model ({'; '.join(problems)}); "
            "check that --model names the architecture these weights were trained for"
        )
    model.load_state_dict(state, strict=False)
