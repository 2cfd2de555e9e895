"""Shared pytest setup: make `import leaklab` work from a plain checkout (src layout)."""
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
    from leaklab import book

    return book.tracked_status()


@pytest.fixture(scope="session")
def built_book(tree_status_before_build):
    """The quick book as the real `leaklab book` builds it; returns the HTML dir.

    A build made from exactly the present inputs (`make book` just before, as .ci/run does) is reused;
    otherwise the book is built once for the test session.
    """
    from leaklab import book

    if not book.is_current("quick"):
        book.build("quick")
    return book.HTML


def pytest_configure(config):
    config.addinivalue_line("markers", "book: builds or reads the quick book, or executes a notebook; the fast tier "
                                       "(make test-fast: pytest -m 'not book') leaves these out")
    config.addinivalue_line("markers", "heavy: trains for many seconds; run first, so that parallel workers (-n) "
                                       "finish together instead of one waiting on a long test started last")


def pytest_collection_modifyitems(items):
    """A test that takes the built book is a book-tier test, whether or not it says so."""
    for item in items:
        if "built_book" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.book)
    items.sort(key=lambda item: item.get_closest_marker("heavy") is None)  # stable: heavy ones first
