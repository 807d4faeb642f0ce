"""The report's figures, drawn on bare matplotlib Figures (Agg, no pyplot state).

Each function takes plain numbers and returns a Figure; :func:`png_bytes` renders it. Latency and
energy arrive in seconds and joules and are shown in the unit :func:`si_unit` picks.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import numpy as np
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch

DPI = 130
BEST = dict(marker="*", s=260, color="crimson", edgecolor="black", linewidth=0.8, zorder=6)
REF_LINES = {
    "float32 accuracy": dict(color="tab:green", linestyle="-", zorder=1),
    "uniform 8/8": dict(color="black", linestyle="--"),
    "uniform 4/4": dict(color="dimgray", linestyle="-."),
}
REF_STYLE = {"uniform 8/8": dict(marker="s", color="black"), "uniform 4/4": dict(marker="^", color="dimgray")}
NO_KERNEL = dict(facecolor="white", edgecolor="0.7", hatch="////")


@dataclass(frozen=True)
class Unit:
    """A display unit: ``value_in_base * factor`` in ``label``."""

    factor: float
    label: str


def si_unit(values: Sequence[float], base: str) -> Unit:
    """The largest of base, m, µ, n that shows the largest of ``values`` as at least 1."""
    finite = [abs(v) for v in values if v is not None and np.isfinite(v)]
    top = max(finite, default=1.0)
    for factor, prefix in ((1.0, ""), (1e3, "m"), (1e6, "µ"), (1e9, "n")):
        if top * factor >= 1:
            return Unit(factor, prefix + base)
    return Unit(1e9, "n" + base)


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def kernel_bits_matrix(weight_bits: Sequence[np.ndarray]) -> np.ma.MaskedArray:
    """Layers × max kernels; the cells past a layer's kernel count are masked (they do not exist)."""
    width = max(len(w) for w in weight_bits)
    data = np.zeros((len(weight_bits), width), dtype=np.int64)
    mask = np.ones_like(data, dtype=bool)
    for i, w in enumerate(weight_bits):
        data[i, : len(w)], mask[i, : len(w)] = w, False
    return np.ma.MaskedArray(data, mask)


def _bit_colours(lo: int, hi: int) -> tuple[ListedColormap, BoundaryNorm, np.ndarray]:
    """One discrete colour per bit width lo..hi (0 = pruned, in dark grey)."""
    levels = np.arange(lo, hi + 1)
    ramp = list(matplotlib.colormaps["viridis"](np.linspace(0.0, 1.0, int((levels > 0).sum()))))
    colours = ([(0.3, 0.3, 0.3, 1.0)] if lo == 0 else []) + ramp
    return ListedColormap(colours), BoundaryNorm(np.append(levels, hi + 1) - 0.5, len(levels)), levels


def bits_heatmap(names: Sequence[str], weight_bits: Sequence[np.ndarray], bit_range: tuple[int, int], title: str) -> Figure:
    """The per-kernel figure: one row per layer, one column per kernel (output channel), a colour per bit width."""
    m = kernel_bits_matrix(weight_bits)
    lo = min(bit_range[0], int(m.min()))
    hi = max(bit_range[1], int(m.max()))
    cmap, norm, levels = _bit_colours(lo, hi)
    n_layers, width = m.shape
    fig = Figure(figsize=(11, max(3.0, 0.3 * n_layers + 1.6)), layout="constrained")
    ax = fig.add_subplot()
    ax.patch.set(**NO_KERNEL)  # masked cells are transparent: the hatched background shows "no kernel"
    img = ax.imshow(m, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(n_layers), [f"{n} ({len(w)})" for n, w in zip(names, weight_bits)], fontsize=8)
    ax.set_xlabel("kernel (output channel index)")
    ax.set_ylabel("layer (kernels), in forward order")
    ax.set_title(title)
    if width <= 128:  # thin cell borders help reading individual kernels of small layers
        ax.set_xticks(np.arange(-0.5, width, 1), minor=True)
        ax.set_yticks(np.arange(-0.5, n_layers, 1), minor=True)
        ax.grid(which="minor", color="white", linewidth=0.4)
        ax.tick_params(which="minor", length=0)
    bar = fig.colorbar(img, ax=ax, ticks=levels, fraction=0.04, pad=0.02)
    bar.set_label("weight bits of the kernel")
    if 0 in levels:
        bar.ax.set_yticklabels([("0 (pruned)" if b == 0 else str(b)) for b in levels])
    if (m.mask).any():
        fig.legend(
            handles=[Patch(**NO_KERNEL, label="no kernel (the layer has fewer output channels)")],
            loc="outside lower left",
            fontsize=8,
            frameon=False,
        )
    return fig


