"""Shared pytest setup: make `import leaklab` work from a plain checkout (src layout)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def tree_status_before_build():
    """`git status` of tracked files before the book build, to compare with after it."""
    return subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                          capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def built_book(tree_status_before_build):
    """The quick book, built once per test session by the real `leaklab book`; returns the HTML dir.

    Set LEAKLAB_TEST_REUSE_BOOK=1 to reuse an existing _build/html while iterating on tests.
    """
    from leaklab import book

    if not (os.environ.get("LEAKLAB_TEST_REUSE_BOOK") and (book.HTML / "index.html").exists()):
        book.build("quick")
    return book.HTML
