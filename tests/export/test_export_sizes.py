"""Model sizes in bytes: packed against float32 and uniform 8-bit, counted by hand on a tiny model."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from autoq.export import model_sizes, save_packed
from autoq.quant import Policy, apply_policy, calibrate


def _tiny():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 1, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(), nn.Linear(48, 2)).eval()
    policy = Policy({"0": np.array([1, 4, 8]), "4": np.array([3, 5])}, {"0": 8, "4": 8})
    q = apply_policy(net, policy)
    calibrate(q, [torch.randn(8, 2, 4, 4)])
    return q


def test_sizes_by_hand(tmp_path):
    q = _tiny()
    sizes = model_sizes(q)
    # conv: 6 weights (K = 2), bias from the folded BN; linear: 96 weights (K = 48) and a bias
    assert sizes.float32 == 4 * 6 + 4 * 3 + 4 * 96 + 4 * 2
    # 1 byte per weight + float32 scale per kernel + bias + float32 activation scale per layer
    assert sizes.uniform8 == (6 + 12 + 12 + 4) + (96 + 8 + 8 + 4)
    # ceil(bits * K / 8) + (1 byte bits + 4 bytes scale) per kernel + bias + activation scale
    assert sizes.packed == (4 + 15 + 12 + 4) + (48 + 10 + 8 + 4)
    unfolded = model_sizes(q, fold_bn=False)  # the BN stays a float layer: its 4 vectors and counter
    assert unfolded.float32 == 4 * 6 + 4 * 96 + 4 * 2 + 4 * 4 * 3 + 8
    path = save_packed(q, tmp_path / "m.safetensors")
    with_file = model_sizes(q, {"packed": path})
    assert with_file.files == {"packed": path.stat().st_size}
    rows = {r["size"]: r for r in with_file.rows()}
    assert rows["packed (kernel-wise)"]["vs_uniform8"] == sizes.packed / sizes.uniform8
    assert rows["packed file"]["bytes"] == path.stat().st_size
    assert with_file.to_dict()["packed_vs_float32"] == sizes.packed / sizes.float32
