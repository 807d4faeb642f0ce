"""What agents observe and exchange with the driver: the network description, layer actions and kernel limits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from autoq.errors import AutoQError

from . import observations as obs_mod


@dataclass(frozen=True)
class KernelLimits:
    """Limits the search imposes on one layer's kernel QBNs (e.g. to stay within a budget).

    ``w_max``: largest QBN of any kernel (None: the spec's maximum). ``bits_sum_max``: largest sum of
    the layer's kernel QBNs (None: no limit); agents enforce it kernel by kernel, so that kernel j gets
    at most ``bits_sum_max - (sum so far) - (kernels left after j) * w_min``.
    """

    w_max: int | None = None
    bits_sum_max: int | None = None


class LayerAction(NamedTuple):
    """What an agent decides for a layer before its kernels: activation QBN and goal (mean weight QBN).

    ``goal`` is None for agents that do not plan a layer's weight bits ahead (flat kernel-wise, random).
    """

    act_bits: int
    goal: float | None


@dataclass(frozen=True, eq=False)
class NetworkSpec:
    """The quantizable layers as agents see them: shapes, QBN ranges and normalised static features."""

    names: tuple[str, ...]
    c_out: tuple[int, ...]
    layer_features: np.ndarray  # [L, len(LAYER_STATIC)], min-max normalised
    kernel_features: tuple[np.ndarray, ...]  # per layer [c_out, len(KERNEL_STATIC)]
    w_range: tuple[int, int] = (1, 8)
    a_range: tuple[int, int] = (2, 8)

    @classmethod
    def from_layers(
        cls,
        layers: Sequence,
        kernel_stats: Sequence[np.ndarray],
        w_range: tuple[int, int] = (1, 8),
        a_range: tuple[int, int] = (2, 8),
    ) -> NetworkSpec:
        """Build from :class:`~autoq.quant.discovery.LayerInfo` objects and per-kernel weight statistics.

        ``kernel_stats[i]`` is a [c_out, 3] array of each kernel's std, mean |w| and max |w|.
        """
        if len(layers) == 0:
            raise AutoQError("the model has no quantizable layers (Conv2d or Linear)")
        if len(kernel_stats) != len(layers):
            raise ValueError(f"{len(kernel_stats)} kernel-statistics arrays for {len(layers)} layers")
        for layer, stats in zip(layers, kernel_stats):
            if np.shape(stats) != (layer.c_out, 3):
                raise ValueError(f"layer {layer.name}: kernel stats of shape {np.shape(stats)}, expected ({layer.c_out}, 3)")
        for label, (lo, hi), least in (("weight", w_range, 0), ("activation", a_range, 1)):
            if not (least <= lo <= hi):  # a 0-bit weight kernel is pruned; activations need a bit
                raise AutoQError(f"{label} QBN range {lo}..{hi} is empty or below {least} bit")
        return cls(
            names=tuple(layer.name for layer in layers),
            c_out=tuple(int(layer.c_out) for layer in layers),
            layer_features=obs_mod.static_layer_features(list(layers)),
            kernel_features=tuple(obs_mod.static_kernel_features(list(kernel_stats))),
            w_range=(int(w_range[0]), int(w_range[1])),
            a_range=(int(a_range[0]), int(a_range[1])),
        )

    @property
    def n_layers(self) -> int:
        return len(self.c_out)

    @property
    def n_kernels(self) -> int:
        return int(sum(self.c_out))
