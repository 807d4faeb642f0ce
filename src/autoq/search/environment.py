"""The search environment: a policy in, its accuracy, cost and reward out (docs/search.md, "Modes and the reward").

One quantized copy of the model lives for the whole search; each episode only changes its bits,
so the weights are quantized once per episode; the activation clips are the 8-bit network's
(``calibrate: once``) or recalibrated for each policy (``episode``). On a CPU that
copy and the cached images are kept channels-last, the layout oneDNN convolves fastest, and
calibration and evaluation run its inference graph (:func:`~autoq.quant.fusion.fuse_for_inference`):
conv, batch norm, residual add and ReLU in one convolution.
"""

from __future__ import annotations

import copy
import hashlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from autoq.config import SearchConfig
from autoq.data import iterate_batches
from autoq.data.loader import fits_in_memory
from autoq.engine.device import fast_memory_format
from autoq.engine.distributed import DistContext, all_reduce_accuracy
from autoq.engine.loops import Accuracy, evaluate, logits_of
from autoq.hardware import CostModel
from autoq.quant import Policy, calibrate, quantized, set_policy
from autoq.quant.fusion import fuse_for_inference
from autoq.train.sgd import train_steps


# keep the reward split on the device when it is smaller than this; stream it otherwise
@dataclass
class Outcome:
    """What one policy scored; ``score`` is the reward's accuracy term (``--reward-metric``)."""

    accuracy: float
    correct: int
    n: int
    latency_s: float
    energy_j: float
    area: float  # utilisation of the device, the reward's area term
    bram36: float
    size_bits: int
    avg_w_bits: float
    avg_a_bits: float
    reward: float = float("nan")
    score: float = float("nan")
    eval_s: float = 0.0
    cost_s: float = 0.0
    extra: dict = field(default_factory=dict)

    def metrics(self) -> dict:
        return {
            "reward": self.reward,
            "score": self.score,
            "accuracy": self.accuracy,
            "latency_s": self.latency_s,
            "energy_j": self.energy_j,
            "area": self.area,
            "bram36": self.bram36,
            "size_bits": self.size_bits,
            "avg_w_bits": self.avg_w_bits,
            "avg_a_bits": self.avg_a_bits,
        }


