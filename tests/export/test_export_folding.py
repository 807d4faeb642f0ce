"""Batch-norm folding into the kernel scales: which pairs fold, and the arithmetic."""

from __future__ import annotations

import logging

import pytest
import torch
from export_models import inputs, quantized, random_policy, tiny_net
from torch import nn

from autoq.export import freeze
from autoq.export.deployed import DeployedConv2d
from autoq.export.folding import bn_affine, conv_bn_pairs
from autoq.quant import Policy, apply_policy, calibrate, discover_layers


def test_pairs_are_convs_whose_only_consumer_is_a_batch_norm():
    net = tiny_net()
    q = quantized(net, random_policy(net))
    # bn3 follows a ReLU, not the conv: it stays a float layer
    assert conv_bn_pairs(q) == {"conv1": "bn1", "conv2": "bn2"}


class TwoUsers(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.conv(x)
        return self.bn(y) + y  # the conv output is also used unnormalised: folding would change it


class Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: torch.fx cannot trace it
            x = -x
        return self.bn(self.conv(x))


def _quantize(net, bits=6):
    layers = discover_layers(net, inputs(1)).layers
    q = apply_policy(net.eval(), Policy.uniform(layers, bits, 8))
    calibrate(q, [inputs(16)])
    return q.eval()


def test_shared_conv_output_is_not_folded():
    assert conv_bn_pairs(_quantize(TwoUsers())) == {}


def test_untraceable_model_keeps_its_batch_norms(caplog):
    q = _quantize(Untraceable())
    with caplog.at_level(logging.WARNING, logger="autoq.quant.fusion"):
        deployed = freeze(q)
    assert "batch norms not folded" in caplog.text
    assert isinstance(deployed.bn, nn.BatchNorm2d) and deployed.conv.folded_bn is None
    x = inputs(8)
    with torch.no_grad():
        assert torch.equal(deployed(x), q(x))


def test_folding_changes_scales_signs_and_bias_but_not_the_codes():
    net = tiny_net()
    q = quantized(net, random_policy(net, seed=1, a_bits=(6, 8)))
    plain, folded = freeze(q, fold_bn=False), freeze(q)
    a, c = bn_affine(net.bn1)
    assert a[0] < 0 and (a[1:] > 0).all()  # tiny_net gives bn1 one negative gamma
    p, f = plain.conv1, folded.conv1
    assert isinstance(f, DeployedConv2d) and f.folded_bn == "bn1" and p.folded_bn is None
    sign = torch.where(a < 0, -1, 1).view(-1, 1, 1, 1).to(torch.int8)
    assert torch.equal(f.codes, p.codes * sign)
    assert torch.equal(f.bits, p.bits)
    torch.testing.assert_close(f.scales.double(), a.abs() * p.scales.double(), rtol=1e-6, atol=0)
    assert (f.scales >= 0).all()
    torch.testing.assert_close(f.bias.double(), c, rtol=1e-6, atol=1e-7)  # conv1 has no bias of its own
    # one conv + BN on the same quantized input: equal up to float rounding
    x = q.conv1.quant_input(inputs(8))
    with torch.no_grad():
        ref = net.bn1(torch.nn.functional.conv2d(x, p.weight(), None, 1, 1))
        got = torch.nn.functional.conv2d(x, f.weight(), f.bias, 1, 1)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fold", [False, True])
def test_deployed_model_against_the_fake_quantized_model(fold):
    net = tiny_net(seed=2)
    q = quantized(net, random_policy(net, seed=2, a_bits=(6, 8)))
    x = inputs(64)
    with torch.no_grad():
        ref, got = q(x), freeze(q, fold_bn=fold)(x)
    if fold:  # equal in exact arithmetic; float rounding may flip an activation code
        assert ((got - ref).abs().amax(1) <= 1e-5 * ref.abs().amax(1)).float().mean() >= 0.9
    else:  # the same float operations in the same order
        assert torch.equal(got, ref)
