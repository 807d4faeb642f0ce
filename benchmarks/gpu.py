"""One search episode and one finetuning epoch of ResNet-18 on synthetic ImageNet-shaped data, GPU against CPU.

    python benchmarks/gpu.py --devices cuda cpu [--results PATH]

Synthetic 3x224x224 images, 1000 classes; the reward split and the training split are held in
memory on the device. The first episode also fixes the weight clips and is reported apart.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _results import RESULTS, record  # noqa: E402

from autoq.search import FinetuneConfig, SearchConfig, search  # noqa: E402


def measure(device: str, args, amp: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(
            model="resnet18",
            dataset="synthetic",
            reward_size=args.reward_size,
            calib_size=64,
            batch_size=128,
            episodes=args.episodes,
            agent="autoq",
            agent_options={"warmup_episodes": args.episodes},
            device=device,
            out=tmp,
            finetune=True,
            finetune_options=FinetuneConfig(epochs=1, train_batch_size=64, amp=amp),
        )
        t = time.perf_counter()
        result = search(cfg, progress=False)
        total = time.perf_counter() - t
    rows = result.episodes
    return {
        "device": device + (" + bf16 finetune" if amp else ""),
        "name": torch.cuda.get_device_name() if device.startswith("cuda") else f"{torch.get_num_threads()} CPU threads",
        "first_s": rows[0]["episode_s"],
        "episode_s": statistics.fmean(r["episode_s"] for r in rows[1:]),
        "eval_s": statistics.fmean(r["eval_s"] for r in rows[1:]),
        "agent_s": statistics.fmean(r["agent_s"] for r in rows[1:]),
        "epoch_s": result.finetune.history[0]["seconds"],
        "train_images": 1536 - args.reward_size - 64,
        "total_s": total,
        "accuracies": [r["accuracy"] for r in rows],
        "finetuned_top1": result.finetune.top1,
    }


def agreement(devices: list[str], model: str = "resnet18", dataset: str = "synthetic", images: int = 256) -> str:
    """The same fake-quantized model (random kernel-wise policy) on each device: do the predictions agree?"""
    import numpy as np

    from autoq.data import iterate_batches
    from autoq.engine.device import resolve_device
    from autoq.engine.setup import attach_data, build_model
    from autoq.quant import Policy, apply_policy, calibrate

    work = attach_data(build_model(model), dataset, calib_size=64, reward_size=images)
    rng = np.random.default_rng(0)
    policy = Policy(
        {l.name: rng.integers(2, 9, l.c_out) for l in work.layers}, {l.name: int(rng.integers(4, 9)) for l in work.layers}
    )
    outputs = {}
    for name in devices:
        device = resolve_device(name)
        q = apply_policy(work.model, policy).to(device)
        calibrate(q, iterate_batches(work.splits.calib, 64), device)
        with torch.no_grad():
            outputs[name] = torch.cat([q(x.to(device)).cpu() for x, _ in iterate_batches(work.splits.reward, 64)])
    a, b = (outputs[d] for d in devices[:2])
    same = float((a.argmax(1) == b.argmax(1)).float().mean())
    rel = float((a - b).abs().max() / a.abs().max())
    return (
        f"{model} on {dataset}, a kernel-wise policy (weights 2..8 bits per kernel, activations 4..8 per layer), "
        f"{images} images: "
        f"top-1 predictions equal on {100 * same:.1f} % of images, largest logit difference {rel:.1e} of the largest logit."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", default=["cuda", "cpu"])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--reward-size", type=int, default=512)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--amp", action="store_true", help="also time the first device with bfloat16 autocast finetuning")
    args = parser.parse_args()
    results = [measure(d, args) for d in args.devices]
    amp = measure(args.devices[0], args, amp=True) if args.amp else None
    lines = [
        f"ResNet-18, synthetic 3x224x224 data, 1000 classes; reward split {args.reward_size} images, calibration 64, "
        f"finetuning epoch over {results[0]['train_images']} images (batch 64). torch {torch.__version__}.",
        "",
        "| device | episode s (first) | episode s | of which evaluation s | agent s | finetune epoch s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results + ([amp] if amp else []):
        lines.append(
            f"| {r['device']} ({r['name']}) | {r['first_s']:.2f} | {r['episode_s']:.2f} | {r['eval_s']:.2f} | "
            f"{r['agent_s']:.2f} | {r['epoch_s']:.2f} |"
        )
    if len(results) == 2:
        a, b = results
        lines += [
            "",
            f"{b['device']} / {a['device']} time: episode {b['episode_s'] / a['episode_s']:.1f}x, "
            f"finetune epoch {b['epoch_s'] / a['epoch_s']:.1f}x. Reward-split accuracies of every episode equal on both: "
            f"{a['accuracies'] == b['accuracies']} ({a['accuracies']} / {b['accuracies']}); finetuned test top-1 "
            f"{100 * a['finetuned_top1']:.2f} % / {100 * b['finetuned_top1']:.2f} % (bfloat16 autocast off).",
        ]
    if amp:
        a = results[0]
        lines += [
            "",
            f"bfloat16 autocast finetuning on {a['device']}: epoch {a['epoch_s'] / amp['epoch_s']:.2f}x faster than float32; "
            f"search episodes unchanged (reward-split accuracies equal: {a['accuracies'] == amp['accuracies']}); finetuned test "
            f"top-1 {100 * amp['finetuned_top1']:.2f} % against {100 * a['finetuned_top1']:.2f} %.",
        ]
    if len(args.devices) >= 2:
        lines += [
            "",
            "- " + agreement(args.devices) + " (random weights: near-equal logits make ties)",
            "- " + agreement(args.devices, "digits-cnn", "digits", 500) + " (the trained embedded default)",
        ]
    body = "\n".join(lines)
    print(body)
    record("gpu", "GPU against CPU: ResNet-18 episode and finetuning epoch (benchmarks/gpu.py)", body, results=args.results)


if __name__ == "__main__":
    main()
