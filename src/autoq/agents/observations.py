"""What the agents observe (docs/agents.md, "Observations"): static features computed once per model, min-max normalised.

Layer observation (14 values): the static layer features below, then three that change during an
episode: the previous layer's activation QBN, its realised mean weight QBN (both normalised over
their bit ranges; 1.0 before the first layer, whose input is not quantized), and the fraction of the
budget left (1.0 without a budget).

Kernel observation (26 values): the layer observation, then the kernel's static features below, then
four dynamic ones: the previous kernel's QBN and the running mean of the QBNs chosen so far in the
layer (both normalised; 0 at the first kernel), the mean QBN the remaining kernels (this one
included) need for the layer to meet its goal (normalised, clipped to the QBN range), and the goal
(normalised mean weight QBN the high-level controller asked for). The flat kernel-wise agent has no
goal: its needed-mean column is 0 and its goal column holds its "activation step" flag.
"""

from __future__ import annotations

import math

import numpy as np

LAYER_STATIC = (
    "index",  # position in forward order
    "c_in",  # log2
    "c_out",  # log2
    "kernel",  # kernel height x width
    "stride",
    "in_hw",  # input feature-map positions H*W, log2
    "params",  # weights of the layer, log2
    "macs",  # multiply-accumulates per sample, log2
    "groups",  # log2
    "depthwise",  # flag
    "linear",  # flag: 1 for Linear, 0 for Conv2d
)
LAYER_DYNAMIC = ("prev_act_bits", "prev_weight_bits", "budget_left")
LAYER_OBS = len(LAYER_STATIC) + len(LAYER_DYNAMIC)

KERNEL_STATIC = (
    "kernel_index",  # o / (c_out - 1)
    "std",  # log of the kernel statistic, min-max over all kernels of the network
    "mean_abs",
    "max_abs",
    "std_in_layer",  # the same three, min-max within the layer: the kernel's rank among its siblings
    "mean_abs_in_layer",
    "max_abs_in_layer",
    "std_ratio",  # log2(std / the layer's geometric-mean std), as 0.5 + that / SPREAD_SPAN, clipped to [0, 1]
)
SPREAD_SPAN = 8.0  # bits of log2 std ratio across the std_ratio column's [0, 1]
KERNEL_DYNAMIC = ("prev_kernel_bits", "running_mean_bits", "needed_mean_bits", "goal")
KERNEL_OBS = LAYER_OBS + len(KERNEL_STATIC) + len(KERNEL_DYNAMIC)
COL_STD_RATIO = LAYER_OBS + KERNEL_STATIC.index("std_ratio")
COL_PREV = LAYER_OBS + len(KERNEL_STATIC)
COL_MEAN = COL_PREV + 1
COL_NEED = COL_MEAN + 1
COL_GOAL = COL_NEED + 1


def minmax(x: np.ndarray, axis: int | None = 0) -> np.ndarray:
    """Scale to [0, 1] along ``axis``; a constant feature becomes 0 (it carries no information)."""
    x = np.asarray(x, np.float64)
    lo, hi = x.min(axis=axis, keepdims=True), x.max(axis=axis, keepdims=True)
    span = hi - lo
    return np.where(span > 0, (x - lo) / np.where(span > 0, span, 1.0), 0.0)


def static_layer_features(layers: list) -> np.ndarray:
    """[L, len(LAYER_STATIC)] raw features of :class:`autoq.quant.discovery.LayerInfo` objects, normalised."""
    rows = []
    for i, layer in enumerate(layers):
        rows.append(
            [
                i,
                math.log2(max(layer.c_in, 1)),
                math.log2(max(layer.c_out, 1)),
                layer.kernel_size[0] * layer.kernel_size[1],
                layer.stride[0],
                math.log2(max(layer.in_hw[0] * layer.in_hw[1], 1)),
                math.log2(max(layer.params, 1)),
                math.log2(max(layer.macs, 1)),
                math.log2(max(layer.groups, 1)),
                float(layer.depthwise),
                float(layer.kind == "linear"),
            ]
        )
    return minmax(np.array(rows, np.float64), axis=0).astype(np.float32)


def static_kernel_features(kernel_stats: list[np.ndarray]) -> list[np.ndarray]:
    """Per layer [c_out, len(KERNEL_STATIC)]: index and log weight statistics, network- and layer-normalised.

    Logs first: statistics differ by orders of magnitude between layers, and a linear min-max would
    squash the within-layer spread that kernel-wise quantization exploits.
    """
    logs = [np.log(np.maximum(np.asarray(s, np.float64), 1e-12)) for s in kernel_stats]
    net = minmax(np.concatenate(logs, 0), axis=0)
    out, start = [], 0
    for s in logs:
        n = len(s)
        index = (np.arange(n) / max(n - 1, 1))[:, None]
        ratio = (s[:, :1] - s[:, :1].mean()) / math.log(2.0)  # log2 of std over the geometric mean
        spread = np.clip(0.5 + ratio / SPREAD_SPAN, 0.0, 1.0)
        out.append(np.concatenate([index, net[start : start + n], minmax(s, axis=0), spread], 1).astype(np.float32))
        start += n
    return out