def layer_bits(names: Sequence[str], weight_bits: Sequence[np.ndarray], act_bits: Sequence[int], title: str) -> Figure:
    """Activation bits per layer as bars, with each layer's mean and range of kernel weight bits."""
    x = np.arange(len(names))
    mean = np.array([w.mean() for w in weight_bits])
    low = mean - np.array([w.min() for w in weight_bits])
    high = np.array([w.max() for w in weight_bits]) - mean
    fig = Figure(figsize=(max(7.0, 0.42 * len(names) + 2), 4.2), layout="constrained")
    ax = fig.add_subplot()
    ax.bar(x, act_bits, width=0.6, color="tab:orange", alpha=0.85, label="activation bits (layer input)")
    ax.errorbar(
        x,
        mean,
        yerr=[low, high],
        fmt="o",
        color="tab:blue",
        ecolor="tab:blue",
        capsize=3,
        label="weight bits: mean over kernels, line = narrowest to widest kernel",
    )
    ax.set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("bits")
    ax.set_ylim(0, max(max(act_bits), max(int(w.max()) for w in weight_bits)) + 1.8)
    ax.yaxis.set_major_locator(_int_locator())
    ax.set_xlabel("layer, in forward order")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8, ncols=2)
    return fig


def _int_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(integer=True)


@dataclass
class Curve:
    """One panel of the learning curves: values per episode, an optional budget limit and reference lines."""

    label: str
    values: np.ndarray
    limit: float | None = None
    refs: dict[str, float] | None = None


