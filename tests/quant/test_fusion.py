"""The inference graph: which chains fuse, and that the fused graph computes the model's function."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torchvision
from torch import nn

from autoq.quant import Policy, apply_policy, calibrate, discover_layers, quant_modules, set_policy
from autoq.quant.fusion import FusedConvBN, conv_chains, fuse_for_inference, trace


class Net(nn.Module):
    """conv-BN-ReLU; conv-BN, ``+=`` a residual, ReLU; conv-BN alone; conv-ReLU-BN and a conv whose
    output is also used unnormalised (neither fuses); pooling and a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1, self.relu = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, groups=2), nn.BatchNorm2d(8)
        self.conv3, self.bn3 = nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8)
        self.conv4, self.bn4 = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)
        self.conv5, self.bn5 = nn.Conv2d(8, 8, 1), nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(x))
        out += x
        x = self.bn3(self.conv3(torch.relu(out)))
        x = self.bn4(torch.relu(self.conv4(x)))
        y = self.conv5(x)
        x = self.bn5(y) + y
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1))


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = Net()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(-1.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return net.eval()


def _policy(net: nn.Module, seed: int, a_bits: int = 8) -> Policy:
    rng = np.random.default_rng(seed)
    layers = discover_layers(net, torch.zeros(1, 3, 16, 16)).layers
    return Policy({l.name: rng.integers(2, 9, l.c_out) for l in layers}, {l.name: a_bits for l in layers})


def _inputs(n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _quantized(net: nn.Module, seed: int = 0) -> nn.Module:
    q = apply_policy(net, _policy(net, seed))
    calibrate(q, [_inputs(32, 2)])
    return q.eval()


def _close(a: torch.Tensor, b: torch.Tensor) -> bool:
    # float rounding may move an activation across a rounding boundary: at 8 bits that is one small step
    return torch.allclose(a, b, rtol=1e-3, atol=1e-3 * float(b.abs().max()))


def test_chains_are_convs_whose_only_consumer_is_a_batch_norm_with_the_add_and_relu_after_it():
    q = _quantized(_net())
    chains = {c.conv.target: c for c in conv_chains(trace(q), q)}
    assert sorted(chains) == ["conv1", "conv2", "conv3"]  # conv4 feeds a ReLU, conv5 also feeds the add
    assert chains["conv1"].relu is not None and chains["conv1"].add is None
    assert chains["conv2"].add is not None and chains["conv2"].other.target == "relu" and chains["conv2"].relu is not None
    assert chains["conv3"].add is None and chains["conv3"].relu is None


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_fused_graph_computes_the_models_function(layout):
    q = _quantized(_net()).to(memory_format=layout)
    fused = fuse_for_inference(q)
    assert sum(isinstance(m, FusedConvBN) for m in fused.modules()) == 3
    # conv1's input is the model's, conv2's is also the residual it adds; conv3's alone is private
    assert [m.inplace_input for m in fused.modules() if isinstance(m, FusedConvBN)] == [False, False, True]
    x = _inputs(16).contiguous(memory_format=layout)
    with torch.no_grad():
        assert _close(fused(x), q(x))
    onednn = [m._onednn for m in fused.modules() if isinstance(m, FusedConvBN)]
    assert all(onednn)  # the fused oneDNN convolution ran, no fallback


def test_with_gradients_the_fused_graph_runs_each_step_exactly_as_the_model():
    q = _quantized(_net())
    fused = fuse_for_inference(q)
    x = _inputs(8)
    assert torch.equal(fused(x), q(x))
    fused(x).sum().backward()
    assert q.conv1.weight.grad is not None and q.bn2.weight.grad is not None


def test_the_fused_graph_shares_state_and_follows_new_bits_and_batch_norm_statistics():
    net = _net()
    q = _quantized(net)
    fused = fuse_for_inference(q)
    x = _inputs(16)
    with torch.no_grad():
        fused(x)
        set_policy(q, _policy(net, 5, a_bits=6))
        assert _close(fused(x), q(x))
        q.bn2.running_mean.add_(0.3)
        q.bn1.weight.mul_(-1)
        assert _close(fused(x), q(x))
    # calibrating through the fused graph calibrates the model's own layers
    calibrate(fused, [_inputs(32, 3)])
    clips_fused = [m.activation_clip() for m in quant_modules(q).values()]
    calibrate(q, [_inputs(32, 3)])
    clips = [m.activation_clip() for m in quant_modules(q).values()]
    assert np.allclose(clips_fused, clips, rtol=1e-2)


def test_torchvision_resnet_fuses_every_conv_and_keeps_its_function():
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=10).eval()
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
    layers = discover_layers(net, torch.zeros(1, 3, 32, 32)).layers
    q = apply_policy(net, Policy.uniform(layers, 6, 8))
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    calibrate(q, [x])
    q.eval()
    fused = fuse_for_inference(q)
    fused_convs = [m for m in fused.modules() if isinstance(m, FusedConvBN)]
    assert len(fused_convs) == 20 and sum(m.add for m in fused_convs) == 8  # every block's last conv takes the residual
    with torch.no_grad():
        # twenty layers of 8-bit activations: a few rounding steps that float rounding moved add up
        assert torch.allclose(fused(x), q(x), rtol=0, atol=0.03 * float(q(x).abs().max()))


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            x = -x
        return self.bn(self.conv(x))


def test_an_untraceable_model_is_evaluated_as_it_is(caplog):
    net = Untraceable().eval()
    layers = discover_layers(net, torch.zeros(1, 3, 16, 16)).layers
    q = apply_policy(net, Policy.uniform(layers, 6, 8))
    with caplog.at_level(logging.WARNING, logger="autoq.quant.fusion"):
        assert fuse_for_inference(q) is q
    assert "inference graph unfused" in caplog.text


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_relu6_chains_fuse_and_clip_at_six(layout):
    """MobileNetV2's conv-BN-ReLU6 runs as one convolution with a [0, 6] clip, module or function alike."""

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv1, self.bn1, self.act = nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(inplace=True)
            self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return nn.functional.relu6(self.bn2(self.conv2(self.act(self.bn1(self.conv1(x))))))

    torch.manual_seed(0)
    net = Block().eval()
    for bn in (net.bn1, net.bn2):
        bn.weight.data.uniform_(4.0, 8.0)  # outputs well beyond 6, so the clip is exercised
    q = apply_policy(net, _policy(net, 0))
    calibrate(q, [_inputs(32, 2)])
    q = q.eval().to(memory_format=layout)
    fused = fuse_for_inference(q)
    chains = [m for m in fused.modules() if isinstance(m, FusedConvBN)]
    assert [m.activation for m in chains] == ["relu6", "relu6"] and all(m._onednn for m in chains)
    # the second quantizes its input in place: the first's output, which nothing else reads; never the model's input
    assert [m.inplace_input for m in chains] == [False, True]
    x = _inputs(8).contiguous(memory_format=layout)
    kept = x.clone()
    with torch.no_grad():
        y, ref = fused(x), q(x)
    assert torch.equal(x, kept)
    assert float(ref.max()) == 6.0 and float(y.max()) == 6.0 and float(y.min()) == 0.0
    assert _close(y, ref)
