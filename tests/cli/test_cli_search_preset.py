"""``autoq search --agent-preset``: the preset's values reach config.yaml in full; flags and "none" override it."""

from __future__ import annotations

import pytest
import yaml

from autoq.agents.presets import PRESETS
from autoq.cli.main import main


def _search(tmp_path, *flags: str) -> dict:
    out = tmp_path / "run"
    argv = [
        "search",
        "--dataset",
        "digits",
        "--calib-size",
        "64",
        "--reward-size",
        "200",
        "--batch-size",
        "200",
        "--episodes",
        "2",
        "--quiet",
        "--out",
        str(out),
        "--agent-hidden",
        "16",
        *flags,
    ]
    assert main(argv) == 0
    return yaml.safe_load((out / "config.yaml").read_text())


def test_paper_preset_is_written_in_full_and_flags_override_it(tmp_path, default_cache):
    cfg = _search(tmp_path, "--agent-preset", "paper", "--agent-kernel-noise", "0.5")
    options = cfg["agent_options"]
    assert options["preset"] == "paper"
    expected = {**PRESETS["paper"], "hidden": 16, "kernel_noise": 0.5}
    assert {k: options[k] for k in expected} == expected


def test_optional_setting_can_be_set_to_none_from_the_command_line(tmp_path, default_cache):
    cfg = _search(
        tmp_path, "--agent-preset", "paper", "--agent-kernel-updates-per-episode", "3", "--agent-buffer-episodes", "none"
    )
    assert cfg["agent_options"]["kernel_updates_per_episode"] == 3 and cfg["agent_options"]["buffer_episodes"] is None
    cfg = _search(tmp_path / "b", "--agent-preset", "none", "--keep-first-last", "none")
    assert cfg["agent_options"]["preset"] is None and cfg["agent_options"]["warmup_episodes"] == 100  # today's defaults
    assert cfg["keep_first_last"] is None


def test_yaml_agent_mapping_names_the_agent_and_its_preset(tmp_path, default_cache):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"agent": {"name": "autoq", "preset": "paper"}}))
    cfg = _search(tmp_path, "--config", str(path))
    assert cfg["agent"] == "autoq" and cfg["agent_options"]["goal_prior"] is False and cfg["agent_options"]["kernel_noise"] == 1.0


def test_unknown_preset_is_an_argument_error(tmp_path, default_cache):
    with pytest.raises(SystemExit):
        main(["search", "--agent-preset", "haq"])
