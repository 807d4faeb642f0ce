"""Where real data and weights live: the shared folder and the user's cache."""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path | None:
    """The read-only shared folder: ``$AUTOQ_SHARED``, else ``../shared`` beside the source checkout or the cwd."""
    env = os.environ.get("AUTOQ_SHARED")
    if env:
        return Path(env)
    for base in (Path(__file__).resolve().parents[3], Path.cwd()):
        candidate = base.parent / "shared"
        if candidate.is_dir():
            return candidate
    return None


def cache_dir() -> Path:
    """Per-user cache: ``$AUTOQ_CACHE``, else ``$XDG_CACHE_HOME/autoq``, else ``~/.cache/autoq``."""
    env = os.environ.get("AUTOQ_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "autoq"
