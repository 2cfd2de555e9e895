"""Writes that a killed process never leaves half done: the bottom layer, for records and checkpoints alike."""

import contextlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` in one step,
    so a run killed mid-write leaves the old file or none, never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would make committed records private to one user
    try:
        yield tmp
        # on disk before the name points at it: a machine that loses power just after the rename then finds the
        # whole new file, not an empty one (what a filesystem that delays its writes can leave without the fsync)
        with open(tmp, "rb") as written:
            os.fsync(written.fileno())
        os.replace(tmp, path)
        if hasattr(os, "O_DIRECTORY"):  # the rename itself, where the system can sync a directory
            directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path, text):
    with atomic(path) as tmp:
        Path(tmp).write_text(text)


def shown(path):
    """A path as a log line shows it: the home directory as ~, so that an executed page published from this
    machine does not print the user's home."""
    path, home = Path(path), Path.home()
    return f"~/{path.relative_to(home)}" if path.is_relative_to(home) else str(path)
