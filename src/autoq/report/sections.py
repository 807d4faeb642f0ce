"""The report's text: a Markdown/HTML document of a run, section by section."""

from __future__ import annotations

from typing import Any

from autoq.report import plots
from autoq.report.document import Document
from autoq.report.formatting import model_name, num, pct
from autoq.report.rundata import REF_LABELS, REFERENCES, RunData

#: heading and how to read each figure
FIGURE_TEXTS = {
    "kernel_bits.png": (
        "Kernel bit widths",
        "One row per quantized layer (its kernel count in brackets), one cell per kernel (output "
        "channel) in channel order, coloured by its weight bits. Hatched cells are kernels the "
        "layer does not have.",
    ),
    "layer_bits.png": (
        "Bits per layer",
        "Bars: the bit width of each layer's input activations. Dots: the mean weight bits of the "
        "layer's kernels, with a line from the narrowest to the widest kernel.",
    ),
    "learning_curves.png": (
        "Learning curves",
        "Reward, accuracy, latency and energy of the policy of every episode. Horizontal "
        "lines are the float32 (green) and uniform (dashed) references, the dotted red line "
        "the budget; the star is the best policy within the budget. During the shaded warm-up "
        "the agent explores with constant noise.",
    ),
    "pareto.png": (
        "Accuracy against cost",
        "Every episode's policy (colour: episode number); the purple steps join the episodes no other "
        "episode beats in both accuracy and cost. The star is the best policy (highest reward within "
        "the budget), square and triangle the uniform 8/8 and 4/4 policies.",
    ),
    "layer_costs.png": (
        "Cost per layer",
        "Latency and energy of every layer under the best policy and under uniform 8/8. Hatched "
        "bars are layers whose memory transfers take longer than their compute.",
    ),
}


def document(d: RunData, figs: dict[str, tuple[Any, str]], lat: plots.Unit, en: plots.Unit) -> Document:
    """The whole report: what was searched, the result, finetuning, sizes, the figures and the settings."""
    doc = Document(f"AutoQ search report: {model_name(d)}")
    _intro(doc, d, lat, en)
    _result(doc, d, lat, en)
    if d.finetune:
        _finetuning(doc, d)
    if d.sizes is not None:
        _model_size(doc, d)
    _figure_sections(doc, d, figs, lat, en)
    _settings(doc, d)
    return doc


def _intro(doc: Document, d: RunData, lat: plots.Unit, en: plots.Unit) -> None:
    """What was searched: model, data, agent, bit ranges, accelerator and goal."""
    cfg, refs = d.config, d.references
    budget = refs.get("budget")
    goal = f"{cfg.get('mode')} mode"
    if budget:
        goal = (
            f"resource-constrained: {budget['metric']} at most {_metric_text(budget['metric'], budget['limit'], lat, en)}"
            f" ({budget['limit'] / budget['reference_8bit']:.3g} × uniform 8/8)"
        )
    doc.paragraph(
        f"Run folder `{d.run_dir}`: {len(d.rows)} episodes of the `{cfg.get('agent')}` agent searching a weight "
        f"bit width in {cfg.get('w_min')}..{cfg.get('w_max')} for every kernel (output channel) and an activation "
        f"bit width in {cfg.get('a_min')}..{cfg.get('a_max')} for every layer of `{model_name(d)}` "
        f"({len(d.layers)} layers, {sum(l.c_out for l in d.layers)} kernels) on `{cfg.get('dataset') or 'its data set'}`, "
        f"costed on the `{cfg.get('hardware')}` accelerator; {goal}. Accuracy is top-1 on the reward split "
        f"({refs.get('uniform8', {}).get('n', '?')} images set aside from the data set's training images) unless "
        "marked test."
    )


def _result(doc: Document, d: RunData, lat: plots.Unit, en: plots.Unit) -> None:
    """The best policy against the float32 and uniform references."""
    refs, best = d.references, d.best
    doc.heading("Result")
    if d.policy is None:
        doc.paragraph(
            "No episode met the budget, so there is no best policy: the kernel figures, per-layer costs and sizes are left out."
        )
    cols = [
        "policy",
        "accuracy (%)",
        f"latency ({lat.label})",
        f"energy ({en.label})",
        "FPGA utilisation (%)",
        "BRAM36",
        "avg weight bits",
        "avg activation bits",
        "weight size (KiB)",
    ]
    table = []
    if "float" in refs:
        table.append(["float32", pct(refs["float"]["accuracy"]), "", "", "", "", "32", "32", ""])
    for label, r in [(REF_LABELS[k], refs[k]) for k in REFERENCES] + (
        [(f"best (episode {best['episode']})", best)] if best else []
    ):
        table.append(
            [
                label,
                pct(r["accuracy"]),
                num(r["latency_s"] * lat.factor),
                num(r["energy_j"] * en.factor),
                pct(r["area"], 1),
                str(r["bram36"]),
                num(r["avg_w_bits"], ".3f"),
                num(r["avg_a_bits"], ".3f"),
                num(r["size_bits"] / 8192, ".2f"),
            ]
        )
    doc.table(cols, table)
    if best:
        u8 = refs["uniform8"]
        doc.paragraph(
            f"The best policy runs in {best['latency_s'] / u8['latency_s']:.3f}× the latency and "
            f"{best['energy_j'] / u8['energy_j']:.3f}× the energy of uniform 8/8, at "
            f"{100 * (best['accuracy'] - u8['accuracy']):+.2f} percentage points of accuracy. Averages weight bits by "
            "parameters and activation bits by multiply-accumulates; weight size counts the weight bits only; "
            "BRAM36 counts the accelerator's blocks and those the weights need."
            + (
                " A utilisation over 100 % does not fit the device."
                if any(r.get("area", 0) > 1 for r in [refs["uniform8"], refs["uniform4"], best])
                else ""
            )
        )


