"""One training per run folder: an exclusive `fcntl.flock` on a lock file holding the PID.

The lock belongs to an open file description, so it ends with the process however the process
ends (SIGKILL included): a lock file left behind never blocks a later run. The holder writes
its PID into the file just after locking, and empties it when it lets go. Where fcntl does
not exist (Windows) nothing is locked.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows)
    fcntl = None  # type: ignore[assignment]

__all__ = ["acquire", "release", "holder"]


def acquire(path: str | Path) -> tuple[int | None, str | None]:
    """Open `path` (created if missing) and lock it: (descriptor, None), or (None, 'process
    1234') when another process holds it. OSError when the file cannot be opened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    if fcntl is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _pid_in(fd)
            os.close(fd)
            return None, who
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd, None


def release(fd: int) -> None:
    """Empty the lock file and let go of it."""
    try:
        os.ftruncate(fd, 0)
    except OSError:  # the lock ends with the descriptor anyway
        pass
    os.close(fd)


def holder(path: str | Path) -> str | None:
    """Who holds the lock on `path` ('process 1234'), or None when nobody does."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:  # a shared lock: probes do not get in each other's way, only in the holder's
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_in(fd)
    except OSError:
        return None
    finally:
        os.close(fd)  # a lock taken here ends here
    return None


def _pid_in(fd: int) -> str:
    """'process 1234' from a held lock file; its holder writes the PID just after locking."""
    for _ in range(40):
        text = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if text.isdigit():
            return f"process {text}"
        time.sleep(0.05)
    return "a process that has not written its PID"
