"""Entry point of the ``autoq`` command: builds the subcommands and turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from autoq import __version__
from autoq.errors import AutoQError
from autoq.utils.allocator import retain_freed_memory

COMMANDS = ["demo", "search", "finetune", "evaluate", "inspect", "cost", "report", "export"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoq",
        description="Kernel-wise mixed-precision quantization search (AutoQ) with FPGA latency, energy and area models.",
    )
    parser.add_argument("--version", action="version", version=f"autoq {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"autoq.cli.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr
    )
    retain_freed_memory()
    try:
        return int(args.func(args) or 0)
    except AutoQError as e:
        print(f"autoq {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"autoq {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
