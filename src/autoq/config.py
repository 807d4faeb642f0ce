"""Every setting of a search and of a finetune, in dataclasses that are also the command line.

Precedence: the defaults here < a ``--config FILE.yaml`` < flags given on the command line. The
resolved settings are written to ``config.yaml`` in every run folder.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoq.errors import AutoQError
from autoq.utils.yamlsafe import load_yaml_file


def setting(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with its one-line documentation (shown by ``--help``)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


@dataclass
class FinetuneConfig:
    """Quantization-aware finetuning (the paper's SGD, lr 1e-3, momentum 0.9, 10 epochs; docs/search.md, "Finetuning")."""

    epochs: int = setting(10, "finetuning epochs over the training split")
    lr: float = setting(1e-3, "SGD learning rate (fixed)")
    momentum: float = setting(0.9, "SGD momentum")
    weight_decay: float = setting(0.0, "SGD weight decay")
    train_batch_size: int = setting(128, "images per optimisation step (over all processes)")
    freeze_bn: bool = setting(True, "keep batch-norm statistics fixed (the data of a short finetune is small)")
    amp: bool = setting(False, "bfloat16 autocast for the training steps on a GPU (evaluation stays float32)")

    def validate(self) -> None:
        """The same checks for flags, config files and Python callers; run before any work starts."""
        check_fields(self, "finetune")
        if self.epochs < 0:
            raise AutoQError("finetune epochs must be 0 or more")
        if not 0 < self.lr <= 10:
            raise AutoQError(f"finetune lr {self.lr!r} must be in (0, 10]")
        if not 0 <= self.momentum < 1:
            raise AutoQError(f"finetune momentum {self.momentum!r} must be in [0, 1)")
        if not 0 <= self.weight_decay <= 1:
            raise AutoQError(f"finetune weight decay {self.weight_decay!r} must be in [0, 1]")
        if self.train_batch_size < 1:
            raise AutoQError("finetune train batch size must be positive")


@dataclass
class RunConfig:
    """What every run needs: the model, the data, how to quantize, the seed, the device and the folder."""

    model: str | None = setting(None, "model name, file.py:factory or TorchScript file (default: the embedded digits-cnn)")
    weights: str | None = setting(None, "state-dict checkpoint of the model")
    pretrained: bool = setting(False, "torchvision's pretrained weights (needs a network)")
    num_classes: int | None = setting(None, "classes of the model's output layer")
    input_shape: str | None = setting(None, "input shape C,H,W for user models")
    trust_checkpoint: bool = setting(False, "allow loading a model pickled whole (runs code from the file)")
    dataset: str | None = setting(None, "data set (default: the model's own)")
    data_dir: str | None = setting(None, "folder of the data set")
    calib_size: int = setting(256, "calibration images (held out of training)")
    reward_size: int = setting(
        500, "reward images: the search's accuracy (the holdout split's where the data set has one, else held out of training)"
    )
    batch_size: int = setting(250, "images per evaluation batch")
    workers: int = setting(0, "data-loading worker processes for folder data sets")
    weight_clip: str = setting("mse", "weight clip per kernel", choices=("mse", "max"))
    act_clip: str = setting("mse", "activation clip per layer", choices=("mse", "percentile", "max"))
    seed: int = setting(0, "seed of everything: splits, agent, exploration, finetuning order")
    device: str = setting("cpu", "cpu, cuda, cuda:N or auto")
    out: str | None = setting(None, "run folder (default: runs/<model>-<agent>-<mode>-seed<seed>)")

    def validate(self) -> None:
        """The same checks for flags, config files and Python callers; run before any work starts."""
        check_fields(self)
        for name in ("calib_size", "reward_size", "batch_size"):
            if getattr(self, name) < 1:
                raise AutoQError(f"--{name.replace('_', '-')} must be positive")
        if not 0 <= self.seed < 2**32:
            raise AutoQError(f"--seed {self.seed} must be between 0 and 2**32 - 1")
        if self.num_classes is not None and not 1 <= self.num_classes <= 1_000_000:
            raise AutoQError(f"--num-classes {self.num_classes} must be between 1 and 1000000")
        if self.workers < 0:
            raise AutoQError("--workers must be 0 or more")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class SearchConfig(RunConfig):
    """A kernel-wise bit-width search: a run plus accelerator, objective, search space and agent."""

    hardware: str = setting("temporal", "accelerator: temporal, spatial or a board YAML file")
    sort_kernels: bool = setting(True, "sort kernels by bits into tiles (docs/hardware-models.md)")
    mode: str = setting(
        "resource", "resource (hard budget, reward = accuracy) or accuracy (trade-off reward)", choices=("resource", "accuracy")
    )
    budget: str | None = setting(
        "latency=0.5",
        "resource budget: latency|energy|size = fraction of the 8-bit model or value with unit (3ms, 2mJ, 1MB); "
        "area = fraction of the device",
    )
    reward_metric: str = setting(
        "kl",
        "the reward's accuracy term: top1, loss (exp of minus the cross-entropy) "
        "or kl (exp of minus the KL divergence from the float model)",
        choices=("top1", "loss", "kl"),
    )
    psi_acc: float | None = setting(None, "reward weight of log accuracy (default 1 in resource mode, 2 in accuracy mode)")
    psi_latency: float | None = setting(None, "reward weight of log latency (default 0 / 0.5)")
    psi_energy: float | None = setting(None, "reward weight of log energy (default 0 / 0.5)")
    psi_area: float | None = setting(None, "reward weight of log area (default 0 / 0.5)")
    w_min: int = setting(1, "smallest weight bits of a kernel")
    w_max: int = setting(8, "largest weight bits of a kernel")
    a_min: int = setting(2, "smallest activation bits")
    a_max: int = setting(8, "largest activation bits")
    allow_prune: bool = setting(False, "allow 0 weight bits (prunes the kernel)")
    keep_first_last: int | None = setting(None, "pin the first and last layer to this many bits (HAQ pins 8)")
    calibrate: str = setting(
        "once",
        "activation clips: once, from the 8-bit network's activations, for every policy; or episode, from each policy's own",
        choices=("episode", "once"),
    )
    reward_finetune_batches: int = setting(0, "batches of finetuning before each episode's reward evaluation")
    agent: str = setting(
        "autoq", "agent: autoq, hiro, haq, ddpg-kernel, random, uniform, or ilp (sensitivity + integer program, no learning)"
    )
    granularity: str = setting(
        "kernel", "--agent ilp: one weight bit width per layer, or per kernel group", choices=("layer", "kernel")
    )
    kernel_groups: int = setting(
        4, "--agent ilp --granularity kernel: kernels of a layer ranked by sensitivity and cut into this many groups"
    )
    sensitivity_images: int = setting(64, "--agent ilp: calibration images of the Fisher sensitivity estimate")
    warm_start: str | None = setting(
        None,
        "start a learning agent from the integer program's solutions, played as its first episodes: ilp (default none)",
        choices=("ilp",),
    )
    episodes: int = setting(400, "episodes of the search")
    agent_options: dict = setting({}, "agent hyperparameters (AgentConfig fields), e.g. {zeta: 0.5}")
    finetune: bool = setting(False, "finetune the best policy after the search")
    finetune_options: FinetuneConfig = setting(None, "finetuning settings", nested=True)

    def __post_init__(self) -> None:
        if self.finetune_options is None:
            self.finetune_options = FinetuneConfig()
        elif isinstance(self.finetune_options, dict):
            self.finetune_options = build(FinetuneConfig, self.finetune_options, "finetune_options")

    def objective(self) -> dict[str, float]:
        """ψ coefficients with the mode's defaults filled in (docs/search.md, "Modes and the reward")."""
        resource = self.mode == "resource"
        pick = lambda v, r, a: float(v) if v is not None else (r if resource else a)  # noqa: E731
        return {
            "acc": pick(self.psi_acc, 1.0, 2.0),
            "latency": pick(self.psi_latency, 0.0, 0.5),
            "energy": pick(self.psi_energy, 0.0, 0.5),
            "area": pick(self.psi_area, 0.0, 0.5),
        }

    def run_dir(self) -> Path:
        if self.out:
            return Path(self.out)
        model = Path((self.model or "digits-cnn").split(":")[0]).stem
        return Path("runs") / f"{model}-{self.agent}-{self.mode}-seed{self.seed}"

    def validate(self) -> None:
        super().validate()
        if not 0 <= self.w_min <= self.w_max <= 8:
            raise AutoQError(f"weight bits range [{self.w_min}, {self.w_max}] must satisfy 0 <= w_min <= w_max <= 8")
        if self.w_min == 0 and not self.allow_prune:
            raise AutoQError("w_min = 0 prunes kernels: pass --allow-prune to allow it, or raise --w-min")
        if not 1 <= self.a_min <= self.a_max <= 8:
            raise AutoQError(f"activation bits range [{self.a_min}, {self.a_max}] must satisfy 1 <= a_min <= a_max <= 8")
        if self.mode == "resource" and not self.budget:
            raise AutoQError("--mode resource needs a --budget, e.g. latency=0.5")
        if self.episodes < 1:
            raise AutoQError("--episodes must be at least 1")
        if self.kernel_groups < 1 or self.sensitivity_images < 1:
            raise AutoQError("--kernel-groups and --sensitivity-images must be at least 1")
        if self.keep_first_last is not None and not 1 <= self.keep_first_last <= 8:
            raise AutoQError("--keep-first-last must be between 1 and 8 bits")
        if self.warm_start is not None and self.agent in ("ilp", "random", "uniform"):
            raise AutoQError(f"--warm-start starts a learning agent; --agent {self.agent} learns nothing from it")
        if self.reward_finetune_batches < 0:
            raise AutoQError("--reward-finetune-batches must be 0 or more")
        if not isinstance(self.agent_options, dict):
            raise AutoQError(f"agent_options must be a mapping of agent settings, got {self.agent_options!r}")
        if not isinstance(self.finetune_options, FinetuneConfig):
            raise AutoQError(f"finetune_options must be a mapping of finetuning settings, got {self.finetune_options!r}")
        self.finetune_options.validate()


# dataclass <-> YAML / command line ----------------------------------------------------------------


def check_fields(obj: Any, where: str = "") -> None:
    """Per-field checks shared by every settings class: types, finite numbers and listed choices."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        value, tp = getattr(obj, f.name), _base_type(hints[f.name])
        flag = f"--{where + '-' if where else ''}{f.name.replace('_', '-')}"
        if value is None or tp not in (int, float, bool, str):
            continue
        if tp in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise AutoQError(f"{flag} must be a number, got {value!r}")
        if tp is float and not math.isfinite(value):
            raise AutoQError(f"{flag} must be a finite number, got {value!r}")
        if "choices" in f.metadata and value not in f.metadata["choices"]:
            raise AutoQError(f"{flag} is {value!r}; choose one of {', '.join(f.metadata['choices'])}")


def _is_optional(tp: Any) -> bool:
    """Whether ``tp`` admits None (``int | None`` and the like)."""
    is_union = isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union
    return is_union and type(None) in typing.get_args(tp)


def _none_or(tp: Any) -> Callable[[str], Any]:
    """An argparse type that reads ``none`` (or ``null``) as None and anything else as ``tp``."""

    def convert(text: str) -> Any:
        return None if text.strip().lower() in ("none", "null") else tp(text)

    convert.__name__ = getattr(tp, "__name__", "value")  # argparse names the type in its errors
    return convert


def _base_type(tp: Any) -> Any:
    """``int`` for ``int | None`` and the like."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return tp


def build(cls: type, values: dict, where: str = "config") -> Any:
    """An instance of dataclass ``cls`` from a dict; unknown keys and wrong types are errors."""
    if not isinstance(values, dict):
        raise AutoQError(f"{where}: expected a mapping of settings")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in names:
            raise AutoQError(f"{where}: unknown setting {key!r}; known: {', '.join(sorted(names))}")
    out = {}
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    for key, value in values.items():
        tp = _base_type(hints[key])
        optional = type(None) in typing.get_args(hints[key]) or defaults[key] is None
        if value is None and not optional and tp is not typing.Any:
            raise AutoQError(f"{where}: setting {key!r} needs a value (it has no 'none')")
        if value is None or tp in (dict, typing.Any) or dataclasses.is_dataclass(tp):
            out[key] = value
        elif tp is bool and not isinstance(value, bool):
            raise AutoQError(f"{where}: setting {key!r} must be true or false, got {value!r}")
        elif tp in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise AutoQError(f"{where}: setting {key!r} must be a number, got {value!r}")
        elif tp is int and isinstance(value, float) and not value.is_integer():
            raise AutoQError(f"{where}: setting {key!r} must be an integer, got {value!r}")
        elif tp is float and not math.isfinite(value):
            raise AutoQError(f"{where}: setting {key!r} must be a finite number, got {value!r}")
        else:
            out[key] = tp(value) if tp in (int, float, str) else value
    return cls(**out)


def load_yaml(path: str | Path) -> dict:
    """A settings file: strict YAML (no duplicate keys, no alias bombs), a mapping at the top."""

    data = load_yaml_file(path, "config file") or {}
    if not isinstance(data, dict):
        raise AutoQError(f"{path}: expected a mapping of settings")
    return data


def add_dataclass_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    prefix: str = "",
    only: tuple[str, ...] | None = None,
    skip: tuple[str, ...] = (),
    keep_defaults: bool = False,
) -> None:
    """One flag per field of ``cls`` (``--calib-size``), documented by the field's help.

    Defaults are suppressed unless ``keep_defaults``, so that :func:`given` returns only the flags a
    user typed and they can override a config file.
    """
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if (only is not None and f.name not in only) or f.name in skip:
            continue
        if f.metadata.get("nested") or _base_type(hints[f.name]) is dict:
            continue
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        kw: dict[str, Any] = {
            "dest": prefix.replace("-", "_") + f.name,
            "default": default if keep_defaults else argparse.SUPPRESS,
            "help": f"{f.metadata.get('help', '')} (default: {default})",
        }
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            kw["type"] = tp if tp in (int, float) else str
            if "choices" in f.metadata:
                kw["choices"] = f.metadata["choices"]
            if _is_optional(hints[f.name]):  # every optional setting can be reset to None from the command line
                kw["type"] = _none_or(kw["type"])
                kw["help"] += "; none to unset"
                if "choices" in kw:
                    kw["choices"] = (*kw["choices"], None)
        parser.add_argument("--" + prefix + f.name.replace("_", "-"), **kw)


def given(args: argparse.Namespace, cls: type, prefix: str = "") -> dict:
    """The fields of ``cls`` that were given on the command line."""
    out = {}
    for f in dataclasses.fields(cls):
        dest = prefix.replace("-", "_") + f.name
        if hasattr(args, dest):
            out[f.name] = getattr(args, dest)
    return out
