"""Speed and figures of the hardware cost models.

Measures full-model cost evaluations per second (``CostModel.totals``: latency, energy and
utilisation of one kernel-wise policy) on one core for ResNet-18 and ResNet-50 (ImageNet shapes),
with random kernel-wise policies, on both accelerators, with and without kernel sorting. Then prints
the latency and energy of ResNet-20 (CIFAR) and ResNet-18 at uniform 8/8, 4/4 and 2/2 bits and of
one random kernel-wise policy with and without sorting. Targets: 10,000/s (ResNet-18) and
2,000/s (ResNet-50). Last, where lower bits stop paying: ResNet-20 and a CIFAR MobileNetV2 at uniform
8/8 down to 2/2 on both accelerators, with how many layers are bound by compute, weight traffic or
activation traffic (the figures of "Where lower bits buy nothing" in docs/hardware-models.md).

    python benchmarks/cost_model.py [--seconds 1.0]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import record  # noqa: E402

from autoq.hardware import CostModel  # noqa: E402
from autoq.hardware.report import LIMITS  # noqa: E402
from autoq.quant.discovery import discover_layers  # noqa: E402
from autoq.quant.policy import Policy  # noqa: E402

TARGETS = {"resnet18": 10_000, "resnet50": 2_000}


def model_layers(name: str):
    """Layers of a registered model (random weights: only the shapes matter)."""
    from autoq.models import create_model, model_spec

    if name == "mobilenet_v2-cifar":
        return cifar_mobilenet_v2_layers()
    spec = model_spec(name)
    model = create_model(name)
    return discover_layers(model, torch.zeros(1, *spec.input_shape)).layers


def cifar_mobilenet_v2_layers():
    """torchvision's MobileNetV2 for 10 classes with the usual CIFAR stem: stride 1 in the stem
    convolution and in the first 24-channel block's depthwise convolution, 32x32 inputs."""
    import torchvision

    model = torchvision.models.mobilenet_v2(num_classes=10)
    model.features[0][0].stride = (1, 1)
    model.features[2].conv[1][0].stride = (1, 1)
    return discover_layers(model, torch.zeros(1, 3, 32, 32)).layers


def payoff_lines() -> list[str]:
    """Latency at uniform 8/8 .. 2/2 and what bounds the layers: where lower bits stop paying."""
    lines = [
        "### Where lower bits buy nothing (batch 1, uniform policies)",
        "",
        "Layers bound by compute / weight traffic / activation traffic (input reads and 32-bit output "
        "writes); on the spatial array the units fuse to 2, 4 or 8 bits, so 3/3 costs what 4/4 does.",
        "",
        "| model | accelerator | bits w/a | latency ms | of 8/8 | of the step above "
        "| compute / weight / activation-bound layers |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("resnet20", "mobilenet_v2-cifar"):
        layers = model_layers(name)
        for kind in ("temporal", "spatial"):
            model = CostModel(layers, kind)
            ref = prev = None
            for b in (8, 6, 4, 3, 2):
                rep = model.evaluate(Policy.uniform(layers, b, b))
                ref = ref or rep.latency_s
                counts = [sum(l.limited_by == k for l in rep.layers) for k in LIMITS]
                step = f"{rep.latency_s / prev:.2f}" if prev else ""
                row = (
                    f"| {name} | {kind} | {b}/{b} | {rep.latency_s * 1e3:.3f} | {rep.latency_s / ref:.2f} | {step} "
                    f"| {' / '.join(map(str, counts))} of {len(layers)} |"
                )
                print(row, flush=True)
                lines.append(row)
                prev = rep.latency_s
    return lines


def random_policies(layers, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return [([rng.integers(1, 9, l.c_out) for l in layers], [int(a) for a in rng.integers(2, 9, len(layers))]) for _ in range(n)]


def rate(model: CostModel, policies, seconds: float) -> tuple[float, float]:
    """Evaluations of ``model.totals`` per second of this process's CPU time, and per wall-clock second.

    CPU time is what one core delivers even when other processes share the machine; both are the best
    of three runs.
    """
    for w, a in policies[:20]:
        model.totals(w, a)  # warm up
    cpu = wall = 0.0
    for _ in range(3):
        n, c0, w0 = 0, time.process_time(), time.perf_counter()
        while time.perf_counter() - w0 < seconds / 3:
            for w, a in policies:
                model.totals(w, a)
            n += len(policies)
        cpu = max(cpu, n / (time.process_time() - c0))
        wall = max(wall, n / (time.perf_counter() - w0))
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measuring time per configuration")
    args = parser.parse_args()
    torch.set_num_threads(1)

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "### Evaluations per second (one core, `CostModel.totals`, random kernel-wise policies)",
        "",
        f"Weight bits uniform in 1..8 per kernel, activation bits in 2..8 per layer; 1-minute load average "
        f"{load:.1f} on {os.cpu_count()} cores while measuring.",
        "",
    ]
    lines += [
        "| model | layers | kernels | accelerator | kernels sorted | evaluations/s (CPU) | evaluations/s (wall) | target |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("resnet18", "resnet50"):
        layers = model_layers(name)
        policies = random_policies(layers, 50)
        for kind in ("temporal", "spatial"):
            for sort in (True, False):
                cpu, wall = rate(CostModel(layers, kind, sort_kernels=sort), policies, args.seconds)
                row = (
                    f"| {name} | {len(layers)} | {sum(l.c_out for l in layers):,} | {kind} | {'yes' if sort else 'no'} "
                    f"| {cpu:,.0f} | {wall:,.0f} | {TARGETS[name]:,} |"
                )
                print(row, flush=True)
                lines.append(row)

    lines += ["", "### Latency and energy (batch 1)", ""]
    lines += [
        "Kernel-wise: every kernel's weight bits drawn uniformly from 1..8 (seed 0), activations at 4 bits.",
        "",
        "| model | accelerator | policy | latency ms | energy mJ | compute / buffers / DRAM / static mJ | utilisation |",
        "|---|---|---|---|---|---|---|",
    ]
    for name in ("resnet20", "resnet18"):
        layers = model_layers(name)
        rng = np.random.default_rng(0)
        kernelwise = Policy({l.name: rng.integers(1, 9, l.c_out) for l in layers}, {l.name: 4 for l in layers})
        for kind in ("temporal", "spatial"):
            cases = [(f"uniform {b}/{b}", Policy.uniform(layers, b, b), True) for b in (8, 4, 2)]
            cases += [("kernel-wise, sorted", kernelwise, True), ("kernel-wise, unsorted", kernelwise, False)]
            for label, policy, sort in cases:
                rep = CostModel(layers, kind, sort_kernels=sort).evaluate(policy)
                parts = " / ".join(f"{v * 1e3:.3f}" for v in rep.energy_parts_j.values())
                row = (
                    f"| {name} | {kind} | {label} | {rep.latency_s * 1e3:.3f} | {rep.energy_j * 1e3:.3f} "
                    f"| {parts} | {rep.area.utilisation:.2f} |"
                )
                print(row, flush=True)
                lines.append(row)
    lines += [""] + payoff_lines()
    record("cost_model", "Hardware cost models (benchmarks/cost_model.py)", "\n".join(lines))


if __name__ == "__main__":
    main()
