"""The comparison's tables, from the records alone: RESULTS.md's ``comparison`` section and README's block.

Nothing here reads a run folder or the clock: the same records give the same text, byte for byte.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
from comparison_records import is_stale, load_records, unpack
from comparison_stats import Cell, Estimate, accuracy_difference, cost_ratio_at_equal_accuracy

COMMAND = "python benchmarks/paper_comparison.py --report-only"
PAPER = {"latency_s": -54.06, "energy_j": -50.69}  # AutoQ against HAQ at equal accuracy, ImageNet (the paper)
RIVALS = ("uniform", "haq", "ilp-layer", "ilp-kernel")


def _returned_mean(records: list[dict]):
    """``mean(key)``: the mean of a returned-policy field over ``records`` (NaN when there are none)."""
    return lambda key: float(np.mean([r["returned"][key] for r in records])) if records else float("nan")


def _group(records: list[dict]) -> tuple[dict, dict]:
    """Cell records by (model, hw, mode, tier) -> strategy -> budget -> seed, and references by (model, hw) -> seed."""
    cells: dict = defaultdict(lambda: defaultdict(lambda: defaultdict(dict)))
    refs: dict = defaultdict(dict)
    for r in records:
        c = r["cell"]
        if c["strategy"] == "uniform8":
            refs[(c["model"], c["hw"])][c["seed"]] = r
        else:
            cells[(c["model"], c["hw"], c["mode"], r["tier"])][c["strategy"]][c["budget"]][c["seed"]] = r
    return cells, refs


def _cell(by_seed: dict, seeds: list[int]) -> Cell | None:
    """The strategy's Cell over ``seeds``, or None when a seed is missing, stale or returned no policy."""
    rs = [by_seed.get(s) for s in seeds]
    if any(r is None or r["test"] is None or r["stale"] for r in rs):
        return None
    correct = np.stack([unpack(r["test"]["correct"], r["test"]["n"]) for r in rs])
    return Cell(correct, np.array([r["returned"]["latency_s"] for r in rs]), np.array([r["returned"]["energy_j"] for r in rs]))


def _est(e: Estimate, scale: float = 100.0, unit: str = " pt") -> str:
    if np.isnan(e.value):
        return "outside"
    verdict = {"+": "higher", "-": "lower", "~": "not distinguishable"}[e.decided]
    return f"{scale * e.value:+.2f}{unit} [{scale * e.low:+.2f}, {scale * e.high:+.2f}] ({verdict})"


