"""The comparison's records: one compressed JSON file per cell, and the uniform 8-bit reference per seed.

A record holds what is needed to recompute every table without the run folder: the settings, the
commit and the digests of the code it ran, the per-episode figures, the returned and finetuned
policy, the final metrics and the test images' correct / wrong vector (bit-packed).
"""

from __future__ import annotations

import ast
import base64
import datetime as _dt
import gzip
import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src" / "autoq"
RECORDS = HERE / "records"
FORMAT = "autoq.comparison-record.v1"
# code a strategy's result depends on: the shared search, and each strategy's own
PROGRAM = ("search/ilp.py", "search/program.py", "search/candidates.py", "search/sensitivity.py")
SHARED_DIRS = ("search", "runs", "quant", "hardware", "data", "engine", "models", "train")
SHARED_FILES = ("config.py", "cli/search.py", "cli/finetune.py", "cli/common.py")


def record_path(
    root: Path, model: str, hw: str, mode: str, strategy: str, budget: float | None, seed: int, tier: str = "full"
) -> Path:
    """``<model>/<hw>/<mode>/<strategy>-<budget>-s<seed>.json.gz``; a reduced tier's name before ``.json.gz``."""
    budget_text = f"{budget:g}" if budget is not None else "psi"
    reduced = "" if tier == "full" else f".{tier}"
    return root / model / hw / mode / f"{strategy}-{budget_text}-s{seed}{reduced}.json.gz"


def reference_path(root: Path, model: str, hw: str, seed: int) -> Path:
    return root / model / hw / f"uniform8-s{seed}.json.gz"


def _digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in paths if p.exists()):
        h.update(str(path.relative_to(SRC)).encode() + b"\0" + _code(path).encode() + b"\0")
    return h.hexdigest()[:16]


def _code(path: Path) -> str:
    """What a module computes: its syntax tree without docstrings, so comments, docstrings and
    formatting do not make a record stale, and any change to the code does."""
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


def code_digests(strategy: str) -> dict[str, str]:
    """Digests of the shared search code and of the strategy's own (its agent, or the integer program)."""
    program = [SRC / p for p in PROGRAM]
    shared = [p for d in SHARED_DIRS for p in (SRC / d).rglob("*.py") if p not in program]
    shared += [SRC / f for f in SHARED_FILES]
    own = program if strategy.startswith("ilp") else list((SRC / "agents").rglob("*.py"))
    return {"shared": _digest(shared), "strategy": _digest(own)}


def is_stale(record: dict, digests: dict[str, str] | None = None) -> bool:
    """Whether the record ran on code that differs from today's."""
    digests = digests or code_digests(record["cell"]["strategy"])
    return record["digests"] != digests


def load_records(paths: list[Path]) -> list[dict]:
    out = []
    for path in paths:
        with gzip.open(path, "rt") as f:
            record = json.load(f)
        if record.get("format") != FORMAT:
            raise SystemExit(f"{path}: not a comparison record ({record.get('format')!r}); delete it and rerun its cell")
        out.append(record)
    return out


def pack(correct: np.ndarray) -> str:
    return base64.b64encode(np.packbits(correct.astype(bool)).tobytes()).decode()


def unpack(text: str, n: int) -> np.ndarray:
    return np.unpackbits(np.frombuffer(base64.b64decode(text), dtype=np.uint8))[:n].astype(bool)


def _commit() -> str:
    def git(*words: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *words], capture_output=True, text=True).stdout.strip()

    return git("rev-parse", "--short=12", "HEAD") + ("+changes" if git("status", "--porcelain", "src") else "")


