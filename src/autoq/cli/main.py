"""Entry point of the ``autoq`` command: builds the subcommands and turns user errors into one line."""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
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
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(message)s", stream=sys.stderr)
    retain_freed_memory()
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        return int(args.func(args) or 0)
    except AutoQError as e:
        return _fail(args.command, str(e))
    except OSError as e:  # disk full, permissions, read-only file systems met while running
        where = f" {e.filename!r}" if e.filename else ""
        return _fail(
            args.command, f"cannot access{where}: {e.strerror or e}; check the path, its permissions and the free disk space"
        )
    except RecursionError:
        return _fail(args.command, "an input file is nested too deeply to read; check the files given")
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", None) or RESUME_HINT.get(args.command, "")
        print(f"autoq {args.command}: interrupted{hint}", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


# what to tell a user whose command was interrupted: every finished episode or epoch is on disk
RESUME_HINT = {
    "search": "; every finished episode is saved: run the same command with --resume to continue",
    "finetune": "; every finished epoch is saved: run the same command with --resume to continue",
}


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM ends the command as Ctrl-C does: files stay consistent and the message says how to resume."""
    raise KeyboardInterrupt


def _fail(command: str, message: str) -> int:
    print(f"autoq {command}: error: {message}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
