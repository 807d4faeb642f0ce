"""Hypothesis writes malformed settings, board and policy files: every one loads or is refused with an
AutoQError of one line, never another exception."""

from __future__ import annotations

import json
import string

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoq.config import SearchConfig, build, load_yaml
from autoq.errors import AutoQError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(string.printable, max_size=12),
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12
)


def mapping_near(keys: list[str]) -> st.SearchStrategy[dict]:
    """Mappings whose keys are mostly real ones and whose values are anything."""
    return st.dictionaries(st.sampled_from(keys) | st.text(max_size=8), values, max_size=6)


def refused_in_one_line(action) -> None:
    try:
        action()
    except AutoQError as e:
        assert str(e) and "\n" not in str(e), str(e)


def as_file(tmp_path, name: str, content: str | bytes):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
    return path


SEARCH_KEYS = list(SearchConfig.__dataclass_fields__) + ["agent_options", "finetune_options"]


def load_search_settings(path) -> None:
    from autoq.agents import AgentConfig

    cfg = build(SearchConfig, load_yaml(path), str(path))
    cfg.validate()
    build(AgentConfig, dict(cfg.agent_options), "agent_options")


@FUZZ
@given(data=mapping_near(SEARCH_KEYS) | values)
def test_config_files_from_structures(data, tmp_path):
    refused_in_one_line(lambda: load_search_settings(as_file(tmp_path, "c.yaml", yaml.safe_dump(data))))


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_config_files_from_arbitrary_bytes(text, tmp_path):
    refused_in_one_line(lambda: load_search_settings(as_file(tmp_path, "c.yaml", text)))


def load_board(path) -> None:
    from autoq.hardware import load_accelerator

    load_accelerator(str(path))


BOARD_KEYS = ["base", "kind", "name", "clock_mhz", "dk", "dm", "dn", "max_bits", "static_power_w", "kappa", "lmem_words"]


@FUZZ
@given(data=mapping_near(BOARD_KEYS), base=st.sampled_from([None, "temporal", "spatial"]))
def test_board_files_from_structures(data, base, tmp_path):
    if base is not None:
        data = {"base": base, **data}
    refused_in_one_line(lambda: load_board(as_file(tmp_path, "b.yaml", yaml.safe_dump(data))))


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_board_files_from_arbitrary_bytes(text, tmp_path):
    refused_in_one_line(lambda: load_board(as_file(tmp_path, "b.yaml", text)))


@pytest.fixture(scope="module")
def layers():
    from autoq.engine.setup import build_model

    return build_model().layers


LAYER_NAMES = ["features.0", "features.3", "features.7", "classifier"]
policy_entries = st.dictionaries(
    st.sampled_from(LAYER_NAMES) | st.text(max_size=6),
    st.fixed_dictionaries(
        {"weight_bits": st.lists(st.integers(-2, 10), max_size=70) | values, "act_bits": values | st.integers(-1, 9)}
    )
    | values,
    max_size=5,
)


@FUZZ
@given(layers_doc=policy_entries | values, version=st.sampled_from([1, 2, "1", None]), meta=values)
def test_policy_files_from_structures(layers_doc, version, meta, layers, tmp_path):
    from autoq.quant import Policy

    doc = {"format": "autoq.policy", "version": version, "layers": layers_doc, "meta": meta}
    path = as_file(tmp_path, "p.json", json.dumps(doc, allow_nan=True))
    refused_in_one_line(lambda: Policy.load(path, layers))


@FUZZ
@given(text=st.text(max_size=200) | st.binary(max_size=200))
def test_policy_files_from_arbitrary_bytes(text, layers, tmp_path):
    from autoq.quant import Policy

    refused_in_one_line(lambda: Policy.load(as_file(tmp_path, "p.json", text), layers))
