"""Strict YAML reading for settings and board files: one-line errors instead of silent surprises.

``yaml.safe_load`` keeps the last of two equal keys without a word and expands alias chains (the
"billion laughs") into structures that exhaust memory when used. This loader refuses both, and
turns unreadable files into :class:`~autoq.errors.AutoQError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from autoq.errors import AutoQError

MAX_ALIASES = 100  # a settings file needs few, if any; an alias bomb needs many
MAX_BYTES = 1 << 20


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and refuses duplicate mapping keys."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (*name): not a settings file")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                continue  # merge keys (<<) may be overridden by design; other keys are rare in settings
            key = self.construct_object(key_node)
            if key in seen:
                raise yaml.YAMLError(f"key {key!r} appears twice (line {key_node.start_mark.line + 1}); keep one")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml_text(text: str, source: str) -> Any:
    """Parse ``text`` strictly; ``source`` names it in the error."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as e:
        lines = str(e).strip().splitlines()
        raise AutoQError(f"{source}: not valid YAML ({lines[0] if lines else type(e).__name__})") from None
    except RecursionError:
        raise AutoQError(f"{source}: nested too deeply to be a settings file") from None
    except ValueError as e:  # e.g. an integer of thousands of digits
        raise AutoQError(f"{source}: not a valid settings value ({str(e).splitlines()[0]})") from None


def load_yaml_file(path: str | os.PathLike, what: str = "file") -> Any:
    """Read and strictly parse a YAML file, with one-line errors for a missing, unreadable or huge file."""
    path = Path(path)
    if path.is_dir():
        raise AutoQError(f"{what} {str(path)!r} is a folder, not a file")
    if not path.exists():
        raise AutoQError(f"{what} {str(path)!r} does not exist")
    try:
        if path.stat().st_size > MAX_BYTES:
            raise AutoQError(f"{what} {str(path)!r} is larger than {MAX_BYTES >> 20} MB: not a settings file")
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise AutoQError(f"cannot read {what} {str(path)!r} ({e.strerror}); check its permissions") from None
    except UnicodeDecodeError:
        raise AutoQError(f"{what} {str(path)!r} is not UTF-8 text") from None
    return load_yaml_text(text, str(path))
