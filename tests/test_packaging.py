"""pyproject.toml and environment.yml name the same dependencies; notebooks are committed clean."""

import json
import subprocess
import tomllib

import yaml

from leaklab import experiments

ROOT = experiments.ROOT


def _norm(spec):
    return spec.replace(" ", "").lower()


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_norm(d) for d in project["dependencies"] + project["optional-dependencies"]["test"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {_norm(d) for d in pip if not d.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_committed_notebooks_have_no_outputs_and_a_parameters_cell():
    tracked = subprocess.run(["git", "ls-files", "notebooks/*.ipynb"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    names = {t.split("/")[1][:-6] for t in tracked}
    assert set(experiments.EXPERIMENTS) <= names | {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert not any(c["outputs"] or c["execution_count"] for c in code), f"{path.name} has outputs"
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), f"{path.name}: no parameters cell"
