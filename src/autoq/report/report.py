"""Read a search run folder and write ``RUN_DIR/report/``: figures, index.md and the same as index.html."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autoq.report import plots
from autoq.report.figures import figures
from autoq.report.rundata import REFERENCES, RunData, load_run
from autoq.report.sections import document
from autoq.utils.io import atomic_write_bytes, atomic_write_json, atomic_write_text

__all__ = ["Report", "RunData", "load_run", "write_report"]

REPORT_DIR = "report"
FIGURES = {"kernel_bits.png", "layer_bits.png", "learning_curves.png", "pareto.png", "layer_costs.png"}


@dataclass
class Report:
    """What :func:`write_report` wrote, and the key figures (for ``--json``)."""

    out_dir: Path
    files: list[Path]
    figures: dict[str, Any]

    def to_dict(self) -> dict:
        return {
            "report_dir": str(self.out_dir),
            "index_md": str(self.out_dir / "index.md"),
            "index_html": str(self.out_dir / "index.html"),
            "files": [str(p) for p in self.files],
            **self.figures,
        }


# writing ------------------------------------------------------------------------------------------


def write_report(run_dir: str | Path) -> Report:
    """Write ``RUN_DIR/report/`` (PNGs, index.md, index.html, report.json); every file atomically."""
    d = load_run(run_dir)
    out = d.run_dir / REPORT_DIR
    u8 = d.references["uniform8"]
    lat, en = plots.si_unit([u8["latency_s"]], "s"), plots.si_unit([u8["energy_j"]], "J")
    figs = figures(d, lat, en)
    files = []
    for name in FIGURES - set(figs):  # a figure an earlier report of this folder wrote and this one has not
        (out / name).unlink(missing_ok=True)
    for name, (fig, _) in figs.items():
        atomic_write_bytes(out / name, plots.png_bytes(fig))
        files.append(out / name)
    doc = document(d, figs, lat, en)
    key = _key_figures(d)
    atomic_write_json(out / "report.json", key)
    # the index files last: they never point at a figure that is not written yet
    atomic_write_text(out / "index.md", doc.markdown())
    atomic_write_text(out / "index.html", doc.html())
    files += [out / "report.json", out / "index.md", out / "index.html"]
    return Report(out, files, key)


def _key_figures(d: RunData) -> dict:
    """The numbers of report.json: best episode, references, sizes and finetuning."""
    key: dict[str, Any] = {"run_dir": str(d.run_dir), "episodes": len(d.rows)}
    if d.best:
        key["best"] = {
            k: d.best[k]
            for k in ("episode", "reward", "accuracy", "latency_s", "energy_j", "area", "avg_w_bits", "avg_a_bits")
            if k in d.best
        }
    key["references"] = {k: {m: d.references[k].get(m) for m in ("accuracy", "latency_s", "energy_j")} for k in REFERENCES}
    if d.sizes is not None:
        key["sizes"] = d.sizes.to_dict()
    if d.finetune:
        key["finetune"] = {k: d.finetune.get(k) for k in ("top1", "top5", "float_top1", "reward_top1_after")}
    return key