def learning_curves(
    episodes: np.ndarray, curves: Sequence[Curve], within: np.ndarray, best: int | None, warmup: int, title: str
) -> Figure:
    """One panel per quantity against the episode: each episode, the best so far, references and the budget."""
    fig = Figure(figsize=(10, 2.2 * len(curves) + 1.2), layout="constrained")
    axes = fig.subplots(len(curves), 1, sharex=True, squeeze=False)[:, 0]
    for ax, c in zip(axes, curves):
        ax.plot(episodes, c.values, color="tab:blue", linewidth=0.8, alpha=0.7, zorder=2)
        ax.scatter(episodes[within], c.values[within], s=12, color="tab:blue", zorder=3, label="episode")
        if (~within).any():
            ax.scatter(
                episodes[~within], c.values[~within], s=22, marker="x", color="tab:red", zorder=3, label="episode over the budget"
            )
        for name, v in (c.refs or {}).items():
            ax.axhline(v, linewidth=1, label=name, **REF_LINES.get(name, {}))
        if c.limit is not None:
            ax.axhline(c.limit, color="tab:red", linestyle=":", linewidth=1.5, label="budget limit")
        if best is not None:
            i = int(np.flatnonzero(episodes == best)[0])
            ax.scatter([best], [c.values[i]], **{**BEST, "s": 140}, label=f"best policy (episode {best})")
        if warmup > 0:
            ax.axvspan(
                episodes.min() - 0.5,
                min(warmup, episodes.max() + 1) - 0.5,
                color="0.9",
                zorder=0,
                label="warm-up (constant exploration noise)",
            )
        ax.set_ylabel(c.label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("episode")
    axes[-1].xaxis.set_major_locator(_int_locator())
    axes[0].set_title(title)
    _shared_legend(fig, axes, ncols=4)
    return fig


def _shared_legend(fig: Figure, axes: Sequence, ncols: int) -> None:
    """One legend below the figure with every label of every panel once."""
    seen: dict[str, object] = {}
    for ax in axes:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    fig.legend(list(seen.values()), list(seen), loc="outside lower center", ncols=ncols, fontsize=8, frameon=False)


def pareto_front(cost: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (lower cost and higher accuracy), by rising cost."""
    order = np.lexsort((-acc, cost))
    front, top = [], -np.inf
    for i in order:
        if acc[i] > top:
            front.append(i)
            top = acc[i]
    return np.array(front, dtype=np.int64)


@dataclass
class Point:
    """A reference or best point: accuracy (%) and the costs in display units."""

    label: str
    accuracy: float
    costs: tuple[float, float]


def pareto(
    episodes: np.ndarray,
    accuracy: np.ndarray,
    costs: Sequence[np.ndarray],
    cost_labels: Sequence[str],
    within: np.ndarray,
    best: Point | None,
    refs: Sequence[Point],
    float_accuracy: float | None,
    limits: Sequence[float | None],
    title: str,
) -> Figure:
    """Accuracy against each cost, one point per episode, with the Pareto front, the best policy and references."""
    fig = Figure(figsize=(12, 5), layout="constrained")
    axes = fig.subplots(1, len(costs), sharey=True, squeeze=False)[0]
    for k, (ax, cost, label) in enumerate(zip(axes, costs, cost_labels)):
        pts = ax.scatter(
            cost[within],
            accuracy[within],
            c=episodes[within],
            cmap="viridis",
            s=22,
            vmin=episodes.min(),
            vmax=max(episodes.max(), episodes.min() + 1),
            zorder=3,
            label="episode (colour = episode number)",
        )
        if (~within).any():
            ax.scatter(
                cost[~within], accuracy[~within], marker="x", color="0.55", s=22, zorder=2, label="episode over the budget"
            )
        idx = np.flatnonzero(within)
        if idx.size:
            front = idx[pareto_front(cost[idx], accuracy[idx])]
            ax.step(
                cost[front],
                accuracy[front],
                where="post",
                color="tab:purple",
                linewidth=1.2,
                zorder=4,
                marker="o",
                markersize=9,
                markerfacecolor="none",
                label="Pareto front of the episodes",
            )
        for r in refs:
            ax.scatter([r.costs[k]], [r.accuracy], s=70, zorder=5, edgecolor="white", label=r.label, **REF_STYLE.get(r.label, {}))
        if best is not None:
            ax.scatter([best.costs[k]], [best.accuracy], **BEST, label=best.label)
        if float_accuracy is not None:
            ax.axhline(float_accuracy, linewidth=1, label="float32 accuracy", **REF_LINES["float32 accuracy"])
        if limits[k] is not None:
            ax.axvline(limits[k], color="tab:red", linestyle=":", linewidth=1.5, label="budget limit")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy, reward split top-1 (%)")
    _shared_legend(fig, axes, ncols=4)
    bar = fig.colorbar(pts, ax=list(axes), fraction=0.03, pad=0.02)
    bar.set_label("episode")
    bar.locator = _int_locator()
    bar.update_ticks()
    fig.suptitle(title)
    return fig


def layer_costs(
    names: Sequence[str], series: dict[str, tuple[np.ndarray, np.ndarray, Sequence[str]]], units: tuple[Unit, Unit], title: str
) -> Figure:
    """Latency and energy per layer, one bar per policy; memory-bound layers hatched.

    ``series`` maps a policy label to (latency in s, energy in J, bound per layer).
    """
    x = np.arange(len(names))
    n = len(series)
    width = 0.8 / n
    colours = ["tab:blue", "0.6", "0.8"]
    fig = Figure(figsize=(max(8.0, 0.5 * len(names) + 2), 7), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    for k, (ax, unit, what) in enumerate(zip(axes, units, ("latency", "energy"))):
        for j, (label, data) in enumerate(series.items()):
            values = np.asarray(data[k]) * unit.factor
            hatch = ["///" if b == "memory" else "" for b in data[2]]
            ax.bar(
                x + (j - (n - 1) / 2) * width,
                values,
                width,
                color=colours[j % 3],
                edgecolor="black",
                linewidth=0.4,
                hatch=hatch,
                label=label,
            )
        ax.set_ylabel(f"{what} ({unit.label})")
        ax.grid(axis="y", alpha=0.3)
    handles = [Patch(facecolor=colours[j % 3], edgecolor="black", label=label) for j, label in enumerate(series)]
    if any(b == "memory" for data in series.values() for b in data[2]):
        handles.append(Patch(facecolor="white", edgecolor="black", hatch="///", label="memory-bound layer"))
    axes[0].legend(handles=handles, fontsize=8, loc="upper right")
    axes[1].set_xticks(x, names, rotation=60, ha="right", fontsize=8)
    axes[1].set_xlabel("layer, in forward order")
    axes[0].set_title(title)
    return fig


__all__ = [
    "Curve",
    "Point",
    "Unit",
    "bits_heatmap",
    "kernel_bits_matrix",
    "layer_bits",
    "layer_costs",
    "learning_curves",
    "pareto",
    "pareto_front",
    "png_bytes",
    "si_unit",
]