def _finetuning(doc: Document, d: RunData) -> None:
    """The finetuned best policy's accuracy and its epochs."""
    ft = d.finetune
    doc.heading("Finetuning", 3)
    doc.paragraph(
        f"The best policy was finetuned (quantization-aware training) for {len(d.finetune_rows)} epoch(s) and "
        "the epoch with the best reward-split accuracy kept: "
        + (
            f"epoch {ft['best_epoch']}."
            if ft.get("best_epoch")
            else "none improved on the weights before finetuning, so those are kept (epoch 0)."
        )
    )
    doc.table(
        ["", "top-1 (%)", "top-5 (%)", "images"],
        [
            ["float32, test split", pct(ft.get("float_top1")), pct(ft.get("float_top5")), str(ft.get("n", ""))],
            ["finetuned best policy, test split", pct(ft.get("top1")), pct(ft.get("top5")), str(ft.get("n", ""))],
            ["best policy before finetuning, reward split", pct(ft.get("reward_top1_before")), "", ""],
            ["best policy after finetuning, reward split", pct(ft.get("reward_top1_after")), "", ""],
        ],
    )
    if d.finetune_rows:
        doc.table(
            ["epoch", "train loss", "reward-split top-1 (%)", "reward-split loss", "seconds"],
            [
                [
                    str(r["epoch"]),
                    num(r["train_loss"], ".4f"),
                    pct(r["reward_top1"]),
                    num(r.get("reward_loss"), ".4f"),
                    num(r["seconds"], ".1f"),
                ]
                for r in d.finetune_rows
            ],
        )


def _model_size(doc: Document, d: RunData) -> None:
    """Bytes of the deployed best policy and of the export files present."""
    doc.heading("Model size")
    doc.paragraph(
        "Bytes of the deployed best policy (batch norms folded into the convolutions, as `autoq export` writes "
        "it): every weight and bias at float32; every weight at 8 bits with a float32 scale per kernel; and "
        "packed, every kernel at its own bit width with its bit width and scale. Layers kept in float count in "
        "all three. Export files found in `export/` are listed with their size on disk"
        + ("." if d.sizes.files else "; there are none yet (`autoq export RUN_DIR` writes them).")
    )
    doc.table(
        ["stored as", "bytes", "KiB", "× float32", "× uniform 8-bit"],
        [
            [r["size"], str(r["bytes"]), f"{r['bytes'] / 1024:.1f}", f"{r['vs_float32']:.3f}", f"{r['vs_uniform8']:.3f}"]
            for r in d.sizes.rows()
        ],
    )


def _figure_sections(doc: Document, d: RunData, figs: dict[str, tuple[Any, str]], lat: plots.Unit, en: plots.Unit) -> None:
    """One section per figure: heading, how to read it, the image (and the per-layer table under the costs)."""
    for name, (_, alt) in figs.items():
        heading, text = FIGURE_TEXTS[name]
        doc.heading(heading)
        doc.paragraph(text)
        doc.image(name, alt)
        if name == "layer_costs.png" and "best" in d.costs:
            doc.table(
                [
                    "layer",
                    "kernels",
                    "weight bits min / mean / max",
                    "activation bits",
                    f"latency ({lat.label})",
                    f"energy ({en.label})",
                    "bound",
                    "weight BRAM36",
                ],
                _layer_rows(d, lat, en),
            )


def _settings(doc: Document, d: RunData) -> None:
    """The resolved settings of the search."""
    doc.heading("Settings")
    doc.paragraph("The resolved settings of the search (`config.yaml`).")
    doc.table(["setting", "value"], [[f"`{k}`", v] for k, v in _flatten(d.config)])


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
        rows.append(
            [
                f"`{layer.name}`",
                str(layer.c_out),
                f"{w.min()} / {w.mean():.2f} / {w.max()}",
                str(d.policy.act_bits[layer.name]),
                num(c.latency_s * lat.factor),
                num(c.energy_j * en.factor),
                c.bound,
                str(c.bram36),
            ]
        )
    return rows


def _flatten(cfg: dict, prefix: str = "") -> list[tuple[str, str]]:
    out = []
    for k, v in cfg.items():
        if isinstance(v, dict):
            out += _flatten(v, f"{prefix}{k}.")
        else:
            out.append((prefix + k, "none" if v is None else str(v)))
    return out
