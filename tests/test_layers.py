"""The library's layers (pyproject.toml's import-linter contract): every import points down, no circles, and the
check itself fails when one does not."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

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

    layers = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"][0]["layers"]
    in_contract = [set(layer.replace(" ", "").split("|")) for layer in layers]
    modules = {p.stem for p in (ROOT / "src" / "leaklab").glob("*.py") if p.stem != "__init__"}
    assert set().union(*in_contract) == modules  # every module has a layer, and the contract names no stale one
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| layer | modules |"):].split("\n\n")[0]
    rows = [set(re.findall(r"`(\w+)`", line.split("|")[2])) for line in table.splitlines()[2:]]
    assert set().union(*rows) == modules
    # the README's rows go down in the contract's order
    order = {m: i for i, layer in enumerate(in_contract) for m in layer}
    assert [max(order[m] for m in row) for row in rows] == sorted(max(order[m] for m in row) for row in rows)
