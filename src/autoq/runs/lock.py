"""An exclusive lock on a run folder, so that two processes never write into the same run.

The lock is an ``flock`` on ``<run>/.lock``: the operating system releases it when the process ends,
however it ends (kill -9 included), so a crash never leaves a folder locked.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from autoq.errors import AutoQError
from autoq.runs import folder as rf

LOCK_FILE = ".lock"


_HELD: set[Path] = set()  # folders this process holds: a search that finetunes locks its folder once


class RunLock:
    """``with RunLock(run_dir):`` holds the folder for this process; another process is refused.

    Nested use in the same process (a search finetuning its best policy) is allowed.
    """

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_FILE
        self._fd: int | None = None
        self._key = Path(run_dir).resolve()

    def __enter__(self) -> RunLock:
        if self._key in _HELD:
            return self
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise AutoQError(
                f"cannot lock run folder {str(self.path.parent)!r} ({e.strerror}); choose a writable --out"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            self._fd = None
            raise AutoQError(
                f"run folder {str(self.path.parent)!r} is in use by another autoq process; "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, f"{os.getpid()}\n".encode())
        _HELD.add(self._key)
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._fd is not None:
            _HELD.discard(self._key)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


@contextmanager
def claimed(run_dir: Path, progress: str = rf.CHECKPOINT) -> Iterator[None]:
    """Create ``run_dir`` if needed and hold its lock for the block; a run that fails before it saved its
    ``progress`` file leaves behind no folder it created (an interrupted one stays resumable)."""
    created = rf.make_folder(run_dir)
    with RunLock(run_dir):
        try:
            yield
        except Exception:
            if created:
                rf.remove_if_unstarted(run_dir, progress)
            raise
