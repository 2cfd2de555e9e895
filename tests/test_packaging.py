"""pyproject.toml and environment.yml name the same dependencies; notebooks are committed clean."""

import json
import os
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
    # in a git checkout each experiment's notebook must be committed, not only on disk (a copy without .git,
    # an unpacked sdist, can only check the files it has)
    on_disk = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert set(experiments.EXPERIMENTS) <= (names if (ROOT / ".git").exists() else on_disk)
    for path in (ROOT / "notebooks").glob("*.ipynb"):
        cells = json.loads(path.read_text())["cells"]
        code = [c for c in cells if c["cell_type"] == "code"]
        assert not any(c["outputs"] or c["execution_count"] for c in code), f"{path.name} has outputs"
        assert any("parameters" in c["metadata"].get("tags", []) for c in code), f"{path.name}: no parameters cell"
        # nbformat 4.5 gives every cell an id (a missing one is a warning now, an error in later nbformat)
        ids = [c.get("id") for c in cells]
        assert all(ids) and len(set(ids)) == len(ids), f"{path.name}: a cell without an id, or two with one id"


def test_either_readme_command_prepares_the_offline_cifar_copy(tmp_path):
    """On a fresh clone `make book` may be the very first command: it must build the CIFAR-10 binary
    from ../shared/data just as `make test` does (a dry run shows what each would do)."""
    for target in ("book", "test"):
        plan = subprocess.run(["make", "-n", target, f"CIFAR_BIN={tmp_path}/cifar", f"VENV={tmp_path}/venv",
                               "SHARED_DATA=/nonexistent/shared/data"], cwd=ROOT, capture_output=True,
                              text=True).stdout
        assert "build_cifar10_bin.py" in plan, f"make {target} does not prepare CIFAR-10:\n{plan}"


def test_ci_runs_the_readme_commands_in_readme_order():
    readme = (ROOT / "README.md").read_text()
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip().startswith("make")]
    assert ci == ["make book", "make test"]
    assert readme.index("make book    #") < readme.index("make test    #")


def test_a_build_is_reused_only_while_its_inputs_are_unchanged(tmp_path, monkeypatch):
    from leaklab import book

    monkeypatch.setattr(book, "STAMP", tmp_path / "stamp.json")
    digest = book.inputs_digest("quick")
    assert digest == book.inputs_digest("quick") and digest != book.inputs_digest("full")
    book.STAMP.write_text(json.dumps({"profile": "quick", "inputs": digest}))
    assert book.is_current("quick") and not book.is_current("full")
    monkeypatch.setenv("LEAKLAB_DATA", "/somewhere/else")  # other data: not the same build
    assert not book.is_current("quick")
    monkeypatch.chdir(tmp_path)  # a relative path names the build the build made with it, which resolves it
    monkeypatch.setenv("LEAKLAB_DATA", f"data{os.pathsep}../other")
    relative = book.inputs_digest("quick")
    monkeypatch.setenv("LEAKLAB_DATA", f"{tmp_path / 'data'}{os.pathsep}{tmp_path.parent / 'other'}")
    assert book.inputs_digest("quick") == relative
    monkeypatch.delenv("LEAKLAB_DATA")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "a.ipynb").write_text("{}")
    monkeypatch.setattr(book, "ROOT", tmp_path)
    monkeypatch.setattr(book, "INPUTS", ("notebooks", "results"))  # results/ absent: no files, no error
    before = book.inputs_digest("quick")
    (tmp_path / "notebooks" / "a.ipynb").write_text('{"changed": 1}')
    assert book.inputs_digest("quick") != before  # an edited notebook is a new build
