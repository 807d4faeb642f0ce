"""Read a search run folder and write ``RUN_DIR/report/``: figures, index.md and the same as index.html."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autoq.errors import AutoQError
from autoq.report import plots
from autoq.report.document import Document
from autoq.search import runfolder as rf
from autoq.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

REPORT_DIR = "report"
EXPORT_DIR = "export"
REFERENCES = ("uniform8", "uniform4")
REF_LABELS = {"uniform8": "uniform 8/8", "uniform4": "uniform 4/4"}
FIGURES = {"kernel_bits.png", "layer_bits.png", "learning_curves.png", "pareto.png", "layer_costs.png"}


@dataclass
class RunData:
    """Everything the report shows, read from a run folder (costs recomputed from the layer geometry)."""

    run_dir: Path
    config: dict
    rows: list[dict]
    references: dict
    layers: list  # autoq.quant.LayerInfo, forward order
    policy: Any  # autoq.quant.Policy, or None when no episode met the budget
    best: dict
    costs: dict[str, Any] = field(default_factory=dict)  # "best" / "uniform8" / "uniform4" -> CostReport
    sizes: Any = None  # autoq.export.ModelSizes of the best policy
    finetune: dict | None = None
    finetune_rows: list[dict] = field(default_factory=list)


@dataclass
class Report:
    """What :func:`write_report` wrote, and the key figures (for ``--json``)."""

    out_dir: Path
    files: list[Path]
    figures: dict[str, Any]

    def to_dict(self) -> dict:
        return {"report_dir": str(self.out_dir), "index_md": str(self.out_dir / "index.md"),
                "index_html": str(self.out_dir / "index.html"), "files": [str(p) for p in self.files], **self.figures}


# reading ------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        lines = str(e).strip().splitlines()
        raise AutoQError(f"cannot read {str(path)!r}: {lines[0] if lines else type(e).__name__}") from None


def load_run(run_dir: str | Path) -> RunData:
    """The run folder's files, the model's layers and the per-layer costs of the best and reference policies."""
    from autoq.engine.setup import DEFAULT_MODEL, build_model
    from autoq.hardware import CostModel, load_accelerator
    from autoq.quant import Policy

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise AutoQError(f"run folder {str(run_dir)!r} does not exist")
    rows = rf.read_rows(run_dir / rf.EPISODES)
    if not rows:
        raise AutoQError(f"{str(run_dir)!r} holds no search episodes ({rf.EPISODES} is missing or empty): "
                         f"run `autoq search --out {run_dir}` first")
    for name in (rf.CONFIG, rf.REFERENCES):
        if not (run_dir / name).is_file():
            raise AutoQError(f"{str(run_dir)!r} has no {name}: not a folder written by autoq search")
    config = rf.read_yaml(run_dir / rf.CONFIG)
    references = _read_json(run_dir / rf.REFERENCES)
    missing = [k for k in REFERENCES if k not in references]
    if missing:
        raise AutoQError(f"{str(run_dir / rf.REFERENCES)!r} lacks the {missing[0]!r} reference")

    # the geometry is all the costs and sizes need: build the architecture without loading weights
    work = build_model(config.get("model") or DEFAULT_MODEL, None, False, config.get("num_classes"),
                       config.get("input_shape"), bool(config.get("trust_checkpoint")))
    layers = work.layers
    policy = Policy.load(run_dir / rf.BEST_POLICY, layers) if (run_dir / rf.BEST_POLICY).is_file() else None
    summary = _read_json(run_dir / rf.SUMMARY) if (run_dir / rf.SUMMARY).is_file() else {}
    best = summary.get("best") or {}
    if policy is not None and not best:  # search still running: the best row is in the table
        episode = policy.meta.get("episode")
        best = next((r for r in rows if r["episode"] == episode), {})

    cost_model = CostModel(layers, load_accelerator(config.get("hardware", "temporal")),
                           sort_kernels=bool(config.get("sort_kernels", True)))
    costs = {"uniform8": cost_model.evaluate(Policy.uniform(layers, 8, 8)),
             "uniform4": cost_model.evaluate(Policy.uniform(layers, 4, 4))}
    data = RunData(run_dir, config, rows, references, layers, policy, best, costs)
    if policy is not None:
        data.costs["best"] = cost_model.evaluate(policy)
        data.sizes = _sizes(work, policy, run_dir / EXPORT_DIR)
    if (run_dir / rf.FINETUNE_JSON).is_file():
        data.finetune = _read_json(run_dir / rf.FINETUNE_JSON)
        data.finetune_rows = rf.read_rows(run_dir / rf.FINETUNE_CSV)
    return data


def _sizes(work, policy, export_dir: Path):
    """Bytes of the best policy as float32, uniform 8-bit and packed, and of the export files present."""
    import torch

    from autoq.export import model_sizes
    from autoq.export.exporter import FILE_NAMES
    from autoq.quant import quantized

    # byte counts depend on the bit widths and the layer shapes only, not on the values:
    # one random batch gives every layer the activation range the export needs
    batch = torch.randn(2, *work.spec.input_shape, generator=torch.Generator().manual_seed(0))
    qmodel = quantized(work.model, policy, [batch], weight_clip="max", act_clip="max")
    files = {fmt: export_dir / name for fmt, name in FILE_NAMES.items() if (export_dir / name).is_file()}
    return model_sizes(qmodel, files)


# figures ------------------------------------------------------------------------------------------


def _column(rows: list[dict], key: str) -> np.ndarray:
    return np.array([float(r.get(key, math.nan)) for r in rows])


def _figures(d: RunData, lat: plots.Unit, en: plots.Unit) -> dict[str, tuple[Any, str]]:
    """File name -> (figure, alt text), in report order."""
    cfg, rows, refs = d.config, d.rows, d.references
    figs: dict[str, tuple[Any, str]] = {}
    names = [l.name for l in d.layers]
    budget = refs.get("budget") or {}
    best_ep = d.best.get("episode")
    if d.policy is not None:
        w = [d.policy.weight_bits[n] for n in names]
        figs["kernel_bits.png"] = (
            plots.bits_heatmap(names, w, (int(cfg.get("w_min", 1)), int(cfg.get("w_max", 8))),
                               f"Weight bit width of every kernel: best policy (episode {best_ep})"),
            "heatmap of the weight bit width of every kernel, one row per layer",
        )
        figs["layer_bits.png"] = (
            plots.layer_bits(names, w, [d.policy.act_bits[n] for n in names],
                             f"Bits per layer: best policy (episode {best_ep})"),
            "activation bits and weight bits per layer",
        )

    episodes = _column(rows, "episode").astype(np.int64)
    within = np.array([bool(r.get("within_budget", True)) for r in rows])
    acc = 100 * _column(rows, "accuracy")
    latency, energy = _column(rows, "latency_s") * lat.factor, _column(rows, "energy_j") * en.factor
    u8, u4 = refs["uniform8"], refs["uniform4"]
    acc_refs = {"uniform 8/8": 100 * u8["accuracy"], "uniform 4/4": 100 * u4["accuracy"]}
    if "float" in refs:
        acc_refs = {"float32 accuracy": 100 * refs["float"]["accuracy"], **acc_refs}

    def limit(metric: str, factor: float) -> float | None:
        return budget["limit"] * factor if budget.get("metric") == metric else None

    curves = [
        plots.Curve("reward\n(higher is better)", _column(rows, "reward")),
        plots.Curve("accuracy, reward\nsplit top-1 (%)", acc, refs=acc_refs),
        plots.Curve(f"latency ({lat.label})", latency, limit("latency", lat.factor),
                    {"uniform 8/8": u8["latency_s"] * lat.factor, "uniform 4/4": u4["latency_s"] * lat.factor}),
        plots.Curve(f"energy ({en.label})", energy, limit("energy", en.factor),
                    {"uniform 8/8": u8["energy_j"] * en.factor, "uniform 4/4": u4["energy_j"] * en.factor}),
    ]
    if budget.get("metric") == "area":
        curves.append(plots.Curve("FPGA utilisation (%)", 100 * _column(rows, "area"), limit("area", 100),
                                  {"uniform 8/8": 100 * u8["area"], "uniform 4/4": 100 * u4["area"]}))
    if budget.get("metric") == "size":
        curves.append(plots.Curve("weight size (KiB)", _column(rows, "size_bits") / 8192, limit("size", 1 / 8192),
                                  {"uniform 8/8": u8["size_bits"] / 8192, "uniform 4/4": u4["size_bits"] / 8192}))
    warmup = int((cfg.get("agent_options") or {}).get("warmup_episodes") or 0)
    title = f"Learning curves: {_model_name(d)} on {cfg.get('dataset') or 'its data set'}"
    figs["learning_curves.png"] = (
        plots.learning_curves(episodes, curves, within, best_ep, warmup, title),
        "reward, accuracy, latency and energy of every episode",
    )

    def point(label: str, r: dict) -> plots.Point:
        return plots.Point(label, 100 * r["accuracy"], (r["latency_s"] * lat.factor, r["energy_j"] * en.factor))

    best = point(f"best policy (episode {best_ep})", d.best) if d.best else None
    figs["pareto.png"] = (
        plots.pareto(episodes, acc, [latency, energy], [f"latency ({lat.label})", f"energy ({en.label})"], within, best,
                     [point(REF_LABELS[k], refs[k]) for k in REFERENCES],
                     100 * refs["float"]["accuracy"] if "float" in refs else None,
                     [limit("latency", lat.factor), limit("energy", en.factor)],
                     "Accuracy against latency and energy, every episode"),
        "accuracy against latency and against energy of every episode",
    )

    if "best" in d.costs:
        series = {
            f"{label} (total {_num(c.latency_s * lat.factor)} {lat.label}, {_num(c.energy_j * en.factor)} {en.label})": (
                [l.latency_s for l in c.layers], [l.energy_j for l in c.layers], [l.bound for l in c.layers])
            for label, c in (("best policy", d.costs["best"]), ("uniform 8/8", d.costs["uniform8"]))
        }
        units = (plots.si_unit([v for s in series.values() for v in s[0]], "s"),
                 plots.si_unit([v for s in series.values() for v in s[1]], "J"))
        figs["layer_costs.png"] = (
            plots.layer_costs(names, series, units,
                              f"Latency and energy per layer on the {d.costs['best'].accelerator} accelerator"),
            "latency and energy of every layer",
        )
    return figs


# the document -------------------------------------------------------------------------------------


def _model_name(d: RunData) -> str:
    from autoq.engine.setup import DEFAULT_MODEL

    return str(d.config.get("model") or DEFAULT_MODEL)


def _pct(v: float | None, digits: int = 2) -> str:
    return "" if v is None else f"{100 * v:.{digits}f}"


def _num(v: float | None, fmt: str = ".4g") -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def _document(d: RunData, figs: dict[str, tuple[Any, str]], lat: plots.Unit, en: plots.Unit) -> Document:
    cfg, refs, best = d.config, d.references, d.best
    doc = Document(f"AutoQ search report: {_model_name(d)}")
    budget = refs.get("budget")
    goal = f"{cfg.get('mode')} mode"
    if budget:
        goal = (f"resource-constrained: {budget['metric']} at most {_metric_text(budget['metric'], budget['limit'], lat, en)}"
                f" ({budget['limit'] / budget['reference_8bit']:.3g} × uniform 8/8)")
    doc.paragraph(
        f"Run folder `{d.run_dir}`: {len(d.rows)} episodes of the `{cfg.get('agent')}` agent searching a weight "
        f"bit width in {cfg.get('w_min')}..{cfg.get('w_max')} for every kernel (output channel) and an activation "
        f"bit width in {cfg.get('a_min')}..{cfg.get('a_max')} for every layer of `{_model_name(d)}` "
        f"({len(d.layers)} layers, {sum(l.c_out for l in d.layers)} kernels) on `{cfg.get('dataset') or 'its data set'}`, "
        f"costed on the `{cfg.get('hardware')}` accelerator; {goal}. Accuracy is top-1 on the reward split "
        f"({refs.get('uniform8', {}).get('n', '?')} images set aside from the data set's training images) unless "
        "marked test."
    )

    doc.heading("Result")
    if d.policy is None:
        doc.paragraph("No episode met the budget, so there is no best policy: the kernel figures, per-layer costs "
                      "and sizes are left out.")
    cols = ["policy", "accuracy (%)", f"latency ({lat.label})", f"energy ({en.label})", "FPGA utilisation (%)",
            "BRAM36", "avg weight bits", "avg activation bits", "weight size (KiB)"]
    table = []
    if "float" in refs:
        table.append(["float32", _pct(refs["float"]["accuracy"]), "", "", "", "", "32", "32", ""])
    for label, r in [(REF_LABELS[k], refs[k]) for k in REFERENCES] + ([(f"best (episode {best['episode']})", best)] if best else []):
        table.append([label, _pct(r["accuracy"]), _num(r["latency_s"] * lat.factor), _num(r["energy_j"] * en.factor),
                      _pct(r["area"], 1), str(r["bram36"]), _num(r["avg_w_bits"], ".3f"), _num(r["avg_a_bits"], ".3f"),
                      _num(r["size_bits"] / 8192, ".2f")])
    doc.table(cols, table)
    if best:
        u8 = refs["uniform8"]
        doc.paragraph(
            f"The best policy runs in {best['latency_s'] / u8['latency_s']:.3f}× the latency and "
            f"{best['energy_j'] / u8['energy_j']:.3f}× the energy of uniform 8/8, at "
            f"{100 * (best['accuracy'] - u8['accuracy']):+.2f} percentage points of accuracy. Averages weight bits by "
            "parameters and activation bits by multiply-accumulates; weight size counts the weight bits only; "
            "BRAM36 counts the accelerator's blocks and those the weights need."
            + (" A utilisation over 100 % does not fit the device." if any(
                r.get("area", 0) > 1 for r in [refs["uniform8"], refs["uniform4"], best]) else "")
        )
    if d.finetune:
        ft = d.finetune
        doc.heading("Finetuning", 3)
        doc.paragraph(
            f"The best policy was finetuned (quantization-aware training) for {len(d.finetune_rows)} epoch(s) and "
            "the epoch with the best reward-split accuracy kept: "
            + (f"epoch {ft['best_epoch']}." if ft.get("best_epoch") else
               "none improved on the weights before finetuning, so those are kept (epoch 0).")
        )
        doc.table(["", "top-1 (%)", "top-5 (%)", "images"], [
            ["float32, test split", _pct(ft.get("float_top1")), _pct(ft.get("float_top5")), str(ft.get("n", ""))],
            ["finetuned best policy, test split", _pct(ft.get("top1")), _pct(ft.get("top5")), str(ft.get("n", ""))],
            ["best policy before finetuning, reward split", _pct(ft.get("reward_top1_before")), "", ""],
            ["best policy after finetuning, reward split", _pct(ft.get("reward_top1_after")), "", ""],
        ])
        if d.finetune_rows:
            doc.table(["epoch", "train loss", "reward-split top-1 (%)", "reward-split loss", "seconds"],
                      [[str(r["epoch"]), _num(r["train_loss"], ".4f"), _pct(r["reward_top1"]), _num(r.get("reward_loss"), ".4f"),
                        _num(r["seconds"], ".1f")] for r in d.finetune_rows])

    if d.sizes is not None:
        doc.heading("Model size")
        doc.paragraph(
            "Bytes of the deployed best policy (batch norms folded into the convolutions, as `autoq export` writes "
            "it): every weight and bias at float32; every weight at 8 bits with a float32 scale per kernel; and "
            "packed, every kernel at its own bit width with its bit width and scale. Layers kept in float count in "
            "all three. Export files found in `export/` are listed with their size on disk"
            + ("." if d.sizes.files else "; there are none yet (`autoq export RUN_DIR` writes them).")
        )
        doc.table(["stored as", "bytes", "KiB", "× float32", "× uniform 8-bit"],
                  [[r["size"], str(r["bytes"]), f"{r['bytes'] / 1024:.1f}", f"{r['vs_float32']:.3f}", f"{r['vs_uniform8']:.3f}"]
                   for r in d.sizes.rows()])

    texts = {
        "kernel_bits.png": ("Kernel bit widths",
                            "One row per quantized layer (its kernel count in brackets), one cell per kernel (output "
                            "channel) in channel order, coloured by its weight bits. Hatched cells are kernels the "
                            "layer does not have."),
        "layer_bits.png": ("Bits per layer",
                           "Bars: the bit width of each layer's input activations. Dots: the mean weight bits of the "
                           "layer's kernels, with a line from the narrowest to the widest kernel."),
        "learning_curves.png": ("Learning curves",
                                "Reward, accuracy, latency and energy of the policy of every episode. Horizontal "
                                "lines are the float32 (green) and uniform (dashed) references, the dotted red line "
                                "the budget; the star is the best policy within the budget. During the shaded warm-up "
                                "the agent explores with constant noise."),
        "pareto.png": ("Accuracy against cost",
                       "Every episode's policy (colour: episode number); the purple steps join the episodes no other "
                       "episode beats in both accuracy and cost. The star is the best policy (highest reward within "
                       "the budget), square and triangle the uniform 8/8 and 4/4 policies."),
        "layer_costs.png": ("Cost per layer",
                            "Latency and energy of every layer under the best policy and under uniform 8/8. Hatched "
                            "bars are layers whose memory transfers take longer than their compute."),
    }
    for name, (_, alt) in figs.items():
        heading, text = texts[name]
        doc.heading(heading)
        doc.paragraph(text)
        doc.image(name, alt)
        if name == "layer_costs.png" and "best" in d.costs:
            doc.table(["layer", "kernels", "weight bits min / mean / max", "activation bits", f"latency ({lat.label})",
                       f"energy ({en.label})", "bound", "weight BRAM36"], _layer_rows(d, lat, en))

    doc.heading("Settings")
    doc.paragraph("The resolved settings of the search (`config.yaml`).")
    doc.table(["setting", "value"], [[f"`{k}`", v] for k, v in _flatten(cfg)])
    return doc


def _metric_text(metric: str, value: float, lat: plots.Unit, en: plots.Unit) -> str:
    if metric == "latency":
        return f"{value * lat.factor:.4g} {lat.label}"
    if metric == "energy":
        return f"{value * en.factor:.4g} {en.label}"
    if metric == "area":
        return f"{100 * value:.1f} % FPGA utilisation"
    return f"{value / 8192:.2f} KiB of weights"


def _layer_rows(d: RunData, lat: plots.Unit, en: plots.Unit) -> list[list[str]]:
    rows = []
    for layer, c in zip(d.layers, d.costs["best"].layers):
        w = d.policy.weight_bits[layer.name]
        rows.append([f"`{layer.name}`", str(layer.c_out), f"{w.min()} / {w.mean():.2f} / {w.max()}",
                     str(d.policy.act_bits[layer.name]), _num(c.latency_s * lat.factor), _num(c.energy_j * en.factor),
                     c.bound, str(c.bram36)])
    return rows


def _flatten(cfg: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((prefix + k, "none" if v is None else str(v)))
    return out


# writing ------------------------------------------------------------------------------------------


def write_report(run_dir: str | Path) -> Report:
    """Write ``RUN_DIR/report/`` (PNGs, index.md, index.html, report.json); every file atomically."""
    d = load_run(run_dir)
    out = d.run_dir / REPORT_DIR
    u8 = d.references["uniform8"]
    lat, en = plots.si_unit([u8["latency_s"]], "s"), plots.si_unit([u8["energy_j"]], "J")
    figs = _figures(d, lat, en)
    files = []
    for name in FIGURES - set(figs):  # a figure an earlier report of this folder wrote and this one has not
        (out / name).unlink(missing_ok=True)
    for name, (fig, _) in figs.items():
        atomic_write_bytes(out / name, plots.png_bytes(fig))
        files.append(out / name)
    doc = _document(d, figs, lat, en)
    key = _key_figures(d)
    atomic_write_json(out / "report.json", key)
    # the index files last: they never point at a figure that is not written yet
    atomic_write_text(out / "index.md", doc.markdown())
    atomic_write_text(out / "index.html", doc.html())
    files += [out / "report.json", out / "index.md", out / "index.html"]
    return Report(out, files, key)


def _key_figures(d: RunData) -> dict:
    key: dict[str, Any] = {"run_dir": str(d.run_dir), "episodes": len(d.rows)}
    if d.best:
        key["best"] = {k: d.best[k] for k in ("episode", "reward", "accuracy", "latency_s", "energy_j", "area",
                                               "avg_w_bits", "avg_a_bits") if k in d.best}
    key["references"] = {k: {m: d.references[k].get(m) for m in ("accuracy", "latency_s", "energy_j")}
                         for k in REFERENCES}
    if d.sizes is not None:
        key["sizes"] = d.sizes.to_dict()
    if d.finetune:
        key["finetune"] = {k: d.finetune.get(k) for k in ("top1", "top5", "float_top1", "reward_top1_after")}
    return key