def _write(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        f.write(json.dumps(record, sort_keys=True).encode())
    os.replace(tmp, path)


def _stamp(device: str) -> dict:
    from _results import machine

    return {"commit": _commit(), "date": _dt.date.today().isoformat(), "machine": machine(), "device": device}


def _test_correct(model, split, device: str) -> np.ndarray:
    """Whether ``model`` classifies each image of ``split`` right, in order."""
    import torch

    from autoq.data import iterate_batches

    model = model.to(device).eval()
    out = []
    with torch.no_grad():
        for x, y in iterate_batches(split, 500):
            out.append((model(x.to(device)).argmax(1).cpu() == y).numpy())
    return np.concatenate(out)


def _workload(settings: dict):
    from autoq.engine.setup import attach_data, build_model

    work = build_model(settings["model"], settings.get("weights"), settings.get("pretrained", False))
    return attach_data(work, "cifar10-jpeg", None, settings.get("calib_size", 256), settings["reward_size"], settings["seed"])


def write_cell_record(path: Path, run: Path, tier: str, strategy: str, digests: dict, device: str) -> None:
    """Read a finished run folder, test its returned policy (finetuned, when the tier finetunes) image by
    image and write the cell's record."""
    import torch
    import yaml

    from autoq.data import iterate_batches
    from autoq.quant import Policy, apply_policy, calibrate
    from autoq.runs.folder import read_rows

    settings = yaml.safe_load((run / "config.yaml").read_text())
    rows = read_rows(run / "episodes.csv")
    summary = json.loads((run / "summary.json").read_text())
    keys = ("reward", "score", "accuracy", "latency_s", "energy_j", "within_budget")
    record = {
        "format": FORMAT,
        **_stamp(device),
        "digests": digests,
        "tier": tier,
        "settings": settings,
        "cell": {
            "model": settings["model"],
            "hw": settings["hardware"],
            "mode": settings["mode"],
            "strategy": strategy,
            "budget": float(settings["budget"].split("=")[1]) if settings["mode"] == "resource" else None,
            "seed": settings["seed"],
        },
        "episodes": {k: [r.get(k) for r in rows] for k in keys},
        "returned": summary["best"] or None,
        "test": None,
    }
    if summary["best"]:
        work = _workload(settings)
        returned = Policy.load(run / "best_policy.json", work.layers)
        record["returned_policy"] = returned.to_dict()
        if (run / "finetune.json").exists():  # the finetuned weights of the returned policy
            policy = Policy.load(run / "finetuned_policy.json", work.layers)
            model = apply_policy(work.model, policy, weight_clip=settings["weight_clip"], act_clip=settings["act_clip"])
            model.load_state_dict(torch.load(run / "finetuned.pt", weights_only=True, map_location="cpu"))
            finetune = json.loads((run / "finetune.json").read_text())
            record["finetuned_policy"] = policy.to_dict()
            record["finetune"] = {k: v for k, v in finetune.items() if k != "weights"}
        else:  # no finetuning: the returned policy, calibrated as the search scored it
            model = apply_policy(work.model, returned, weight_clip=settings["weight_clip"], act_clip=settings["act_clip"])
            calibrate(model, iterate_batches(work.splits.calib, settings["batch_size"]))
        correct = _test_correct(model, work.splits.test, device)
        record["test"] = {"n": int(correct.size), "top1": float(correct.mean()), "correct": pack(correct)}
    _write(path, record)


def write_reference(path: Path, model_flags: list[str], hw: str, seed: int, reward_size: int, device: str) -> None:
    """The float model's and the calibrated uniform 8-bit model's test vectors, and the 8-bit costs."""
    from autoq.data import iterate_batches
    from autoq.hardware import CostModel, load_accelerator
    from autoq.quant import Policy, apply_policy, calibrate

    words = dict(zip(model_flags[::2], model_flags[1::2])) if "--pretrained" not in model_flags else {"--model": model_flags[1]}
    settings = {
        "model": words["--model"],
        "weights": words.get("--weights"),
        "pretrained": "--pretrained" in model_flags,
        "reward_size": reward_size,
        "seed": seed,
    }
    work = _workload(settings)
    float_correct = _test_correct(work.model, work.splits.test, device)
    policy = Policy.uniform(work.layers, 8, 8)
    model = apply_policy(work.model, policy)
    calibrate(model, iterate_batches(work.splits.calib, 250))
    correct = _test_correct(model, work.splits.test, device)
    cost = CostModel(work.layers, load_accelerator(hw)).evaluate(policy)
    _write(
        path,
        {
            "format": FORMAT,
            **_stamp(device),
            "digests": code_digests("uniform"),
            "settings": settings,
            "cell": {"model": settings["model"], "hw": hw, "seed": seed, "strategy": "uniform8"},
            "float": {"top1": float(float_correct.mean()), "correct": pack(float_correct)},
            "test": {"n": int(correct.size), "top1": float(correct.mean()), "correct": pack(correct)},
            "returned": {"latency_s": cost.latency_s, "energy_j": cost.energy_j},
        },
    )
