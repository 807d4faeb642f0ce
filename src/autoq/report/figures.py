"""The report's figures of a run: kernel and layer bits, learning curves, accuracy against cost, cost per layer."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from autoq.report import plots
from autoq.report.formatting import model_name, num
from autoq.report.rundata import REF_LABELS, REFERENCES, RunData


def figures(d: RunData, lat: plots.Unit, en: plots.Unit) -> dict[str, tuple[Any, str]]:
    """File name -> (figure, alt text), in report order; the kernel and cost figures need a best policy."""
    figs = _bits_figures(d)
    ep = _Episodes.of(d, lat, en)
    figs["learning_curves.png"] = (_learning_curves(d, ep, lat, en), "reward, accuracy, latency and energy of every episode")
    figs["pareto.png"] = (_pareto(d, ep, lat, en), "accuracy against latency and against energy of every episode")
    if "best" in d.costs:
        figs["layer_costs.png"] = (_layer_costs(d, lat, en), "latency and energy of every layer")
    return figs


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r.get(key, math.nan)) for r in rows])


@dataclass
class _Episodes:
    """Per-episode columns in the report's units, and the budget's limit per metric."""

    episodes: np.ndarray
    within: np.ndarray
    acc: np.ndarray  # %
    latency: np.ndarray
    energy: np.ndarray
    budget: dict

    @classmethod
    def of(cls, d: RunData, lat: plots.Unit, en: plots.Unit) -> _Episodes:
        rows = d.rows
        return cls(
            episodes=_column(rows, "episode").astype(np.int64),
            within=np.array([bool(r.get("within_budget", True)) for r in rows]),
            acc=100 * _column(rows, "accuracy"),
            latency=_column(rows, "latency_s") * lat.factor,
            energy=_column(rows, "energy_j") * en.factor,
            budget=d.references.get("budget") or {},
        )

    def limit(self, metric: str, factor: float) -> float | None:
        """The budget's limit in the plotted unit when it limits ``metric``."""
        return self.budget["limit"] * factor if self.budget.get("metric") == metric else None


def _bits_figures(d: RunData) -> dict[str, tuple[Any, str]]:
    """The best policy's kernel bit heatmap and bits per layer (none without a best policy)."""
    if d.policy is None:
        return {}
    cfg, best_ep = d.config, d.best.get("episode")
    names = [l.name for l in d.layers]
    w = [d.policy.weight_bits[n] for n in names]
    return {
        "kernel_bits.png": (
            plots.bits_heatmap(
                names,
                w,
                (int(cfg.get("w_min", 1)), int(cfg.get("w_max", 8))),
                f"Weight bit width of every kernel: best policy (episode {best_ep})",
            ),
            "heatmap of the weight bit width of every kernel, one row per layer",
        ),
        "layer_bits.png": (
            plots.layer_bits(names, w, [d.policy.act_bits[n] for n in names], f"Bits per layer: best policy (episode {best_ep})"),
            "activation bits and weight bits per layer",
        ),
    }


def _learning_curves(d: RunData, ep: _Episodes, lat: plots.Unit, en: plots.Unit) -> Any:
    """Reward, accuracy, latency and energy (and the budget's own metric) of every episode."""
    refs, rows = d.references, d.rows
    u8, u4 = refs["uniform8"], refs["uniform4"]
    acc_refs = {"uniform 8/8": 100 * u8["accuracy"], "uniform 4/4": 100 * u4["accuracy"]}
    if "float" in refs:
        acc_refs = {"float32 accuracy": 100 * refs["float"]["accuracy"], **acc_refs}
    curves = [
        plots.Curve("reward\n(higher is better)", _column(rows, "reward")),
        plots.Curve("accuracy, reward\nsplit top-1 (%)", ep.acc, refs=acc_refs),
        plots.Curve(
            f"latency ({lat.label})",
            ep.latency,
            ep.limit("latency", lat.factor),
            {"uniform 8/8": u8["latency_s"] * lat.factor, "uniform 4/4": u4["latency_s"] * lat.factor},
        ),
        plots.Curve(
            f"energy ({en.label})",
            ep.energy,
            ep.limit("energy", en.factor),
            {"uniform 8/8": u8["energy_j"] * en.factor, "uniform 4/4": u4["energy_j"] * en.factor},
        ),
    ]
    if ep.budget.get("metric") == "area":
        curves.append(
            plots.Curve(
                "FPGA utilisation (%)",
                100 * _column(rows, "area"),
                ep.limit("area", 100),
                {"uniform 8/8": 100 * u8["area"], "uniform 4/4": 100 * u4["area"]},
            )
        )
    if ep.budget.get("metric") == "size":
        curves.append(
            plots.Curve(
                "weight size (KiB)",
                _column(rows, "size_bits") / 8192,
                ep.limit("size", 1 / 8192),
                {"uniform 8/8": u8["size_bits"] / 8192, "uniform 4/4": u4["size_bits"] / 8192},
            )
        )
    warmup = int((d.config.get("agent_options") or {}).get("warmup_episodes") or 0)
    title = f"Learning curves: {model_name(d)} on {d.config.get('dataset') or 'its data set'}"
    return plots.learning_curves(ep.episodes, curves, ep.within, d.best.get("episode"), warmup, title)


def _pareto(d: RunData, ep: _Episodes, lat: plots.Unit, en: plots.Unit) -> Any:
    """Accuracy against latency and against energy of every episode, with the best and reference policies."""
    refs = d.references

    def point(label: str, r: dict) -> plots.Point:
        return plots.Point(label, 100 * r["accuracy"], (r["latency_s"] * lat.factor, r["energy_j"] * en.factor))

    best = point(f"best policy (episode {d.best.get('episode')})", d.best) if d.best else None
    return plots.pareto(
        ep.episodes,
        ep.acc,
        [ep.latency, ep.energy],
        [f"latency ({lat.label})", f"energy ({en.label})"],
        ep.within,
        best,
        [point(REF_LABELS[k], refs[k]) for k in REFERENCES],
        100 * refs["float"]["accuracy"] if "float" in refs else None,
        [ep.limit("latency", lat.factor), ep.limit("energy", en.factor)],
        "Accuracy against latency and energy, every episode",
    )


def _layer_costs(d: RunData, lat: plots.Unit, en: plots.Unit) -> Any:
    """Latency and energy of every layer under the best policy and under uniform 8/8."""
    series = {
        f"{label} (total {num(c.latency_s * lat.factor)} {lat.label}, {num(c.energy_j * en.factor)} {en.label})": (
            [l.latency_s for l in c.layers],
            [l.energy_j for l in c.layers],
            [l.bound for l in c.layers],
        )
        for label, c in (("best policy", d.costs["best"]), ("uniform 8/8", d.costs["uniform8"]))
    }
    units = (
        plots.si_unit([v for s in series.values() for v in s[0]], "s"),
        plots.si_unit([v for s in series.values() for v in s[1]], "J"),
    )
    return plots.layer_costs(
        [l.name for l in d.layers],
        series,
        units,
        f"Latency and energy per layer on the {d.costs['best'].accelerator} accelerator",
    )
