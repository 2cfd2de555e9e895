"""The library's layers (pyproject.toml's import-linter contract): every import points down, no circles, and the
check itself fails when one does not."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny import TINY

ROOT = Path(__file__).resolve().parents[1]


def lint(package_parent, config):
    """lint-imports on the leaklab package found under `package_parent`: (exit code, its report)."""
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()", "--no-cache", str(config)],
                          cwd=config.parent, env=env, capture_output=True, text=True)
    return done.returncode, done.stdout + done.stderr


def test_every_import_points_down():
    code, report = lint(ROOT / "src", ROOT / "pyproject.toml")
    assert code == 0, report


@pytest.mark.parametrize("module, line", [
    ("data.py", "from . import book"),  # the bottom reaching for the top
    ("experiments.py", "from . import records"),  # a circle: records imports experiments
    ("training.py", "from . import cifar_mislabeled"),  # a generic helper importing an experiment
    ("fgsm_leak.py", "from .pages import fgsm_leak"),  # a computation importing its page
    ("toy2d.py", "import matplotlib.pyplot"),  # a computation drawing
    ("data.py", "from .pages import figures"),  # ... or drawing through the page layer
    ("pages/figures.py", "from . import toy2d"),  # a generic figure importing a chapter
])
def test_an_import_against_the_layers_fails_the_check(tmp_path, module, line):
    shutil.copytree(ROOT / "src" / "leaklab", tmp_path / "src" / "leaklab",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    path = tmp_path / "src" / "leaklab" / module
    path.write_text(path.read_text() + f"\n{line}  # noqa: E402, F401\n")
    code, report = lint(tmp_path / "src", tmp_path / "pyproject.toml")
    assert code != 0 and "BROKEN" in report, report


def test_the_readme_lists_every_module_in_the_layers_of_the_contract():
    import re

    try:
        import tomllib
    except ImportError:  # Python 3.10: import-linter brings tomli for its own reading of pyproject.toml
        import tomli as tomllib

    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    in_contract = [set(layer.replace(" ", "").split("|")) for layer in contracts[0]["layers"]]
    package = ROOT / "src" / "leaklab"
    modules = {p.stem for p in package.glob("*.py") if p.stem != "__init__"}
    modules |= {p.parent.name for p in package.glob("*/__init__.py")}
    assert set().union(*in_contract) == modules  # every module has a layer, and the contract names no stale one
    pages = {p.stem for p in (package / "pages").glob("*.py") if p.stem != "__init__"}
    in_pages_contract = [set(layer.replace(" ", "").split("|")) for layer in contracts[1]["layers"]]
    assert contracts[1]["containers"] == ["leaklab.pages"] and set().union(*in_pages_contract) == pages
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| layer | modules |"):].split("\n\n")[0]
    rows = [set(re.findall(r"`(\w+)`", line.split("|")[2])) for line in table.splitlines()[2:]]
    assert set().union(*rows) == modules
    assert set(re.findall(r"`pages\.(\w+)`", table)) == pages
    # the README's rows go down in the contract's order
    order = {m: i for i, layer in enumerate(in_contract) for m in layer}
    assert [max(order[m] for m in row) for row in rows] == sorted(max(order[m] for m in row) for row in rows)


# --- every computation runs on a bare machine: no Jupyter, no matplotlib, no widgets --------------------------

BARE = """
import importlib.abc, json, sys
BLOCKED = {"papermill", "nbclient", "nbformat", "jupyter_client", "ipykernel", "IPython", "myst_nb", "ipywidgets",
           "matplotlib"}
assert not BLOCKED & {m.split(".")[0] for m in sys.modules}, "already imported before the blocker"

class Bare(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: leaklab compute must run without it")
        return None

sys.meta_path.insert(0, Bare())
from leaklab import cli
for args in json.loads(sys.argv[1]):  # one interpreter for all: torch and the data load once
    code = cli.main(args)
    assert code == 0, f"leaklab {' '.join(args)} failed"
assert not BLOCKED & {m.split(".")[0] for m in sys.modules}
"""

CIFAR_BIN = os.environ.get("LEAKLAB_CIFAR_BIN")
HAS_MNIST = bool(os.environ.get("LEAKLAB_DATA"))
HAS_CIFAR = bool(CIFAR_BIN and (Path(CIFAR_BIN) / "cifar-10-batches-bin" / "test_batch.bin").is_file())
HAS_DATA = {"toy2d": True, "mnist_from_fashion": HAS_MNIST, "gradient_leak": HAS_MNIST, "leak_conditions": HAS_MNIST,
            "cifar_mislabeled": HAS_CIFAR, "fgsm_leak": HAS_CIFAR}


def test_the_blocker_blocks():
    probe = subprocess.run([sys.executable, "-c", BARE.split("from leaklab")[0] + "import matplotlib"],
                           capture_output=True, text=True, timeout=60)
    assert probe.returncode != 0 and "matplotlib is blocked" in probe.stderr


# two halves, each in one interpreter (torch and the data load once per half), so that two test workers share them
HALVES = {"toy_and_mnist": ("toy2d", "mnist_from_fashion", "gradient_leak", "leak_conditions"),
          "cifar": ("cifar_mislabeled", "fgsm_leak")}


def test_the_halves_hold_every_experiment_once():
    from leaklab import experiments

    assert sorted(n for half in HALVES.values() for n in half) == sorted(TINY) == sorted(experiments.EXPERIMENTS)


@pytest.mark.heavy
@pytest.mark.parametrize("half", HALVES)
def test_every_computation_runs_without_matplotlib_or_jupyter(tmp_path, half):
    """Each experiment's `leaklab compute`, in an interpreter where matplotlib, ipywidgets and Jupyter cannot be
    imported: a computation runs on a bare machine. Those whose data is not here are named in the skip."""
    runs = {name: TINY[name] for name in HALVES[half] if HAS_DATA[name]}
    if not runs:
        pytest.skip(f"not here: the data of {', '.join(HALVES[half])}")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
           "LEAKLAB_CHECKPOINTS": str(tmp_path / "checkpoints")}
    commands = [["compute", name, *[arg for key, value in params.items() for arg in ("-p", f"{key}={value}")],
                 "--results", str(tmp_path / name)] for name, params in runs.items()]
    proc = subprocess.run([sys.executable, "-c", BARE, json.dumps(commands)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in runs:
        (path,) = (tmp_path / name).glob("*.json")
        assert f"record:   {path}" in proc.stdout
    missing = set(HALVES[half]) - set(runs)
    if missing:
        pytest.skip(f"ran {', '.join(runs)}; not here: the data of {', '.join(sorted(missing))}")
