"""Episode wall time of a search against one float32 forward pass over the same reward split.

    python benchmarks/search.py                       # ResNet-20 on cifar10-subset and ResNet-50 on synthetic data
    python benchmarks/search.py --cases resnet20 --episodes 10
    python benchmarks/search.py --cases mobilenet_v2-cifar resnet18-cifar --device cuda --section search_speed_cuda

For each case: a short search with the AutoQ agent and, after each of its last half of episodes,
one float pass of the model over the same reward split (in memory, the batch size the search uses)
as given and channels-last, so that episodes and float passes alternate on the same machine state.
The ratio is the median episode wall time (from one episode's end to the next's: everything the
search does, its run-folder files included) over the median float pass, with the share of
evaluation (weight quantization, calibration, reward-split pass), agent and cost model. The last
half, because the agent's cost grows until both controllers learn: the high-level one starts once
its buffer holds a batch of 64 layer steps (the fifth episode of ResNet-20's 20 layers). The first
episode, which also fixes the weight clips, is reported apart.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _results import RESULTS, record  # noqa: E402

from autoq.data import iterate_batches  # noqa: E402
from autoq.data.paths import shared_dir  # noqa: E402
from autoq.engine.loops import evaluate  # noqa: E402
from autoq.engine.setup import build_workload  # noqa: E402
from autoq.search import SearchConfig, search  # noqa: E402
from autoq.utils.allocator import retain_freed_memory  # noqa: E402

# ResNet-20 at the search's default split sizes and batch; ResNet-50's 224x224 maps in smaller ones
CASES = {
    "resnet20": dict(
        model="resnet20",
        weights="models/cifar10/resnet20-12fca82f.th",
        dataset="cifar10-subset",
        target=1.5,
    ),
    # the JPEG CIFAR-10 bench: the reward on 1000 holdout images (the search's default size)
    "mobilenet_v2-cifar": dict(model="mobilenet_v2-cifar", weights=None, pretrained=True, dataset="cifar10-jpeg", target=1.5),
    "resnet18-cifar": dict(model="resnet18-cifar", weights=None, pretrained=True, dataset="cifar10-jpeg", target=1.5),
    "resnet50": dict(
        model="resnet50",
        weights=None,
        dataset="synthetic",
        reward_size=512,
        calib_size=32,
        batch_size=32,
        target=1.3,
    ),
}


class FloatPass:
    """One float32 pass over the reward split with a copy of the model, images and model in layout ``fmt``."""

    def __init__(self, work, batch_size: int, fmt: torch.memory_format, device: str = "cpu") -> None:
        self.device = device
        self.model = copy.deepcopy(work.model).to(device, memory_format=fmt)
        self.batches = [
            (x.to(device).contiguous(memory_format=fmt), y.to(device)) for x, y in iterate_batches(work.splits.reward, batch_size)
        ]
        self.times: list[float] = []
        evaluate(self.model, self.batches[:1], device)  # warm-up

    def __call__(self) -> None:
        t = time.perf_counter()
        evaluate(self.model, self.batches, self.device)  # reads every batch's counts back: synchronised
        self.times.append(time.perf_counter() - t)


def run_case(name: str, episodes: int, device: str = "cpu", random_weights: bool = False) -> dict:
    """A search of ``episodes`` episodes; after each of the last half, one float pass in each layout.

    An episode's wall time runs from the end of the previous episode's float passes to the moment
    its own checkpoint is written: everything the search does for it, bookkeeping included. The
    float passes alternate with the episodes, so both see the machine in the same state; the
    ratio is median over median.
    """
    spec = dict(CASES[name])
    target = spec.pop("target")
    if random_weights:  # timing only: no operation's cost depends on the weights' values
        spec.update(weights=None, pretrained=False)
    if spec.get("weights"):
        root = shared_dir()
        if root is None or not (root / spec["weights"]).exists():
            raise SystemExit(f"{name}: shared weights not found (set AUTOQ_SHARED)")
        spec["weights"] = str(root / spec["weights"])
    with tempfile.TemporaryDirectory() as tmp:
        cfg = SearchConfig(
            **spec, episodes=episodes, agent="autoq", out=tmp, device=device, agent_options={"warmup_episodes": episodes}
        )
        work = build_workload(cfg)
        given = FloatPass(work, cfg.batch_size, torch.contiguous_format, device)
        cl = FloatPass(work, cfg.batch_size, torch.channels_last, device)
        del work
        marks: list[tuple[float, float]] = []  # (episode done, float passes done)

        def after_episode(row: dict) -> None:
            done = time.perf_counter()
            if row["episode"] >= episodes // 2:
                given()
                cl()
            marks.append((done, time.perf_counter()))

        result = search(cfg, progress=False, on_episode=after_episode)
    rows = result.episodes
    timed = range(max(1, episodes // 2), episodes)
    wall = [marks[k][0] - marks[k - 1][1] for k in timed]
    later = [rows[k] for k in timed]
    episode_s = statistics.median(wall)
    float_s, float_cl_s = statistics.median(given.times), statistics.median(cl.times)
    mean = lambda key: statistics.fmean(r[key] for r in later)  # noqa: E731
    wall_mean = statistics.fmean(wall)
    parts = {key: mean(key) for key in ("eval_s", "agent_s", "cost_s")}
    return {
        "case": name,
        "device": device,
        "images": f"{cfg.reward_size} / {cfg.calib_size} / {cfg.batch_size}",
        "float_s": float_s,
        "float_range": (min(given.times), max(given.times)),
        "first_episode_s": rows[0]["episode_s"],
        "episode_s": episode_s,
        "ratio": episode_s / float_s,
        "target": target,
        "float_cl_s": float_cl_s,
        "ratio_cl": episode_s / float_cl_s,
        **parts,
        **{k.replace("_s", "_share"): v / wall_mean for k, v in parts.items()},
        "other_share": 1.0 - sum(parts.values()) / wall_mean,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--episodes", type=int, default=10, help="episodes per case (the last half are timed)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda: where the search and the float passes run")
    parser.add_argument(
        "--random-weights", action="store_true", help="random weights (timing only; where the shared weights are absent)"
    )
    parser.add_argument("--section", default="search_speed", help="RESULTS.md section to write (one per device)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--system-malloc",
        action="store_true",
        help="leave glibc's allocator as it is (the command line makes it keep freed memory)",
    )
    args = parser.parse_args()
    allocator = (
        "as glibc sets it"
        if args.system_malloc or not retain_freed_memory()
        else "keeping freed memory, as the command line does"
    )
    results = [run_case(c, args.episodes, args.device, args.random_weights) for c in args.cases]
    lines = [
        f"device: {args.device}{'; random weights' if args.random_weights else ''}; "
        f"torch threads: {torch.get_num_threads()}; allocator: {allocator}. "
        "Episode = rollout (agent + budget limits) + weight quantization + "
        "calibration + reward-split pass + cost model + the agent's learning step + the run folder's files, wall time "
        "from one episode's end to the next's; after each timed episode (the last half), one float pass over the reward "
        "split in each layout. Ratio = median episode over median float pass. The search evaluates channels-last on a "
        "CPU; the ratio is against the model's float pass as given, the last column against the same pass channels-last.",
        "",
        "| case | reward / calibration images, batch | float pass s (median, range) | episode s (first) | episode s | ratio "
        "| target | "
        "evaluation | agent | cost | run folder, other | float pass channels-last s | ratio to it |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lo, hi = r["float_range"]
        lines.append(
            f"| {r['case']} | {r['images']} | {r['float_s']:.2f} ({lo:.2f}–{hi:.2f}) | {r['first_episode_s']:.2f} | "
            f"{r['episode_s']:.2f} | **{r['ratio']:.2f}** | {r['target']} | "
            f"{100 * r['eval_share']:.0f} % ({r['eval_s']:.2f} s) | "
            f"{100 * r['agent_share']:.0f} % ({r['agent_s']:.2f} s) | {100 * r['cost_share']:.1f} % ({r['cost_s']:.3f} s) | "
            f"{100 * r['other_share']:.1f} % | {r['float_cl_s']:.2f} | {r['ratio_cl']:.2f} |"
        )
    body = "\n".join(lines)
    print(body)
    title = "Search episode time against one float forward pass (benchmarks/search.py" + (
        f", {args.device})" if args.device != "cpu" else ")"
    )
    record(args.section, title, body, results=args.results)


if __name__ == "__main__":
    main()
