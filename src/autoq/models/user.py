"""Models the user brings: ``file.py:factory``, a TorchScript file, or (only on request) a pickled model."""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import warnings
import zipfile
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

from autoq.errors import AutoQError

_MODULES: dict[Path, ModuleType] = {}


def is_factory_ref(name: str) -> bool:
    """``path/to/file.py:factory``."""
    path, sep, attr = name.rpartition(":")
    return bool(sep) and path.endswith(".py") and attr.isidentifier()


def is_user_ref(name: str) -> bool:
    """A factory reference or an existing file (a model file; state dicts go to ``--weights``)."""
    return is_factory_ref(name) or Path(name).is_file()


def _import(path: Path) -> ModuleType:
    """Import the user's file once per process (importing runs its code: it is the user's own)."""
    path = path.resolve()
    if path not in _MODULES:
        if not path.is_file():
            raise AutoQError(f"model file {str(path)!r} not found; --model takes path/to/file.py:factory")
        mod_name = "autoq_user_" + hashlib.sha1(str(path).encode()).hexdigest()[:12]
        spec = importlib.util.spec_from_file_location(mod_name, path)
        module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
        sys.modules[mod_name] = module
        try:
            spec.loader.exec_module(module)  # type: ignore[union-attr]
        except Exception:
            del sys.modules[mod_name]
            raise
        _MODULES[path] = module
    return _MODULES[path]


def factory_module(name: str) -> tuple[ModuleType, str]:
    path, _, attr = name.rpartition(":")
    module = _import(Path(path))
    if not callable(getattr(module, attr, None)):
        raise AutoQError(f"{path} defines no callable {attr!r}; --model takes path/to/file.py:factory")
    return module, attr


def build_from_factory(name: str, num_classes: int | None) -> nn.Module:
    """Call the factory; ``num_classes`` is passed as a keyword only when given."""
    module, attr = factory_module(name)
    model = getattr(module, attr)(**({"num_classes": num_classes} if num_classes is not None else {}))
    if not isinstance(model, nn.Module):
        raise AutoQError(f"{name} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def _is_torchscript(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith("constants.pkl") or "/code/" in n for n in z.namelist())
    except zipfile.BadZipFile:
        return False


def load_model_file(path: Path, trust_checkpoint: bool) -> nn.Module:
    """A TorchScript file (safe to load), or a whole pickled model when ``trust_checkpoint`` is set."""
    if _is_torchscript(path):
        with warnings.catch_warnings():  # torch's deprecation notice is for authors, not for loading
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # the weights-only unpickler fails in many ways on foreign files
        obj = None  # holds more than tensors: a pickled model, or not a checkpoint at all
    if obj is not None:
        raise AutoQError(
            f"{str(path)!r} holds only weights; name the architecture with --model NAME and pass this file as --weights"
        )
    if not trust_checkpoint:
        raise AutoQError(
            f"{str(path)!r} is a pickled model: loading it runs code stored in the file; export it with "
            "torch.jit.script/trace, or pass --trust-checkpoint if you trust its source"
        )
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise AutoQError(f"{str(path)!r} could not be loaded as a model ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and isinstance(obj.get("model"), nn.Module):
        obj = obj["model"]
    if not isinstance(obj, nn.Module):
        raise AutoQError(f"{str(path)!r} holds a {type(obj).__name__}, not a torch.nn.Module")
    return obj
