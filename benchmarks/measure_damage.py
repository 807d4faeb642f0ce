"""Measure, on a real network, how much each kernel alone and each layer's activations alone damage it.

The table this writes is the measured synthetic task of ``autoq.tasks.measured``: per kernel and
bit width (1..8), the increase of the KL divergence from the float model's predictions on holdout
images when that kernel alone is quantized (everything else float); per layer and activation bit
width (2..8), the same for the layer's input; and the layer latencies of the temporal accelerator
from the real cost model. Nothing in it is a formula of the weights' statistics.

Measuring every kernel at every bit width directly takes one forward pass each (5,600 for ResNet-20,
136,000 for MobileNetV2), far more than a CPU affords. So:

1. every kernel, every bit width: the exact second-order (Fisher) estimate of its KL increase,
   ``1/2 * dz' F dz`` with ``dz`` the logits' change its quantization error causes, computed from
   backward passes (one per probable class) and one convolution of the layer's inputs with the
   quantization errors per bit width; the same for each layer's input at every activation width;
2. a sample of kernels and layers measured directly (a forward pass each) at the low bit widths,
   where the quadratic estimate is least accurate: the measured/estimated ratio per bit width
   (geometric mean over the sample) corrects the table, and its spread is recorded;
3. whole random policies measured directly: the rank correlation between the table's summed damage
   and the measured KL of the whole quantized network says how far the additive task is from the
   real one.

    python benchmarks/measure_damage.py --model resnet20 [--images 128] [--sample 1] [--policies 12]
    python benchmarks/measure_damage.py --model mobilenet_v2-cifar --device cuda

Writes ``benchmarks/damage_<model>.npz`` and prints a summary (also written to RESULTS.md, section
``measured_task_<model>``). Weights: ``--weights`` (default: the shared JPEG-bench checkpoint of the model).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SHARED = HERE.parent.parent / "shared"
WEIGHTS = {"resnet20": "models/cifar10-jpeg/resnet20.pth"}
PRETRAINED = {"mobilenet_v2-cifar", "resnet18-cifar", "squeezenet1_0-cifar"}
W_BITS = np.arange(1, 9)
A_BITS = np.arange(2, 9)
SLOTS = 4  # most probable classes per image in the Fisher estimate (the rest hold ~no probability mass)


def load(model: str, weights: str | None, images: int, device: str):
    """The float model, its layers, ``images`` holdout images and 256 calibration (training) images."""
    from autoq.data.loader import as_tensors
    from autoq.engine.setup import attach_data, build_model

    if weights is None and model in WEIGHTS:
        weights = str(SHARED / WEIGHTS[model])
    if not SHARED.is_dir():
        raise SystemExit(f"the shared data folder {SHARED} is missing")
    work = build_model(model, weights=weights, pretrained=model in PRETRAINED)
    attach_data(work, "cifar10-jpeg", calib_size=256, reward_size=images, seed=0)
    x, _ = as_tensors(work.splits.reward)
    xc, _ = as_tensors(work.splits.calib)
    work.model.to(device).eval()
    for p in work.model.parameters():
        p.requires_grad_(False)
    return work, x.to(device), xc.to(device)


def modules_of(work) -> list:
    named = dict(work.model.named_modules())
    return [named[layer.name] for layer in work.layers]


def weight_errors(mod) -> tuple:
    """Per bit width b: the layer's weights with every kernel quantized at b (MSE clips), [8, *w.shape]."""
    import torch

    from autoq.quant.quantizer import mse_clips, quantize_kernels

    w = mod.weight.detach()
    clips = mse_clips(w)
    out = []
    for b in W_BITS:
        bits = torch.full((w.shape[0],), int(b), dtype=torch.long)
        out.append(quantize_kernels(w, bits, clips[:, int(b)].to(w.device) if int(b) >= 2 else clips[:, 2])[0])
    return torch.stack(out)


