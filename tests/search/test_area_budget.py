"""Area budgets on ResNet-20: what they mean on each accelerator, feasible or refused with the smallest value."""

from __future__ import annotations

import types

import pytest

from autoq.errors import AutoQError
from autoq.hardware import CostModel, load_accelerator
from autoq.quant.policy import Policy
from autoq.search.budget import Budget, BudgetSpec
from autoq.search.rollout import SearchSpace


@pytest.fixture(scope="module")
def resnet20_layers():
    from autoq.engine.setup import build_model

    return build_model("resnet20").discovery.layers


def _budget(layers, board, text="area=0.9"):
    model = CostModel(layers, board)
    ref8 = types.SimpleNamespace(area=model.evaluate(Policy.uniform(layers, 8, 8)).area.utilisation)
    space = SearchSpace(layers, (2, 8), (2, 8), pinned={})
    return Budget(BudgetSpec.parse(text), model, space, ref8)


def test_an_area_budget_is_a_fraction_of_the_device_not_of_the_8_bit_model(resnet20_layers):
    budget = _budget(resnet20_layers, "spatial")
    assert budget.limit == 0.9 and budget.reference == pytest.approx(0.6256, abs=1e-4)


def test_default_spatial_board_fits_in_0_9_of_the_device(resnet20_layers):
    budget = _budget(resnet20_layers, "spatial")
    budget.check_feasible()  # the fusion units take 0.626 of the LUTs, whatever the bits
    assert budget.minimum == pytest.approx(0.6256, abs=1e-4)
    assert budget.met(types.SimpleNamespace(area=budget.reference))


def test_default_temporal_board_is_refused_with_its_own_utilisation(resnet20_layers):
    # BISMO's 128 BRAM36 of buffers are 0.914 of the Zynq-7020's 140: above 0.9 whatever the bits
    with pytest.raises(AutoQError, match=r"smallest feasible is area=0\.9143 of the device: the accelerator's own") as e:
        _budget(resnet20_layers, "temporal").check_feasible()
    assert "8-bit model" not in str(e.value)
    _budget(resnet20_layers, "temporal", "area=0.92").check_feasible()


def test_resident_weights_on_the_temporal_board_need_more_than_the_device(resnet20_layers):
    # the weights' BRAM36 come on top of the buffers: even at the fewest bits the design outgrows the device
    board = load_accelerator("temporal").replace(weights_on_chip=True)
    budget = _budget(resnet20_layers, board, "area=1.0")
    floor = budget.minimum
    assert floor > CostModel(resnet20_layers, board).fixed_utilisation()
    with pytest.raises(AutoQError, match=f"smallest feasible is area={floor:.4f} of the device$"):
        budget.check_feasible()
    _budget(resnet20_layers, board, f"area={floor + 0.01}").check_feasible()


def test_resident_weights_on_the_spatial_board_move_the_area_above_the_lut_floor(resnet20_layers):
    board = load_accelerator("spatial").replace(weights_on_chip=True)
    budget = _budget(resnet20_layers, board)
    budget.check_feasible()
    assert budget.minimum == pytest.approx(CostModel(resnet20_layers, board).fixed_utilisation())
