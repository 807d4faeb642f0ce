"""Agent time per episode on ResNet-50's layer shapes (about 26,000 kernels), on one core.

Builds torchvision's ResNet-50 (random weights: only shapes and weight statistics matter), finds
its layers, and times each agent's full episode: every act_layer / act_kernels call plus
end_episode with its gradient updates, at the default AgentConfig (paper hyperparameters). The
reward is a constant: the search's accuracy and cost evaluation is not part of the agent's time.

    python benchmarks/agent.py [--episodes 3] [--agents autoq,haq,...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as the target says; set before numpy loads BLAS
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _results import record  # noqa: E402

from autoq.agents import AgentConfig, KernelLimits, NetworkSpec, create_agent  # noqa: E402
from autoq.quant.discovery import discover_layers  # noqa: E402

TARGET_S = 5.0


def resnet50_spec() -> NetworkSpec:
    """ResNet-50's quantizable layers and per-kernel weight statistics."""
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval()
    layers = discover_layers(model, torch.zeros(1, 3, 224, 224)).layers
    modules = dict(model.named_modules())
    stats = []
    for layer in layers:
        w = modules[layer.name].weight.detach().reshape(layer.c_out, -1)
        stats.append(torch.stack([w.std(1), w.abs().mean(1), w.abs().amax(1)], 1).numpy())
    return NetworkSpec.from_layers(layers, stats)


def time_agent(name: str, spec: NetworkSpec, episodes: int) -> tuple[float, float, float]:
    """(mean seconds per episode, of which acting, of which end_episode), after one untimed episode."""
    agent = create_agent(name, spec, AgentConfig(), seed=0)
    # the learning agents' end_episode only updates once the buffer holds a batch: warm it up first
    totals = []
    for ep in range(episodes + 1):
        t0 = time.perf_counter()
        agent.begin_episode()
        for i, n in enumerate(spec.c_out):
            agent.act_layer(i, budget_left=0.5, act_max=8, goal_max=8.0)
            agent.act_kernels(i, KernelLimits(w_max=8, bits_sum_max=6 * n))
        t1 = time.perf_counter()
        agent.end_episode(0.1 * ep)
        t2 = time.perf_counter()
        if ep > 0:
            totals.append((t2 - t0, t1 - t0, t2 - t1))
    return tuple(float(np.mean(x)) for x in zip(*totals))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=3, help="timed episodes per agent")
    parser.add_argument("--agents", default="autoq,hiro,haq,ddpg-kernel,random,uniform")
    parser.add_argument("--no-record", action="store_true", help="print only; do not write RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    spec = resnet50_spec()
    print(f"ResNet-50: {spec.n_layers} layers, {spec.n_kernels} kernels")
    rows = []
    for name in args.agents.split(","):
        total, act, learn = time_agent(name, spec, args.episodes)
        rows.append((name, total, act, learn))
        print(f"{name:12s} {total:6.2f} s/episode (acting {act:.2f} s, end_episode + updates {learn:.2f} s)", flush=True)
    cfg = AgentConfig()
    body = (
        f"ResNet-50 shapes: {spec.n_layers} layers, {spec.n_kernels} kernels per episode; default AgentConfig "
        f"(hidden {cfg.hidden}, batch {cfg.batch_size}, {cfg.layer_updates_per_episode} layer-level and "
        f"{cfg.kernel_updates_per_episode} kernel-level updates per episode); one thread; mean of "
        f"{args.episodes} episodes after one warm-up. Target: under {TARGET_S:.0f} s per episode.\n\n"
        "| agent | s / episode | acting | end_episode (store + learn) |\n| --- | --- | --- | --- |\n"
        + "\n".join(f"| {n} | {t:.2f} | {a:.2f} | {l:.2f} |" for n, t, a, l in rows)
    )
    if not args.no_record:
        record("agent_speed", "Agent time per episode (ResNet-50 shapes)", body)
    slow = [n for n, t, _, _ in rows if t > TARGET_S]
    if slow:
        print(f"over the {TARGET_S} s target: {', '.join(slow)}")


if __name__ == "__main__":
    main()
