"""Find the quantizable layers of a classifier (Conv2d and Linear) by one forward pass."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

QUANTIZABLE = (nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class LayerInfo:
    """Shape of one quantizable layer as the forward pass saw it.

    ``in_hw`` / ``out_hw`` are feature-map sizes; a Linear layer applied to a flat vector has
    ``(1, 1)``, one applied along extra dimensions has the number of positions as height.
    """

    index: int
    name: str
    kind: str  # "conv" or "linear"
    c_in: int
    c_out: int
    kernel_size: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    groups: int
    in_hw: tuple[int, int]
    out_hw: tuple[int, int]
    has_bias: bool
    calls: int = 1

    @property
    def kernel_numel(self) -> int:
        """Weights of one kernel (one output channel): the dot-product length K."""
        return (self.c_in // self.groups) * self.kernel_size[0] * self.kernel_size[1]

    @property
    def params(self) -> int:
        """Number of weights (bias excluded: it stays in high precision)."""
        return self.c_out * self.kernel_numel

    @property
    def macs(self) -> int:
        """Multiply-accumulates of one forward pass for one input sample."""
        return self.params * self.out_hw[0] * self.out_hw[1]

    @property
    def depthwise(self) -> bool:
        return self.kind == "conv" and self.groups > 1 and self.groups == self.c_in

    def summary(self) -> dict:
        """Plain dict for tables and JSON."""
        return {
            "index": self.index,
            "name": self.name,
            "type": self.kind if not self.depthwise else "conv-dw",
            "c_in": self.c_in,
            "c_out": self.c_out,
            "kernel": list(self.kernel_size),
            "stride": list(self.stride),
            "padding": list(self.padding),
            "groups": self.groups,
            "in_hw": list(self.in_hw),
            "out_hw": list(self.out_hw),
            "params": self.params,
            "macs": self.macs,
        }


@dataclass
class Discovery:
    """Layers in forward order, plus what could not be mapped one-to-one."""

    layers: list[LayerInfo]
    reused: list[str] = field(default_factory=list)  # modules called more than once
    unreached: list[str] = field(default_factory=list)  # quantizable modules the forward pass skipped

    def warnings(self) -> list[str]:
        out = []
        if self.reused:
            out.append(
                "modules called more than once share one bit vector and are costed per call "
                f"with their first call's shape: {', '.join(self.reused)}"
            )
        if self.unreached:
            out.append(f"modules not reached by the forward pass are not quantized: {', '.join(self.unreached)}")
        return out


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[-1]))


def discover_layers(model: nn.Module, example_input: torch.Tensor) -> Discovery:
    """Run ``model`` once on ``example_input`` (batch dimension first) and record its layers.

    The model is put in eval mode for the pass and restored afterwards; no gradient is kept.
    """
    records = _record_calls(model, example_input)
    layers = [_layer_info(index, name, rec) for index, (name, rec) in enumerate(records.items())]
    reused = [n for n, rec in records.items() if rec["calls"] > 1]
    unreached = [name for name, m in model.named_modules() if isinstance(m, QUANTIZABLE) and name not in records]
    return Discovery(layers=layers, reused=reused, unreached=unreached)


def _record_calls(model: nn.Module, example_input: torch.Tensor) -> dict[str, dict]:
    """Per quantizable layer, in the order of its first call: the module, its first input and output
    shapes and how often it ran."""
    records: dict[str, dict] = {}  # insertion order is the order of first calls
    hooks = []

    def hook(name: str):
        def fn(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if name in records:
                records[name]["calls"] += 1
                return
            records[name] = {"module": module, "in": tuple(inputs[0].shape), "out": tuple(output.shape), "calls": 1}

        return fn

    for name, module in model.named_modules():
        if isinstance(module, QUANTIZABLE):
            hooks.append(module.register_forward_hook(hook(name)))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(example_input)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    return records


def _layer_info(index: int, name: str, rec: dict) -> LayerInfo:
    """The geometry of one recorded layer; a linear layer's positions are the input's middle dimensions."""
    m = rec["module"]
    if isinstance(m, nn.Conv2d):
        return LayerInfo(
            index=index,
            name=name,
            kind="conv",
            c_in=m.in_channels,
            c_out=m.out_channels,
            kernel_size=_pair(m.kernel_size),
            stride=_pair(m.stride),
            padding=_pair(m.padding) if not isinstance(m.padding, str) else (0, 0),
            groups=m.groups,
            in_hw=(rec["in"][-2], rec["in"][-1]),
            out_hw=(rec["out"][-2], rec["out"][-1]),
            has_bias=m.bias is not None,
            calls=rec["calls"],
        )
    positions = math.prod(rec["in"][1:-1]) if len(rec["in"]) > 2 else 1
    return LayerInfo(
        index=index,
        name=name,
        kind="linear",
        c_in=m.in_features,
        c_out=m.out_features,
        kernel_size=(1, 1),
        stride=(1, 1),
        padding=(0, 0),
        groups=1,
        in_hw=(positions, 1),
        out_hw=(positions, 1),
        has_bias=m.bias is not None,
        calls=rec["calls"],
    )
