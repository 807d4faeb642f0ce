"""Side-by-side test-split comparison of float, uniform and searched policies (demo and reports)."""

from __future__ import annotations

from typing import Any

from autoq.data import iterate_batches
from autoq.engine.loops import evaluate
from autoq.quant import Policy, apply_policy, quantized


def compare_on_test(work, run, cost_model, entries: dict[str, Any], device="cpu") -> list[dict]:
    """One row per entry: test top-1 / top-5 and, for quantized entries, latency, energy and average bits.

    ``entries`` maps a label to ``None`` (the float model), a :class:`Policy`, or a ``(policy,
    state_dict)`` pair for a finetuned model.
    """

    rows = []
    for label, entry in entries.items():
        if entry is None:
            model, policy = work.model, None
        else:
            policy, state = entry if isinstance(entry, tuple) else (entry, None)
            clips = {"weight_clip": run.weight_clip, "act_clip": run.act_clip}
            if state is not None:
                model = apply_policy(work.model, policy, **clips)
                model.load_state_dict(state)
            else:
                model = quantized(work.model, policy, iterate_batches(work.splits.calib, run.batch_size), **clips, device=device)
        acc = evaluate(model.to(device), iterate_batches(work.splits.test, run.batch_size), device)
        row: dict[str, Any] = {"model": label, "test_top1": acc.top1, "test_top5": acc.top5, "n": acc.n}
        if isinstance(policy, Policy):
            rep = cost_model.evaluate(policy)
            row.update(
                latency_ms=1e3 * rep.latency_s,
                energy_mj=1e3 * rep.energy_j,
                avg_w_bits=policy.avg_weight_bits(work.layers),
                avg_a_bits=policy.avg_act_bits(work.layers),
            )
        rows.append(row)
    return rows
