"""Record a benchmark's figures in ``benchmarks/RESULTS.md``, one section per benchmark.

Each section sits between ``<!-- begin NAME -->`` and ``<!-- end NAME -->`` and is replaced whole on
every run, with the command, the date and the machine written above the figures.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
import shlex
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADER = "# Benchmark results\n\nEach section is written by the script it names; rerun the command to refresh it.\n"


def machine() -> str:
    """Cores, CPU model and Python/torch versions, for the record."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} cores, {cpu}{gpu}, Python {platform.python_version()}, torch {torch.__version__}"


def command() -> str:
    """The command line that is running, as a user would type it."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def record(name: str, title: str, body: str, cmd: str | None = None, results: Path = RESULTS) -> None:
    """Replace (or append) section ``name`` of ``results`` (RESULTS.md) with ``body`` under a standard heading."""
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    section = (
        f"<!-- begin {name} -->\n## {title}\n\n"
        f"- command: `{cmd or command()}`\n- date: {now}\n- machine: {machine()}\n\n"
        f"{body.strip()}\n<!-- end {name} -->\n"
    )
    text = results.read_text() if results.exists() else HEADER
    pattern = re.compile(rf"<!-- begin {re.escape(name)} -->.*?<!-- end {re.escape(name)} -->\n?", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    tmp = results.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, results)


def read_record(path: Path) -> dict:
    """A benchmark's gzip JSON record."""
    import gzip
    import json

    with gzip.open(path, "rt") as f:
        return json.load(f)


def write_record(path: Path, rec: dict) -> None:
    """Write a gzip JSON record atomically (no timestamp in the gzip header, so equal records are equal files)."""
    import gzip
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with gzip.GzipFile(tmp, "wb", mtime=0) as f:
        f.write(json.dumps(rec).encode())
    tmp.replace(path)


def report_records(name: str, title: str, folder: Path, table, script: str, results: Path = RESULTS) -> str:
    """Section ``name`` of RESULTS.md regenerated from the records in ``folder``, one ``table(record)`` each."""
    recs = [read_record(p) for p in sorted(folder.glob("*.json.gz"))]
    if not recs:
        raise SystemExit(f"no records in {folder}: run the benchmark first")
    body = "\n\n".join(table(r) for r in recs)
    rel = folder.relative_to(Path(__file__).resolve().parent.parent)
    record(name, title, body, cmd=f"python {script} --report-only (tables from {rel}/)", results=results)
    return body
