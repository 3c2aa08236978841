"""Files two ladders may write at once: temporary names unique to their writer, and locks.

Two `tuilab bench` runs on one model share rung files, reference scores and the history. Each writer puts
its bytes under its own temporary name and renames it into place, so neither truncates the other's half-
written file; the history's read-modify-write happens under an exclusive lock, so neither loses the
other's run; and a run being measured is claimed, so a second command never resumes it as interrupted.
Locks are `flock` locks (POSIX): the kernel drops them when their process dies, so none go stale.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import IO

_PART_SUFFIX = ".part"


def part_path(dest: Path) -> Path:
    """A temporary name next to `dest`, this process's alone: `.NAME.<pid>-<random>.part`."""
    return dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}{_PART_SUFFIX}")


def remove_stale_parts(dest: Path) -> None:
    """Remove temporary files or folders of `dest` whose writer is gone (killed before it cleaned up)."""
    for part in dest.parent.glob(f".{dest.name}.*{_PART_SUFFIX}"):
        pid_text = part.name.removeprefix(f".{dest.name}.").split("-", 1)[0]
        if pid_text.isdigit() and not _alive(int(pid_text)):
            if part.is_dir():
                shutil.rmtree(part, ignore_errors=True)
            else:
                part.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process with that id
    return True


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path`'s lock file (`NAME.lock`) while the block runs; waits for it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock_file(path).open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield  # closing the file releases the lock


def try_claim(path: Path) -> IO[str] | None:
    """An open lock file that this process alone holds until it closes it, or None if another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    f = _lock_file(path).open("a")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def _lock_file(path: Path) -> Path:
    return path.with_name(path.name + ".lock")
