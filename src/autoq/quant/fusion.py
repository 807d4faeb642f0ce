"""Graph structure of a quantized model, and the inference graph the search evaluates.

A ``torch.fx`` trace finds every quantized conv whose only consumer is a BatchNorm2d, optionally
followed by a residual add and a ReLU. Export folds those batch norms into the integer kernels'
scales (:mod:`autoq.export.folding`). The search evaluates :func:`fuse_for_inference`'s graph: each
such chain runs as one convolution whose already-quantized weights carry the batch norm's affine
map, with the add and the ReLU as post-ops on a CPU (oneDNN). The function is the one the model
computes with its batch norms kept; only float rounding differs. Weights are quantized before the
affine map is applied, as docs/quantization.md says, so the search still keeps its batch norms.
"""

from __future__ import annotations

import logging
import operator
from dataclasses import dataclass

import torch
import torch.fx
import torch.nn.functional as F
from torch import Tensor, nn

from autoq.quant.modules import QuantConv2d, QuantMixin

log = logging.getLogger(__name__)

_RELU_FUNCTIONS = (F.relu, torch.relu)
_RELU6_FUNCTIONS = (F.relu6,)
#: the activations a fused convolution applies, by name: their oneDNN post-op and scalars, and the op itself
ACTIVATIONS = {
    "relu": ("relu", [], F.relu),
    "relu6": ("hardtanh", [0.0, 6.0], F.relu6),  # MobileNetV2's
}
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)  # iadd: torchvision's ``out += identity``


class LayerTracer(torch.fx.Tracer):
    """Keeps quantized layers (and any other ``leaves`` types) as single calls: their inner ops are not graph structure."""

    def __init__(self, leaves: tuple[type, ...] = ()) -> None:
        super().__init__()
        self.leaves = (QuantMixin, *leaves)

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, self.leaves) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module, leaves: tuple[type, ...] = (), purpose: str = "") -> torch.fx.Graph | None:
    """The model's ``torch.fx`` graph, or None (with a warning naming ``purpose``) when it cannot be traced."""
    try:
        return LayerTracer(leaves).trace(model)
    except Exception as e:  # fx raises many types for untraceable Python
        log.warning("%s: the model cannot be traced with torch.fx (%s)", purpose or "not traced", e)
        return None


@dataclass
class ConvChain:
    """A quantized conv, the BatchNorm2d that alone consumes it, then optionally ``+ other`` and a ReLU (or ReLU6)."""

    conv: torch.fx.Node
    bn: torch.fx.Node
    add: torch.fx.Node | None = None
    relu: torch.fx.Node | None = None
    activation: str | None = None  # the relu node's kind: a key of ACTIVATIONS

    @property
    def other(self) -> torch.fx.Node | None:
        """The add's other operand, read from the graph as it is now (an earlier fusion may have replaced it)."""
        if self.add is None:
            return None
        a, b = self.add.args
        return b if a is self.bn else a

    @property
    def last(self) -> torch.fx.Node:
        return self.relu or self.add or self.bn


def conv_chains(graph: torch.fx.Graph, model: nn.Module) -> list[ConvChain]:
    """Every quantized conv whose only consumer is an eval-capable BatchNorm2d, with the add and ReLU after it."""
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    chains: list[ConvChain] = []
    claimed: set[torch.fx.Node] = set()
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], QuantConv2d) or calls[node.target] != 1:
            continue
        bn = _only_user(node)
        if bn is None or bn.op != "call_module" or calls[bn.target] != 1 or bn.args[0] is not node:
            continue
        m = modules[bn.target]
        if not (
            isinstance(m, nn.BatchNorm2d) and m.running_mean is not None and m.num_features == modules[node.target].out_channels
        ):
            continue
        chain = ConvChain(node, bn)
        nxt = _only_user(bn)
        if _is_residual_add(nxt, bn) and nxt not in claimed:  # when both operands are chains, the first takes the add
            chain.add = nxt
            claimed.add(nxt)
            nxt = _only_user(nxt)
        kind = _activation_kind(nxt, modules) if nxt is not None else None
        if kind is not None:
            chain.relu, chain.activation = nxt, kind
        chains.append(chain)
    return chains


