"""autoq: kernel-wise mixed-precision quantization search (AutoQ) with FPGA cost models.

Importing the package is light: heavy parts load when first used.
"""

from __future__ import annotations

__version__ = "0.1.0"
