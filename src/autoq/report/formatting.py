"""Number formatting and names shared by the report's figures and text."""

from __future__ import annotations

import math
from typing import Any

from autoq.engine.setup import DEFAULT_MODEL


def model_name(d: Any) -> str:
    """The model of the run (``d`` a :class:`~autoq.report.rundata.RunData`), the embedded default if none was named."""

    return str(d.config.get("model") or DEFAULT_MODEL)


def pct(v: float | None, digits: int = 2) -> str:
    """A fraction as a percentage without the sign; empty for None."""
    return "" if v is None else f"{100 * v:.{digits}f}"


def num(v: float | None, fmt: str = ".4g") -> str:
    """A number in ``fmt``; empty for None and NaN."""
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)