def _strategy_rows(group: dict, budgets: list, seeds: list[int], labels: list[str]) -> list[str]:
    lines = [
        "| strategy | budget | seeds | test top-1 % (mean; per seed) | latency ms | energy mJ | avg w / a bits | note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for strategy in labels:
        for b in budgets:
            rs = [group[strategy][b].get(s) for s in seeds]
            done = [r for r in rs if r is not None]
            if not done:
                continue
            tested = [r for r in done if r["test"]]
            note = ", ".join(
                sorted({"stale" for r in done if r["stale"]} | {"no policy met the budget" for r in done if not r["test"]})
            )
            top1 = " ".join(f"{100 * r['test']['top1']:.2f}" for r in tested)
            mean = _returned_mean(tested)
            lines.append(
                f"| {strategy} | {b if b is not None else 'ψ'} | {len(done)} | "
                f"{100 * np.mean([r['test']['top1'] for r in tested]) if tested else float('nan'):.2f}; {top1} | "
                f"{1e3 * mean('latency_s'):.4f} | {1e3 * mean('energy_j'):.4f} | "
                f"{mean('avg_w_bits'):.2f} / {mean('avg_a_bits'):.2f} | {note} |"
            )
    return lines


def _comparisons(group: dict, budgets: list, seeds: list[int], anchor: Cell | None) -> tuple[list[str], list[str]]:
    """AutoQ against each rival: accuracy at each budget, latency and energy at the rival's accuracy."""
    table = [
        "| AutoQ against | budget | test top-1, AutoQ − it (95 % interval) | latency at its accuracy, AutoQ / it − 1 | "
        "energy at its accuracy, AutoQ / it − 1 |",
        "|---|---|---|---|---|",
    ]
    summary = []
    autoq = [_cell(group["autoq"][b], seeds) for b in budgets] if "autoq" in group else []
    for rival in RIVALS:
        if rival not in group or not autoq or any(c is None for c in autoq):
            continue
        theirs = [_cell(group[rival][b], seeds) for b in budgets]
        if any(c is None for c in theirs):
            continue
        ours, their_front = autoq + ([anchor] if anchor else []), theirs + ([anchor] if anchor else [])
        for j, b in enumerate(budgets):
            acc = accuracy_difference(autoq[j], theirs[j])
            lat = cost_ratio_at_equal_accuracy(ours, their_front, j, "latency_s")
            energy = cost_ratio_at_equal_accuracy(ours, their_front, j, "energy_j")
            table.append(
                f"| {rival} | {b if b is not None else 'ψ'} | {_est(acc)} | {_est(lat, unit=' %')} | {_est(energy, unit=' %')} |"
            )
            summary.append(
                f"against {rival} at budget {b if b is not None else 'ψ'}: test top-1 {_est(acc)}, "
                f"latency at equal accuracy {_est(lat, unit=' %')}, energy {_est(energy, unit=' %')}"
            )
    return table, summary


def _anchor(refs: dict, seeds: list[int]) -> Cell | None:
    if any(s not in refs or refs[s]["stale"] for s in seeds):
        return None
    rs = [refs[s] for s in seeds]
    return Cell(
        np.stack([unpack(r["test"]["correct"], r["test"]["n"]) for r in rs]),
        np.array([r["returned"]["latency_s"] for r in rs]),
        np.array([r["returned"]["energy_j"] for r in rs]),
    )


def report(records: list[dict], strategies: list[str]) -> tuple[str, str]:
    """RESULTS.md's section body and README's block."""
    for r in records:
        r["stale"] = is_stale(r)
    cells, refs = _group(records)
    body, readme = [], []
    stale = sum(r["stale"] for r in records)
    commits = sorted({r["commit"] for r in records})
    body.append(
        f"{len(records)} records ({stale} stale), commits {', '.join(commits) or 'none'}; protocol: "
        "benchmarks/PROTOCOL.md. Intervals: 95 %, paired bootstrap over test images and seeds (2000 resamples). "
        f"The paper reports {PAPER['latency_s']} % latency and {PAPER['energy_j']} % energy for AutoQ against HAQ "
        "at equal accuracy (ImageNet)."
    )
    for (model, hw, mode, tier), group in sorted(cells.items(), key=lambda kv: tuple(str(k) for k in kv[0])):
        budgets = sorted({b for s in group.values() for b in s}, key=lambda b: -1 if b is None else b)
        seeds = sorted({seed for s in group.values() for b in s.values() for seed in b})
        order = [s for s in strategies if s in group]
        ref = refs.get((model, hw), {})
        anchor = _anchor(ref, seeds) if mode == "resource" else None
        float_top1 = np.mean([ref[s]["float"]["top1"] for s in seeds if s in ref]) if ref else float("nan")
        acc8 = np.mean([ref[s]["test"]["top1"] for s in seeds if s in ref]) if ref else float("nan")
        body += [
            "",
            f"### {model}, {hw} accelerator, {mode} mode, tier `{tier}`",
            "",
            f"Float test top-1 {100 * float_top1:.2f} %, uniform 8-bit (calibrated) {100 * acc8:.2f} %; seeds {seeds}.",
            "",
        ]
        body += _strategy_rows(group, budgets, seeds, order)
        table, summary = _comparisons(group, budgets, seeds, anchor)
        if len(table) > 2:
            body += ["", *table]
            readme += [f"- **{model}, {hw}, {mode} mode (tier `{tier}`)**:"] + [f"  - AutoQ {line}" for line in summary]
    return "\n".join(body) + "\n", "\n".join(readme) + "\n"


def _replace_block(path: Path, name: str, text: str) -> None:
    content = path.read_text()
    pattern = re.compile(rf"(<!-- begin {name} -->\n).*?(<!-- end {name} -->)", re.S)
    if not pattern.search(content):
        raise SystemExit(f"{path} has no '<!-- begin {name} -->' ... '<!-- end {name} -->' block to rewrite")
    new = pattern.sub(lambda m: m.group(1) + text + m.group(2), content)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(new)
    tmp.replace(path)


def write_report(root: Path, results: Path, readme: Path, strategies: dict, models: list[str]) -> None:
    """Regenerate RESULTS.md's comparison section and README's comparison block from the records under
    ``root/<model>/`` (other folders there hold other benchmarks' records)."""
    records = load_records(sorted(p for m in models for p in (root / m).rglob("*.json.gz")))
    body, block = report(records, list(strategies))
    dates = sorted({r["date"] for r in records})
    machines = sorted({r["machine"] for r in records})
    section = (
        f"## The comparison of PROTOCOL.md (benchmarks/paper_comparison.py)\n\n- command: `{COMMAND}`\n"
        f"- dates of the records: {', '.join(dates) or 'none'}\n- machines: {'; '.join(machines) or 'none'}\n\n{body}"
    )
    _replace_block(results, "comparison", section)
    _replace_block(readme, "comparison", block)
    print(section)
