"""``autoq report``: figures and tables of a search run folder, as ``RUN_DIR/report/index.md`` and ``index.html``."""

from __future__ import annotations

from pathlib import Path

from autoq.report.report import Report, RunData, load_run
from autoq.report.report import write_report as _write


def write_report(run_dir: str | Path) -> Path:
    """Write ``RUN_DIR/report/`` and return its path (:func:`autoq.report.report.write_report` gives the details)."""
    return _write(run_dir).out_dir


__all__ = ["Report", "RunData", "load_run", "write_report"]
