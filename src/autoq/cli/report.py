"""``autoq report``: the report of a search run folder (figures, index.md, index.html)."""

from __future__ import annotations

import argparse

from autoq.cli import common


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="figures and tables of a search run (RUN_DIR/report/index.md and index.html)",
        description="Write RUN_DIR/report/: a heatmap of every kernel's weight bits, activation bits per layer, "
        "learning curves, accuracy against latency and energy for every episode, per-layer latency and energy, "
        "the model size against float32 and uniform 8-bit, and the settings, as index.md and the same as "
        "index.html. Reads only the run folder (and the model's architecture): no data, no weights. See docs/report.md.",
    )
    p.add_argument("run", metavar="RUN_DIR", help="search run folder (config.yaml, episodes.csv, references.json)")
    common.add_json_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from autoq.report.report import write_report

    report = write_report(args.run)
    d = report.to_dict()
    lines = [f"report of {args.run} ({d['episodes']} episodes): {d['index_md']} and {d['index_html']}"]
    best = d.get("best")
    if best:
        u8 = d["references"]["uniform8"]
        lines.append(
            f"best: episode {best['episode']}, accuracy (reward split) {100 * best['accuracy']:.2f} %, latency "
            f"{best['latency_s'] / u8['latency_s']:.3f}× and energy {best['energy_j'] / u8['energy_j']:.3f}× uniform 8/8"
        )
    else:
        lines.append("no episode met the budget: no best policy")
    if "sizes" in d:
        s = d["sizes"]
        lines.append(
            f"packed size {s['packed']} bytes: {s['packed_vs_float32']:.3f}× float32, "
            f"{s['packed_vs_uniform8']:.3f}× uniform 8-bit"
        )
    common.emit(args, d, "\n".join(lines))
    return 0