def act_clip(x, bits: int, signed: bool) -> float:
    """MSE-optimal clip of ``x`` at ``bits`` over a grid of fractions of max |x|."""
    from autoq.quant.quantizer import fake_quant_act

    flat = x.reshape(-1)
    x = flat[:: max(1, flat.numel() // (1 << 17))]  # an even-strided sample of 128k values is enough for a clip
    top = float(x.abs().max())
    best, best_err = top, float("inf")
    for frac in np.linspace(0.05, 1.0, 24):
        c = top * float(frac)
        err = float((fake_quant_act(x, bits, c, signed) - x).pow(2).mean())
        if err < best_err:
            best, best_err = c, err
    return best


def forward_capture(model, mods, x):
    """Float logits with every layer's input and output kept (gradients retained for the Fisher passes)."""
    ins, outs, hooks = [None] * len(mods), [None] * len(mods), []
    for i, m in enumerate(mods):

        def pre(mod, args, i=i):
            a = args[0].clone()  # a node of its own: its gradient is this layer's share alone
            a.retain_grad()
            ins[i] = a
            return (a,) + tuple(args[1:])

        def post(mod, args, out, i=i):
            out.retain_grad()
            outs[i] = out

        hooks += [m.register_forward_pre_hook(pre), m.register_forward_hook(post)]
    try:
        z = model(x.requires_grad_(True))
    finally:
        for h in hooks:
            h.remove()
    return z, ins, outs


def fisher_tables(work, x, calib, device: str) -> dict:
    """Second-order KL estimates: weights [c_out, 8] per layer, activations [7] per layer; and the clips used."""
    import torch
    import torch.nn.functional as F

    mods = modules_of(work)
    with torch.enable_grad():
        z, ins, outs = forward_capture(work.model, mods, x.clone())
        p = F.softmax(z.detach().double(), 1).float()
        top = p.topk(SLOTS, 1).indices
        # activation clips from the calibration images (the search calibrates on training images too)
        cal = {}
        handles = [m.register_forward_pre_hook(lambda mod, a, i=i: cal.__setitem__(i, a[0].detach())) for i, m in enumerate(mods)]
        with torch.no_grad():
            work.model(calib)
        for h in handles:
            h.remove()
        signed = [bool(cal[i].min() < 0) for i in range(len(mods))]
        clips = np.array([[act_clip(cal[i], int(a), signed[i]) for a in A_BITS] for i in range(len(mods))])
        # quantization errors: dy[i][b] = layer output change of every kernel at b bits; dx[i][a] = input error
        from autoq.quant.quantizer import fake_quant_act

        dy, dx = [], []
        for i, m in enumerate(mods):
            wq = weight_errors(m)
            xin = ins[i].detach()
            with torch.no_grad():
                ys = []
                for bi in range(len(W_BITS)):
                    dw = (wq[bi] - m.weight).to(xin.dtype)
                    if isinstance(m, torch.nn.Conv2d):
                        ys.append(F.conv2d(xin, dw, None, m.stride, m.padding, m.dilation, m.groups))
                    else:
                        ys.append(F.linear(xin, dw))
                dy.append(ys)
                dx.append([fake_quant_act(xin, int(a), float(clips[i, ai]), signed[i]) - xin for ai, a in enumerate(A_BITS)])
        w_est = [np.zeros((m.weight.shape[0], len(W_BITS))) for m in mods]
        a_est = np.zeros((len(mods), len(A_BITS)))
        n = x.shape[0]
        for s in range(SLOTS):
            c = top[:, s]
            pc = p.gather(1, c[:, None])
            v = pc.sqrt() * (F.one_hot(c, p.shape[1]).float() - p)  # sqrt(p_c) * (e_c - p): F = sum_c v v'
            for t in ins + outs:
                t.grad = None
            z.backward(v, retain_graph=s < SLOTS - 1)
            with torch.no_grad():
                for i in range(len(mods)):
                    g = outs[i].grad
                    dims = tuple(range(2, g.dim()))
                    for bi in range(len(W_BITS)):
                        proj = (g * dy[i][bi]).sum(dims) if dims else g * dy[i][bi]  # [n, c_out]
                        w_est[i][:, bi] += 0.5 * proj.double().pow(2).sum(0).cpu().numpy() / n
                    gx = ins[i].grad
                    for ai in range(len(A_BITS)):
                        proj = (gx * dx[i][ai]).reshape(n, -1).sum(1)
                        a_est[i, ai] += 0.5 * float(proj.double().pow(2).sum()) / n
    return {"w_est": w_est, "a_est": a_est, "clips": clips, "signed": np.array(signed)}


class Quantizer:
    """Float model with chosen kernels / layer inputs quantized through hooks (the search's quantizer)."""

    def __init__(self, work, clips: np.ndarray, signed: np.ndarray) -> None:
        self.work, self.mods = work, modules_of(work)
        self.wq = [weight_errors(m) for m in self.mods]  # [8, ...] quantized weights per bit width
        self.w0 = [m.weight.detach().clone() for m in self.mods]
        self.clips, self.signed = clips, signed

    def kl(self, x, ref_logp, w_bits: dict | None = None, a_bits: dict | None = None) -> float:
        """Mean KL(float || quantized) per image.

        ``w_bits``: {layer: bits array [c_out] (0 = float)}, ``a_bits``: {layer: bits}.
        """
        import torch
        import torch.nn.functional as F

        from autoq.quant.quantizer import fake_quant_act

        w_bits, a_bits = w_bits or {}, a_bits or {}
        hooks = []
        try:
            with torch.no_grad():
                for i, bits in w_bits.items():
                    w = self.w0[i].clone()
                    for b in np.unique(bits[bits > 0]):
                        sel = torch.as_tensor(np.flatnonzero(bits == b), device=w.device)
                        w[sel] = self.wq[i][int(b) - 1][sel]
                    self.mods[i].weight.copy_(w)
                for i, a in a_bits.items():
                    c, s = float(self.clips[i, a - 2]), bool(self.signed[i])
                    hooks.append(
                        self.mods[i].register_forward_pre_hook(
                            lambda mod, args, a=a, c=c, s=s: (fake_quant_act(args[0], a, c, s),) + args[1:]
                        )
                    )
                logp = F.log_softmax(self.work.model(x).double(), 1)
                return float(F.kl_div(logp, ref_logp, log_target=True, reduction="sum")) / x.shape[0]
        finally:
            for h in hooks:
                h.remove()
            with torch.no_grad():
                for i in w_bits:
                    self.mods[i].weight.copy_(self.w0[i])


def direct_samples(q: Quantizer, x, ref_logp, est: dict, sample: int, rng) -> dict:
    """Direct measurements at the low bit widths: ``sample`` kernels per layer at 1..3 bits, every layer's input at 2..3."""
    rows = []
    for i, m in enumerate(q.mods):
        c_out = m.weight.shape[0]
        for k in rng.choice(c_out, size=min(sample, c_out), replace=False):
            for b in (1, 2, 3):
                bits = np.zeros(c_out, np.int64)
                bits[k] = b
                rows.append(("w", i, int(k), b, q.kl(x, ref_logp, w_bits={i: bits}), float(est["w_est"][i][k, b - 1])))
        for a in (2, 3):
            rows.append(("a", i, -1, a, q.kl(x, ref_logp, a_bits={i: a}), float(est["a_est"][i, a - 2])))
    return rows


def correction(rows: list, kind: str, bits: tuple) -> dict:
    """Geometric-mean measured/estimated ratio per bit width, and the ratios' spread (log10 std)."""
    out = {}
    for b in bits:
        r = np.array([m / e for k, _, _, bb, m, e in rows if k == kind and bb == b and e > 0 and m > 0])
        out[b] = (float(np.exp(np.log(r).mean())) if len(r) else 1.0, float(np.log10(r).std()) if len(r) else 0.0, len(r))
    return out


def latency_tables(work) -> tuple[np.ndarray, np.ndarray, float, object]:
    """Affine fit per layer and activation width of the temporal accelerator's layer latency at uniform
    kernel bits: ``lat = A[L, a] + B[L, a] * (sum of the layer's kernel bits)``; its worst relative error; the cost model."""
    from autoq.hardware import CostModel, load_accelerator

    cm = CostModel(work.layers, load_accelerator("temporal"), sort_kernels=True)
    L = len(work.layers)
    A, B = np.zeros((L, len(A_BITS))), np.zeros((L, len(A_BITS)))
    worst = 0.0
    for i, layer in enumerate(work.layers):
        for ai, a in enumerate(A_BITS):
            lat = np.array([cm.layer_costs(i, np.full(layer.c_out, b), int(a)).latency_s for b in W_BITS])
            slope, icpt = np.polyfit(W_BITS * layer.c_out, lat, 1)
            A[i, ai], B[i, ai] = icpt, slope
            worst = max(worst, float(np.max(np.abs(icpt + slope * W_BITS * layer.c_out - lat) / lat)))
    return A, B, worst, cm


def random_policies(q: Quantizer, work, x, ref_logp, table_w, table_a, n: int, rng, cm) -> list:
    """Whole random policies: (table's summed damage, measured KL, real latency, affine-model latency)."""
    out = []
    for _ in range(n):
        centre = rng.uniform(2.0, 7.0)
        w = {
            i: np.clip(np.round(rng.normal(rng.uniform(centre - 1, centre + 1), 1.0, layer.c_out)), 1, 8).astype(np.int64)
            for i, layer in enumerate(work.layers)
        }
        a = {i: int(np.clip(round(rng.uniform(centre, 8.4)), 2, 8)) for i in range(len(work.layers))}
        pred = sum(float(table_w[i][np.arange(len(b)), b - 1].sum()) for i, b in w.items()) + sum(
            float(table_a[i, v - 2]) for i, v in a.items()
        )
        meas = q.kl(x, ref_logp, w_bits=w, a_bits=a)
        lat = float(cm.totals([w[i] for i in range(len(w))], [a[i] for i in range(len(a))])[0])
        out.append((pred, meas, lat, float(np.mean(np.concatenate(list(w.values()))))))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--images", type=int, default=128, help="holdout images the KL is measured on")
    ap.add_argument("--sample", type=int, default=1, help="kernels per layer measured directly (at 1..3 bits)")
    ap.add_argument("--policies", type=int, default=12, help="whole random policies measured directly")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="table file (default benchmarks/damage_<model>.npz)")
    ap.add_argument("--no-results", action="store_true", help="do not write RESULTS.md")
    args = ap.parse_args(argv)

    import torch
    import torch.nn.functional as F
    from scipy.stats import spearmanr

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    t0 = time.perf_counter()
    work, x, calib = load(args.model, args.weights, args.images, args.device)
    with torch.no_grad():
        ref_logp = F.log_softmax(work.model(x).double(), 1)
    print(f"[{time.perf_counter() - t0:.0f} s] model and data loaded; second-order estimates ...", flush=True)
    est = fisher_tables(work, x, calib, args.device)
    t_fisher = time.perf_counter() - t0
    print(f"[{t_fisher:.0f} s] estimates done; direct measurements ...", flush=True)
    q = Quantizer(work, est["clips"], est["signed"])
    rng = np.random.default_rng(0)
    rows = direct_samples(q, x, ref_logp, est, args.sample, rng)
    wc, ac = correction(rows, "w", (1, 2, 3)), correction(rows, "a", (2, 3))
    w_fac = np.array([wc[min(b, 3)][0] for b in W_BITS])  # above 3 bits: the 3-bit ratio (the quadratic regime)
    a_fac = np.array([ac[min(a, 3)][0] for a in A_BITS])
    table_w = [e * w_fac[None, :] for e in est["w_est"]]
    table_a = est["a_est"] * a_fac[None, :]
    # monotone in the bits (more bits never hurt more): the running minimum from the low end
    table_w = [np.minimum.accumulate(t, axis=1) for t in table_w]
    table_a = np.minimum.accumulate(table_a, axis=1)
    print(f"[{time.perf_counter() - t0:.0f} s] {len(rows)} direct measurements done; latency and random policies ...", flush=True)
    A, B, lat_fit_err, cm = latency_tables(work)
    pols = random_policies(q, work, x, ref_logp, table_w, table_a, args.policies, rng, cm)
    pred, meas = np.array([p[0] for p in pols]), np.array([p[1] for p in pols])
    rho = float(spearmanr(pred, meas).statistic) if len(pols) > 2 else float("nan")
    seconds = time.perf_counter() - t0

    layers = work.layers
    stats = []
    for m in modules_of(work):
        w2 = m.weight.detach().reshape(m.weight.shape[0], -1).double().cpu()
        stats.append(np.stack([w2.std(1).numpy(), w2.abs().mean(1).numpy(), w2.abs().amax(1).numpy()], 1))
    out = Path(args.out) if args.out else HERE / f"damage_{args.model}.npz"
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(
        tmp,
        model=args.model,
        layers=json.dumps([layer.__dict__ for layer in layers], default=list),
        c_out=np.array([layer.c_out for layer in layers]),
        damage_w=np.concatenate(table_w),  # [kernels, 8]: KL increase per image (nats), kernel alone at 1..8 bits
        damage_a=table_a,  # [L, 7]: layer input alone at 2..8 bits
        kernel_stats=np.concatenate(stats),
        lat_A=A,
        lat_B=B,
        lat_ref=float(cm.totals([np.full(layer.c_out, 8) for layer in layers], [8] * len(layers))[0]),
        policies=np.array(pols),
        spearman=rho,
        direct=np.array([(k == "w", i, kk, b, mm, e) for k, i, kk, b, mm, e in rows]),
    )
    os.replace(tmp, out)
    summary = {
        "model": args.model,
        "images": args.images,
        "kernels": int(sum(layer.c_out for layer in layers)),
        "layers": len(layers),
        "direct_samples": len(rows),
        "weight_ratio_measured_over_estimate": {b: [round(v[0], 3), round(v[1], 3), v[2]] for b, v in wc.items()},
        "act_ratio_measured_over_estimate": {a: [round(v[0], 3), round(v[1], 3), v[2]] for a, v in ac.items()},
        "spearman_summed_vs_measured": round(rho, 3),
        "policies": args.policies,
        "policy_kl_range": [round(float(meas.min()), 4), round(float(meas.max()), 4)],
        "summed_over_measured": [
            round(float(np.min(pred / meas)), 3),
            round(float(np.median(pred / meas)), 3),
            round(float(np.max(pred / meas)), 3),
        ],
        "latency_fit_worst_rel_error": round(lat_fit_err, 4),
        "seconds": round(seconds, 1),
        "fisher_seconds": round(t_fisher, 1),
        "table": str(out.relative_to(HERE.parent)) if out.is_relative_to(HERE.parent) else str(out),
    }
    print(json.dumps(summary, indent=1))
    if not args.no_results:
        from _results import record

        body = f"{torch.get_num_threads()} thread(s), {seconds:.0f} s in all.\n\n```json\n{json.dumps(summary, indent=1)}\n```\n"
        record(
            f"measured_task_{args.model}",
            f"Measured synthetic task: per-kernel damage of {args.model} (benchmarks/measure_damage.py)",
            body,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