class QuantEnv:
    """Scores policies of one model on one data set and one accelerator."""

    def __init__(self, work, cfg: SearchConfig, cost_model: CostModel, ctx: DistContext) -> None:
        self.cfg, self.ctx, self.cost_model = cfg, ctx, cost_model
        self.layers = work.layers
        self.float_model = work.model
        self.splits = work.splits
        bs = cfg.batch_size
        self.calib = [x for x, _ in iterate_batches(self.splits.calib, bs)]
        fmt = fast_memory_format(work.model, self.calib[0], ctx.device)
        if fits_in_memory(self.splits.reward):
            shard = iterate_batches(self.splits.reward, bs, rank=ctx.rank, world_size=ctx.world_size, num_workers=cfg.workers)
            self.reward = [(x.to(ctx.device, memory_format=fmt), y.to(ctx.device)) for x, y in shard]
        else:
            self.reward = None
        self.calib = [x.to(ctx.device, memory_format=fmt) for x in self.calib]
        start = Policy.uniform(self.layers, 8, 8)
        self.qmodel = quantized(
            work.model,
            start,
            self.calib,
            weight_clip=cfg.weight_clip,
            act_clip=cfg.act_clip,
            device=ctx.device,
            memory_format=fmt,
        )
        self.infer = fuse_for_inference(self.qmodel)
        self.reference = self._float_logits() if cfg.reward_metric == "kl" else None
        self._seen: dict[bytes, Accuracy] = {}
        self._start_state = copy.deepcopy(self.qmodel.state_dict()) if cfg.reward_finetune_batches > 0 else None

    # ----------------------------------------------------------------------------------------
    def kernel_stats(self) -> list[np.ndarray]:
        """Per layer ``[c_out, 3]``: std, mean |w| and max |w| of each kernel (float weights)."""
        modules = dict(self.float_model.named_modules())
        out = []
        for layer in self.layers:
            w = modules[layer.name].weight.detach().float().reshape(layer.c_out, -1)
            out.append(torch.stack([w.std(dim=1, unbiased=False), w.abs().mean(dim=1), w.abs().amax(dim=1)], 1).cpu().numpy())
        return out

    def _float_logits(self) -> list[torch.Tensor]:
        """The float model's logits of this process's reward batches: the KL reward's reference."""
        model = copy.deepcopy(self.float_model).to(self.ctx.device)
        return logits_of(model, self.reward_batches(), self.ctx.device)

    def reward_batches(self):
        if self.reward is not None:
            return self.reward
        return iterate_batches(
            self.splits.reward,
            self.cfg.batch_size,
            rank=self.ctx.rank,
            world_size=self.ctx.world_size,
            num_workers=self.cfg.workers,
        )

    def accuracy(self, policy: Policy, episode: int = 0) -> Accuracy:
        """Top-1 of ``policy`` on the reward split (all processes together).

        Without per-episode finetuning an evaluation depends on the bits alone, so a policy seen
        before (a sweep revisiting a point, an agent repeating itself) is answered from memory. With
        ``calibrate: once`` (the default) the activation clips are those of the 8-bit network, set
        when the environment was built; with ``episode`` each policy is calibrated anew.
        """
        key = _policy_key(policy) if self._start_state is None else None
        if key is not None and key in self._seen:
            return self._seen[key]
        set_policy(self.qmodel, policy)
        if self._start_state is not None:
            self._short_finetune(episode)
        if self.cfg.calibrate == "episode":
            calibrate(self.infer, self.calib)
        local = evaluate(self.infer, self.reward_batches(), self.ctx.device, reference=self.reference)
        acc = all_reduce_accuracy(local, self.ctx)
        if key is not None:
            self._seen[key] = acc
        return acc

    def _short_finetune(self, episode: int) -> None:
        """A few SGD steps from the float weights, in the same order on every process."""
        keep = {k: v for k, v in self.qmodel.state_dict().items() if k.endswith(("w_bits", "a_bits"))}
        self.qmodel.load_state_dict({**self._start_state, **keep})
        calibrate(self.qmodel, self.calib)
        ft = self.cfg.finetune_options
        opt = torch.optim.SGD(self.qmodel.parameters(), lr=ft.lr, momentum=ft.momentum)
        batches = iterate_batches(
            self.splits.train, ft.train_batch_size, shuffle=True, seed=self.cfg.seed, epoch=episode, drop_last=True
        )
        train_steps(
            self.qmodel, opt, batches, self.ctx.device, max_steps=self.cfg.reward_finetune_batches, freeze_bn=ft.freeze_bn
        )

    def outcome(self, policy: Policy, acc: Accuracy) -> Outcome:
        """Cost of ``policy`` and the scores that do not need the network."""
        t = time.perf_counter()
        rep = self.cost_model.evaluate(policy)
        return Outcome(
            accuracy=acc.top1,
            score=acc.score(self.cfg.reward_metric),
            correct=acc.correct1,
            n=acc.n,
            latency_s=rep.latency_s,
            energy_j=rep.energy_j,
            area=rep.area.utilisation,
            bram36=rep.area.bram36,
            size_bits=policy.size_bits(self.layers),
            avg_w_bits=policy.avg_weight_bits(self.layers),
            avg_a_bits=policy.avg_act_bits(self.layers),
            cost_s=time.perf_counter() - t,
        )

    def score(self, policy: Policy, episode: int = 0) -> Outcome:
        """Accuracy and cost of ``policy`` (every process takes part in the accuracy)."""
        t = time.perf_counter()
        acc = self.accuracy(policy, episode)
        eval_s = time.perf_counter() - t
        out = self.outcome(policy, acc)
        out.eval_s = eval_s
        return out


def extrinsic_reward(out: Outcome, ref: Outcome, psi: dict[str, float]) -> float:
    """``ψ_acc·log(s/s_ref) − Σ ψ_x·log(x/x_ref)`` (docs/search.md), ``s`` the score of ``--reward-metric``
    (top-1 accuracy by default) floored at half an image, ``ref`` the uniform 8-bit policy."""
    floor = 0.5 / max(out.n, 1)
    r = psi["acc"] * math.log(max(out.score, floor) / max(ref.score, floor))
    for key, attr in (("latency", "latency_s"), ("energy", "energy_j"), ("area", "area")):
        if psi[key]:
            r -= psi[key] * math.log(getattr(out, attr) / getattr(ref, attr))
    return r


def _policy_key(policy: Policy) -> bytes:
    """A compact identity of a policy's bits."""
    parts = [
        np.asarray(w, dtype=np.int8).tobytes() + bytes([a]) for w, a in zip(policy.weight_bits.values(), policy.act_bits.values())
    ]
    return hashlib.sha1(b"|".join(parts)).digest()
