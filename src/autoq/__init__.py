"""autoq: kernel-wise mixed-precision quantization search (AutoQ) with FPGA cost models.

``autoq.search(...)`` and ``autoq.finetune(...)`` run the pipeline from Python; ``autoq.quant``,
``autoq.hardware``, ``autoq.agents``, ``autoq.models`` and ``autoq.data`` are its parts. Importing the
package is light: each name loads its module on first use.
"""

from __future__ import annotations

from autoq.utils.lazy import lazy_getattr

__version__ = "0.1.0"

_LAZY = {
    "search": "autoq.search.run",
    "finetune": "autoq.train.finetune",
    "SearchConfig": "autoq.config",
    "FinetuneConfig": "autoq.config",
    "RunConfig": "autoq.config",
    "Policy": "autoq.quant.policy",
    "apply_policy": "autoq.quant.apply",
    "calibrate": "autoq.quant.apply",
    "quantized": "autoq.quant.apply",
    "discover_layers": "autoq.quant.discovery",
    "AutoQError": "autoq.errors",
}
__all__ = sorted(_LAZY)


__getattr__ = lazy_getattr(__name__, _LAZY)
