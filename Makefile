# Two commands on a fresh machine: `make book` (install, execute every notebook, build the HTML book)
# and `make test` (install, browser included, then the whole test suite).
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; on a GPU machine use e.g. `make TORCH=torch book` to let pip pick a CUDA build.
TORCH ?= torch==2.13.0
SHARED_DATA ?= $(abspath ../shared/data)
CIFAR_BIN := $(abspath .cache/cifar10-jpeg-bin)
PROFILE ?= quick
# Datasets: read from LEAKLAB_DATA when set, else downloaded (checksums verified). With no internet, the
# copies in ../shared/data are used when that directory exists. The book and the tests read the same data
# (exported), so the tests can reuse the book that `make book` built.
LEAKLAB_DATA ?= $(if $(wildcard $(SHARED_DATA)/MNIST),$(SHARED_DATA):$(CIFAR_BIN),)
export LEAKLAB_DATA

.PHONY: book test test-fast install data browser clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

book: install data
	$(VENV)/bin/leaklab book --profile $(PROFILE)

# Debian's Chromium drives the browser test (Playwright's own browser download needs the internet).
browser:
	@command -v chromium >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# The offline CIFAR-10 copy, rebuilt once in the official binary layout (JPEG-recompressed pixels).
# Both `book` and `test` need it, so either can be the first command on a fresh clone.
data: $(CIFAR_BIN)/cifar-10-batches-bin/test_batch.bin

$(CIFAR_BIN)/cifar-10-batches-bin/test_batch.bin: | install
	@if [ -f $(SHARED_DATA)/build_cifar10_bin.py ]; then \
		$(PY) $(SHARED_DATA)/build_cifar10_bin.py $(CIFAR_BIN) >/dev/null; \
	else mkdir -p $(CIFAR_BIN)/cifar-10-batches-bin; fi

# The tests reuse the book that `make book` built when nothing it reads has changed since; else they
# build it once (tests/conftest.py).
test: install browser data
	LEAKLAB_CIFAR_BIN="$(CIFAR_BIN)" $(PY) -m pytest

# The fast tier: everything but the book build, the browser and the notebook runs (pytest -m "not book").
test-fast: install data
	# one single-threaded worker per core: most of these tests are small, and two threads each help them little.
	# worksteal, with the heavy tests first (conftest.py): an idle worker takes tests queued for the other
	OMP_NUM_THREADS=1 LEAKLAB_CIFAR_BIN="$(CIFAR_BIN)" $(PY) -m pytest -m "not book" -n auto --dist worksteal

clean:
	rm -rf _build
