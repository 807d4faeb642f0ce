"""The Fisher sensitivity estimate behind ``--agent ilp``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from autoq.errors import AutoQError
from autoq.quant import Policy, apply_policy, calibrate
from autoq.search.sensitivity import QuantizerTables, estimate_sensitivity


@pytest.fixture
def digits(default_cache):
    from autoq.engine.setup import attach_data, build_model

    work = attach_data(build_model(), "digits", calib_size=64, reward_size=64)
    images = torch.stack([work.splits.calib[i][0] for i in range(len(work.splits.calib))])
    qmodel = apply_policy(work.model, Policy.uniform(work.layers, 8, 8))
    calibrate(qmodel, [images])
    return work, images, QuantizerTables.of(qmodel, work.layers)


def test_quantizer_tables_are_the_models_clips(digits):
    work, images, tables = digits
    qmodel = apply_policy(work.model, Policy.uniform(work.layers, 3, 5))
    calibrate(qmodel, [images])
    layer = work.layers[1]
    module = dict(qmodel.named_modules())[layer.name]
    assert torch.allclose(tables.weight_clips[1][:, 3], module.kernel_clips(), rtol=1e-6)


def test_sensitivity_is_nonnegative_and_falls_with_more_bits(digits):
    work, images, tables = digits
    sens = estimate_sensitivity(work.model, work.layers, images.split(16), tables, seed=0)
    assert all((c >= 0).all() for c in sens.kernel_curv) and (sens.act_trace >= 0).all()
    assert sum(float(c.sum()) for c in sens.kernel_curv) > 0 and sens.act_trace.sum() > 0
    for i in range(len(work.layers)):
        err = sens.weight_err[i][:, 1:]
        assert (np.diff(err, axis=1) <= 1e-9 * (1 + err[:, :-1])).all()  # nested MSE clips: never worse with a bit more
    costs = [sens.policy_cost(*_bits(Policy.uniform(work.layers, b, b))) for b in (2, 4, 8)]
    assert costs[0] > costs[1] > costs[2] >= 0


def test_sensitivity_is_deterministic_by_seed(digits):
    work, images, tables = digits
    a = estimate_sensitivity(work.model, work.layers, [images], tables, seed=1)
    b = estimate_sensitivity(work.model, work.layers, [images], tables, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.kernel_curv, b.kernel_curv))


def test_sensitivity_needs_images(digits):
    work, _, tables = digits
    with pytest.raises(AutoQError, match="calibration split is empty"):
        estimate_sensitivity(work.model, work.layers, [], tables)


def _bits(policy):
    return list(policy.weight_bits.values()), list(policy.act_bits.values())
