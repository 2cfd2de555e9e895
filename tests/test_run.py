"""`leaklab run` end to end, and the same checks through plain papermill."""

import json
import subprocess
import sys
import time

import pytest

from leaklab import experiments

ROOT = experiments.ROOT
SMALL = ["-p", "seed=7", "-p", "n_points=16", "-p", "eps=0.15", "-p", "n_seeds=12", "-p", "sweep_seeds=3",
         "-p", "sweep_points=3", "-p", "steps=400", "-p", "student_steps=300", "-p", "attack=fgsm"]


def leaklab(*args):
    return subprocess.run([sys.executable, "-m", "leaklab.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


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
    return [json.loads(p.read_text()) for p in paths], runs


def test_record_is_complete_and_consistent(two_runs):
    (record, _), (proc, _) = two_runs
    p = record["params"]
    assert (p["seed"], p["n_points"], p["eps"], p["n_seeds"], p["attack"]) == (7, 16, 0.15, 12, "fgsm")
    assert record["profile"] == "quick" and record["experiment"] == "toy2d"
    m = record["metrics"]
    n = p["n_points"]
    assert set(m) == set(experiments.EXPERIMENTS["toy2d"].metrics)
    assert 0 <= m["student_correct_mean"] <= n and 0 <= m["student_correct_median"] <= n
    assert 0 <= m["flipped_mean"] <= n and 0 < m["original_fit_rate"] <= 1
    assert 0 <= m["student_above_chance"] <= 1 and 0 <= m["control_correct_mean"] <= n
    assert 0 <= m["student_correct_seed"] <= n
    assert record["paper"]["student_correct_mean"] == 23
    prov = record["provenance"]
    assert prov["wall_time_s"] > 0 and prov["torch"] and prov["date"] and prov["git_commit"]
    assert record["device"].startswith("cpu") and record["data_source"].startswith("synthetic")
    assert (ROOT / record["executed_notebook"]).exists()
    assert "record:" in proc.stdout and "paper: 23" in proc.stdout


def test_same_parameters_give_the_same_metrics(two_runs):
    (a, b), _ = two_runs
    assert a["metrics"] == b["metrics"]


@pytest.mark.parametrize("args, words", [
    (["-p", "eps=-0.1"], ["eps", "out of range"]),
    (["-p", "n_points=33"], ["n_points", "4 to 32"]),
    (["-p", "n_seeds=many"], ["n_seeds", "integer"]),
    (["-p", "epsilon=0.1"], ["unknown parameter 'epsilon'"]),
    (["--profile", "huge"], ["unknown profile"]),
])
def test_bad_input_fails_fast_with_one_message(args, words):
    start = time.perf_counter()
    proc = leaklab("run", "toy2d", *args)
    assert proc.returncode == 2
    assert time.perf_counter() - start < 10  # generous: the point is "before any kernel or training"
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    for word in words:
        assert word in proc.stderr


def test_unknown_experiment():
    proc = leaklab("run", "cifar_toy")
    assert proc.returncode == 2 and "unknown experiment 'cifar_toy'" in proc.stderr


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
def test_a_failed_run_or_missing_data_exits_with_a_message_not_a_traceback(monkeypatch, capsys, error, code,
                                                                          prefix):
    from leaklab import cli, runner
    from leaklab.data import DataError

    error = DataError("MNIST/raw/x.gz was not found") if error == "data" else error

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(runner, "run", fail)
    assert cli.main(["run", "toy2d"]) == code
    assert capsys.readouterr().err.startswith(prefix)