def _is_residual_add(node: torch.fx.Node | None, bn: torch.fx.Node) -> bool:
    if node is None or node.op != "call_function" or node.target not in _ADD_FUNCTIONS or len(node.args) != 2 or node.kwargs:
        return False
    a, b = node.args
    if node.target is operator.iadd:  # only ``bn_out += other``: an in-place add into ``other`` is visible elsewhere
        return a is bn and isinstance(b, torch.fx.Node) and b is not bn
    return (a is bn) != (b is bn) and isinstance(a, torch.fx.Node) and isinstance(b, torch.fx.Node)


def _only_user(node: torch.fx.Node) -> torch.fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _activation_kind(node: torch.fx.Node, modules: dict[str, nn.Module]) -> str | None:
    """``"relu"``, ``"relu6"`` or None: which activation of :data:`ACTIVATIONS` ``node`` applies to its one input."""
    if node.op == "call_module":
        return {nn.ReLU: "relu", nn.ReLU6: "relu6"}.get(type(modules[node.target]))
    if node.op == "call_function" and len(node.args) == 1 and not node.kwargs.get("inplace", False):
        if node.target in _RELU_FUNCTIONS:
            return "relu"
        return "relu6" if node.target in _RELU6_FUNCTIONS else None
    if node.op == "call_method" and node.target == "relu" and len(node.args) == 1:
        return "relu"
    return None


def bn_affine(bn: nn.Module) -> tuple[Tensor, Tensor]:
    """``(a, c)`` of the eval-mode batch norm ``y -> a * y + c``, in float64."""
    var = bn.running_var.double()
    mean = bn.running_mean.double()
    gamma = bn.weight.detach().double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.detach().double() if bn.bias is not None else torch.zeros_like(var)
    a = gamma / torch.sqrt(var + bn.eps)
    return a, beta - a * mean


class FusedConvBN(nn.Module):
    """Quantized conv → batch norm (→ ``+ other``) (→ ReLU or ReLU6) as one convolution at inference.

    The conv keeps its own state (bits, clips, calibration); the folded weights are cached until
    the quantized weights or the batch norm change. In training, or with gradients on, it runs the
    four steps one by one, exactly as the unfused graph does. ``activation``: a key of
    :data:`ACTIVATIONS`, or None.
    """

    def __init__(self, conv: QuantConv2d, bn: nn.BatchNorm2d, add: bool, activation: str | None) -> None:
        super().__init__()
        self.conv, self.bn, self.add, self.activation = conv, bn, add, activation
        self._sources: tuple | None = None
        self._versions: tuple = ()
        self._folded: tuple[Tensor, Tensor] = (torch.empty(0), torch.empty(0))
        self.inplace_input = False  # set by fuse_for_inference where the input has no other reader
        # oneDNN's fused convolution takes explicit zero padding only
        self._onednn = torch.backends.mkldnn.is_available() and isinstance(conv.padding, tuple) and conv.padding_mode == "zeros"

    def forward(self, x: Tensor, other: Tensor | None = None) -> Tensor:
        if self.training or self.bn.training or torch.is_grad_enabled():
            return self._tail(self.bn(self.conv(x)), other)
        x, step = self.conv.input_codes(x, inplace=self.inplace_input)
        w, b = self._weights(step)
        if (
            self._onednn
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and (other is None or other.shape == self._out_shape(x))
        ):
            try:
                return self._onednn_conv(x, w, b, other)
            except (RuntimeError, AttributeError) as e:  # a build without the fused operator
                log.debug("oneDNN fused convolution unavailable (%s); convolving unfused", e)
                self._onednn = False
        return self._tail(self.conv._conv_forward(x, w, b), other)

    def _tail(self, y: Tensor, other: Tensor | None) -> Tensor:
        """The residual add and the activation after the batch norm, as separate ops."""
        y = y + other if self.add else y
        return ACTIVATIONS[self.activation][2](y) if self.activation else y

    def _onednn_conv(self, x: Tensor, w: Tensor, b: Tensor, other: Tensor | None) -> Tensor:
        c = self.conv
        unary, scalars, _ = ACTIVATIONS[self.activation] if self.activation else (None, [], None)
        if self.add:
            return torch.ops.mkldnn._convolution_pointwise.binary(
                x, other, w, b, list(c.padding), list(c.stride), list(c.dilation), c.groups, "add", 1.0, unary, scalars, None
            )
        return torch.ops.mkldnn._convolution_pointwise(
            x, w, b, list(c.padding), list(c.stride), list(c.dilation), c.groups, unary or "none", scalars, None
        )

    def _out_shape(self, x: Tensor) -> torch.Size:
        c = self.conv
        hw = [
            (size + 2 * p - d * (k - 1) - 1) // s + 1
            for size, p, d, k, s in zip(x.shape[2:], c.padding, c.dilation, c.kernel_size, c.stride)
        ]
        return torch.Size([x.shape[0], c.out_channels, *hw])

    def _weights(self, step: float) -> tuple[Tensor, Tensor]:
        """The quantized weights with the batch norm's scale and the input's step folded in, and the shift."""
        bn = self.bn
        # the tensors themselves are held, so identity (not a reusable address) tells when one was replaced
        sources = (self.conv.quant_weight(), self.conv.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var)
        versions = (step, *(-1 if t is None else t._version for t in sources))
        if self._sources is None or versions != self._versions or any(a is not b for a, b in zip(sources, self._sources)):
            w_q = sources[0]
            a, shift = bn_affine(bn)
            if self.conv.bias is not None:
                shift = shift + a * self.conv.bias.detach().double()
            w = w_q * (a * step).reshape(-1, *([1] * (w_q.dim() - 1))).to(w_q.dtype)
            self._folded = (w.contiguous(memory_format=_format_of(w_q)), shift.to(w_q.dtype).contiguous())
            self._sources, self._versions = sources, versions
        return self._folded


