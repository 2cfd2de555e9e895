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
        os.replace(tmp, path)
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
