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


@pytest.mark.parametrize("kind", ["temporal", "spatial"])
def test_default_boards_refuse_an_area_budget_below_the_accelerator(resnet20_layers, kind):
    budget = _budget(resnet20_layers, kind)
    with pytest.raises(AutoQError, match=r"smallest feasible is area=1\.0000 .*weights_on_chip: true"):
        budget.check_feasible()
    _budget(resnet20_layers, kind, "area=1").check_feasible()


def test_resident_weights_make_area_0_9_feasible_on_the_temporal_board(resnet20_layers):
    board = load_accelerator("temporal").replace(weights_on_chip=True)
    budget = _budget(resnet20_layers, board)
    budget.check_feasible()
    assert budget.minimum < budget.limit


def test_resident_weights_on_the_spatial_board_are_refused_with_the_lut_floor(resnet20_layers):
    # the fusion units' LUTs (0.626 of the device) are the floor the weights cannot go below
    board = load_accelerator("spatial").replace(weights_on_chip=True)
    budget = _budget(resnet20_layers, board)
    floor = CostModel(resnet20_layers, board).fixed_utilisation()
    with pytest.raises(AutoQError, match=f"smallest feasible is area={floor / budget.reference:.4f}") as e:
        budget.check_feasible()
    assert "weights_on_chip" not in str(e.value)