def _format_of(t: Tensor) -> torch.memory_format:
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def fuse_for_inference(qmodel: nn.Module) -> nn.Module:
    """A graph of ``qmodel`` whose conv → batch norm (→ add) (→ ReLU) chains run as single convolutions.

    It shares every parameter, buffer and quantized layer with ``qmodel``: setting bits or
    calibrating through either acts on both. A model that cannot be traced, or has no such chain,
    is returned as it is.
    """
    graph = trace(qmodel, purpose="inference graph unfused")
    if graph is None:
        return qmodel
    chains = conv_chains(graph, qmodel)
    if not chains:
        return qmodel
    gm = torch.fx.GraphModule(qmodel, graph)
    for i, ch in enumerate(chains):
        name = f"fused_{i}"
        fused = FusedConvBN(gm.get_submodule(ch.conv.target), gm.get_submodule(ch.bn.target), ch.add is not None, ch.activation)
        gm.add_submodule(name, fused)
        last = ch.last
        with graph.inserting_after(last):
            args = (ch.conv.args[0],) if ch.add is None else (ch.conv.args[0], ch.other)
            node = graph.call_module(name, args)
        last.replace_all_uses_with(node)
        for dead in (ch.relu, ch.add, ch.bn, ch.conv):
            if dead is not None:
                graph.erase_node(dead)
    _mark_private_inputs(graph, gm)
    graph.lint()
    gm.recompile()
    gm.train(qmodel.training)
    return gm


def _mark_private_inputs(graph: torch.fx.Graph, gm: nn.Module) -> None:
    """Let a fused convolution quantize its input in place where that input is another fused
    convolution's output read by nothing else: a fresh tensor no other node sees."""
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(gm.get_submodule(node.target), FusedConvBN):
            continue
        src = node.args[0]
        private = (
            isinstance(src, torch.fx.Node)
            and src.op == "call_module"
            and isinstance(gm.get_submodule(src.target), FusedConvBN)
            and len(src.users) == 1
            and src not in node.args[1:]  # a residual add reading the same tensor (fx counts a user once)
        )
        gm.get_submodule(node.target).inplace_input = private
