"""Package names that load their module on first use (PEP 562), so that importing a package stays light.

``autoq``, ``autoq.quant``, ``autoq.search`` and ``autoq.train`` expose their public names this way:
``import autoq; autoq.Policy`` reads a policy file without importing torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_getattr(package: str, names: Mapping[str, str], submodules: bool = False) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package`` that imports ``names[name]`` and returns its ``name``.

    With ``submodules``, any other name is tried as a submodule of the package (``autoq.quant.fusion``)
    before the usual ``AttributeError``.
    """

    def __getattr__(name: str) -> Any:
        if name in names:
            return getattr(importlib.import_module(names[name]), name)
        if submodules:
            try:
                return importlib.import_module(f"{package}.{name}")
            except ModuleNotFoundError as e:
                if e.name != f"{package}.{name}":
                    raise
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
