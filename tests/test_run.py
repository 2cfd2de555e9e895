"""`leaklab run` and `leaklab compute` end to end, and the same parameter checks through plain papermill."""

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leaklab import experiments, records, runner, toy2d

ROOT = experiments.ROOT
SMALL = ["-p", "seed=7", "-p", "n_points=16", "-p", "eps=0.15", "-p", "n_seeds=12", "-p", "sweep_seeds=3",
         "-p", "sweep_points=3", "-p", "steps=400", "-p", "student_steps=300", "-p", "attack=fgsm"]


def leaklab(*args):
    return subprocess.run([sys.executable, "-m", "leaklab.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def overrides(args):
    """SMALL as the {name: value} dict runner.compute takes (values still strings, as the CLI passes them)."""
    return dict(arg.split("=", 1) for arg in args[1::2])


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    runs = []
    for _ in range(2):
        proc = leaklab("run", "toy2d", *SMALL, "--results", str(out))
        assert proc.returncode == 0, proc.stderr
        runs.append(proc)
    paths = sorted(out.glob("*.json"))
    assert len(paths) == 2  # no record overwrites another
    return [records.load(p) for p in paths], runs


@pytest.mark.book  # executes the notebook (papermill)
def test_record_is_complete_and_consistent(two_runs):
    (record, _), (proc, _) = two_runs
    p = record["params"]
    assert (p["seed"], p["n_points"], p["eps"], p["n_seeds"], p["attack"]) == (7, 16, 0.15, 12, "fgsm")
    assert record["profile"] == "quick" and record["experiment"] == "toy2d"
    assert set(record["metrics"]) == set(experiments.EXPERIMENTS["toy2d"].metrics)
    # one row per seed of the population, and the metrics are exactly what those rows summarize to
    rows = record["per_seed"]
    assert [r["seed"] for r in rows] == list(range(7, 7 + 12)) and {r["n_points"] for r in rows} == {16}
    assert record["metrics"] == records.plain(toy2d.summarize(rows))
    assert record["metrics"] == records.pooled("toy2d", [record])
    sweep = record["series"]["sweep"]
    assert len(sweep["eps"]) == 3 and sweep["seeds"] == [7, 8, 9]
    assert record["paper"]["student_correct_mean"] == 23
    prov = record["provenance"]
    assert prov["wall_time_s"] > 0 and prov["torch"] and prov["date"]
    assert re.fullmatch(r"[0-9a-f]{40}(-dirty)?", prov["git_commit"])
    assert record["device"].startswith("cpu") and record["data"]["sources"][0].startswith("synthetic")
    assert "executed_notebook" not in record and "data_source" not in record
    # the figure seed's panels are kept beside the record, and belong to its first seed
    assert record["files"] == [".npz"]
    panels = toy2d.panels_from_record(record)
    assert panels["seed"] == 7 and panels["student_correct"] == rows[0]["student_correct"]
    executed = re.search(r"^notebook: (.+)$", proc.stdout, re.M).group(1)
    assert Path(executed).exists()
    assert "record:" in proc.stdout and "paper: 23" in proc.stdout


@pytest.mark.book  # executes the notebook (papermill)
def test_same_parameters_give_the_same_metrics(two_runs):
    (a, b), _ = two_runs
    assert a["metrics"] == b["metrics"]


@pytest.mark.book  # executes the notebook (papermill)
def test_compute_and_run_give_the_same_record(two_runs, tmp_path):
    """`leaklab compute` (no notebook) and `leaklab run` (the notebook calls the same function) agree."""
    (ran, _), _ = two_runs
    path, _ = runner.compute("toy2d", "quick", overrides(SMALL), results_dir=tmp_path, log=lambda m: None)
    computed = records.load(path)
    for key in ("params", "metrics", "per_seed", "series", "paper", "data", "files"):
        assert computed[key] == ran[key], key
    for name, array in records.arrays(ran).items():
        assert (records.arrays(computed)[name] == array).all(), name


@pytest.mark.parametrize("args, words", [
    (["-p", "eps=-0.1"], ["eps", "out of range"]),
    (["-p", "n_points=33"], ["n_points", "4 to 32"]),
    (["-p", "n_seeds=many"], ["n_seeds", "integer"]),
    (["-p", "epsilon=0.1"], ["unknown parameter 'epsilon'"]),
    (["--profile", "huge"], ["unknown profile"]),
])
@pytest.mark.parametrize("command", ["run", "compute"])
def test_bad_input_fails_fast_with_one_message(command, args, words):
    start = time.perf_counter()
    proc = leaklab(command, "toy2d", *args)
    assert proc.returncode == 2
    assert time.perf_counter() - start < 10  # generous: the point is "before any kernel or training"
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    for word in words:
        assert word in proc.stderr


@pytest.mark.parametrize("args, words", [
    (["--results", "/proc/leaklab-cannot-write-here"], ["cannot write the record", "/proc/leaklab-cannot"]),
    (["-p", "device=cuda"], ["device='cuda'", "no GPU"]),
    (["-p", "students=teacher_labels,everyone"], ["students=", "teacher_labels, random_wrong, true_labels"]),
])
@pytest.mark.parametrize("command", ["run", "compute"])
def test_what_would_fail_later_fails_first_with_one_message(command, args, words, tmp_path):
    """An unwritable results directory, a missing GPU or an unknown network: refused before any data is
    read or any net trains (a toy run once trained for 56 s and then lost its work to /proc)."""
    if "device=cuda" in args:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a GPU")
    start = time.perf_counter()
    proc = leaklab(command, "cifar_mislabeled", *args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert time.perf_counter() - start < 20  # torch's import at most; no data, no training
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    for word in words:
        assert word in proc.stderr


@pytest.mark.parametrize("command", ["run", "compute"])
def test_unknown_experiment(command):
    proc = leaklab(command, "cifar_toy")
    assert proc.returncode == 2 and "unknown experiment 'cifar_toy'" in proc.stderr


@pytest.mark.book  # executes the notebook (papermill)
@pytest.mark.parametrize("params, words", [
    ({"n_points": 33}, ["n_points=33 is out of range"]),
    ({"eps": -0.5}, ["eps=-0.5 is out of range"]),
    ({"n_pionts": 32}, ["unknown parameter 'n_pionts'"]),
])
def test_plain_papermill_checks_the_same_way(tmp_path, params, words):
    import papermill

    start = time.perf_counter()
    with pytest.raises(papermill.PapermillExecutionError) as err:
        papermill.execute_notebook(str(ROOT / "notebooks" / "toy2d.ipynb"), str(tmp_path / "out.ipynb"),
                                   parameters=params, cwd=str(ROOT / "notebooks"), progress_bar=False,
                                   kernel_name="python3")
    assert err.value.ename == "ParameterError"
    for word in words:
        assert word in err.value.evalue
    assert time.perf_counter() - start < 30  # kernel start and imports; no training


@pytest.mark.parametrize("error, code, prefix", [
    (experiments.RunError("toy2d: cell 3 failed"), 1, "leaklab: toy2d: cell 3 failed"),
    ("data", 2, "leaklab: data: MNIST/raw/x.gz was not found"),
])
@pytest.mark.parametrize("command", ["run", "compute"])
def test_a_failed_run_or_missing_data_exits_with_a_message_not_a_traceback(monkeypatch, capsys, error, code,
                                                                          prefix, command):
    from leaklab import cli
    from leaklab.data import DataError

    error = DataError("MNIST/raw/x.gz was not found") if error == "data" else error

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(runner, command, fail)
    assert cli.main([command, "toy2d"]) == code
    assert capsys.readouterr().err.startswith(prefix)


def test_params_lists_one_experiment_or_refuses_an_unknown_one(capsys):
    from leaklab import cli

    assert cli.main(["params", "fgsm_leak"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("fgsm_leak:") and "labels" in out and "toy2d:" not in out
    assert cli.main(["params", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_a_full_profile_run_with_other_parameters_says_so_before_it_starts():
    """A shrunk full run would otherwise look paper scale; the parts a run may hold alone, the seeds and the
    device change nothing, and another setting makes a variant."""
    full = experiments.resolve("fgsm_leak", "full", {"epochs": 5, "labels": "true"})
    assert "epochs 5 (full: 60)" in runner.off_profile_note("fgsm_leak", full)
    assert "list its record" in runner.off_profile_note("fgsm_leak", full)
    assert runner.off_profile_note("fgsm_leak", experiments.resolve("fgsm_leak", "full", {"seed": 10,
                                                                                          "device": "cpu"})) is None
    assert runner.off_profile_note("fgsm_leak", experiments.resolve("fgsm_leak", "quick")) is None
    parts = {"cells_seeds": 0, "label_seeds": 0, "map_eps_points": 0, "dataset": "cifar10"}
    variant = runner.off_profile_note("leak_conditions", experiments.resolve("leak_conditions", "full", parts))
    assert "dataset cifar10 (full: fashion_mnist)" in variant and "a variant" in variant
    parts.pop("dataset")
    assert runner.off_profile_note("leak_conditions", experiments.resolve("leak_conditions", "full", parts)) is None


def test_a_part_may_pick_cells_of_the_full_grid_but_not_add_cells_off_it():
    """One sitting's share of leak_conditions' map (its largest eps, its two widest nets) is paper scale; a map
    with its own eps would put cells the full profile lacks beside the grid's."""
    alone = {"n_seeds": 0, "cells_seeds": 0, "label_seeds": 0}
    share = {**alone, "map_eps_points": 1, "map_width_min": 8, "map_widths": 2}
    assert runner.off_profile_note("leak_conditions", experiments.resolve("leak_conditions", "full", share)) is None
    stray = {**alone, "map_eps_max": 80.0}
    note = runner.off_profile_note("leak_conditions", experiments.resolve("leak_conditions", "full", stray))
    assert "map eps 26.6667, 53.3333, 80 (full: 34, 68, 102)" in note and "list its record" in note
    cells = {"cells_seeds": 2, "cells_eps_points": 4}
    record = {"params": {**experiments.resolve("leak_conditions", "full", stray), **cells}, "profile": "full"}
    assert set(records.off_profile("leak_conditions", record)) == {"map eps", "cell eps"}
