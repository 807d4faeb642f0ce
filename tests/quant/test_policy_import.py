"""Reading, writing and checking policy files needs NumPy, not torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from types import SimpleNamespace

import autoq
autoq.Policy
from autoq.quant.policy import Policy
import autoq.quant
assert autoq.quant.Policy is Policy is autoq.Policy

layers = [SimpleNamespace(name="conv1", c_out=4, params=108, kernel_numel=27, macs=1000, calls=1),
          SimpleNamespace(name="fc", c_out=5, params=40, kernel_numel=8, macs=40, calls=1)]
policy = Policy.uniform(layers, 4, 8)
policy.validate(layers)
again = Policy.from_dict(json.loads(json.dumps(policy.to_dict())), layers)
assert again.act_bits == {"conv1": 8, "fc": 8}
assert [list(v) for v in again.weight_bits.values()] == [[4] * 4, [4] * 5]
assert again.size_bits(layers) == 4 * 4 * 27 + 5 * 4 * 8
with tempfile.TemporaryDirectory() as tmp:
    policy.save(Path(tmp) / "policy.json")
    loaded = Policy.load(Path(tmp) / "policy.json", layers)
assert loaded.to_dict() == policy.to_dict()
torch_loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not torch_loaded, torch_loaded
print("ok")
"""


def test_policy_imports_and_round_trips_without_torch():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stdout + done.stderr
