"""Run records: provenance, undefined statistics, files beside the JSON, no machine-local paths, checkpoint
keys that cover the data, and `leaklab compute` without Jupyter."""

import json
import math
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tiny import TINY

from leaklab import data, experiments, records, runner

# toy2d small enough for a second or two; its one seed's original net fits its 8 points
SHARED = experiments.ROOT.parent / "shared" / "data"
CIFAR_BIN = os.environ.get("LEAKLAB_CIFAR_BIN")
needs_mnist = pytest.mark.skipif(not os.environ.get("LEAKLAB_DATA"), reason="LEAKLAB_DATA not set")
needs_cifar_bin = pytest.mark.skipif(
    not (CIFAR_BIN and (Path(CIFAR_BIN) / "cifar-10-batches-bin" / "data_batch_1.bin").is_file()),
    reason="LEAKLAB_CIFAR_BIN does not hold the CIFAR-10 binary built from ../shared/data")


def quiet(message):
    pass


def no_nan(text):
    """JSON text parsed strictly: NaN and Infinity are not JSON, and a record must not contain them."""
    def reject(token):
        raise ValueError(f"{token} in a record")
    return json.loads(text, parse_constant=reject)


# --- small pieces ---------------------------------------------------------------------------------

def test_plain_stores_undefined_numbers_as_null():
    value = {"sd": math.nan, "rows": [math.inf, 1.5, {"x": -math.inf}], "pair": (2, "a"), "n": None}
    assert records.plain(value) == {"sd": None, "rows": [None, 1.5, {"x": None}], "pair": [2, "a"], "n": None}


def test_mean_sd_of_one_value_has_no_sd():
    mean, sd = records.mean_sd([3])
    assert mean == 3.0 and math.isnan(sd)
    assert records.mean_sd([1, 3]) == (2.0, pytest.approx(math.sqrt(2)))
    rows = [{"a": 1, "b": 5}, {"a": 3, "b": 5}]
    assert records.summarize_rows(rows, spread=("a",)) == {"a": 2.0, "a_sd": pytest.approx(math.sqrt(2)),
                                                                       "b": 5.0}


# --- provenance -----------------------------------------------------------------------------------

def git(repo, *args):
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", *args], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A one-commit git repository with a clean tree."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "tracked.txt").write_text("one\n")
    git(root, "add", "tracked.txt")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_git_commit_is_head_and_says_when_the_tree_is_dirty(repo):
    head = git(repo, "rev-parse", "HEAD")
    assert records.git_commit(root=repo) == head
    (repo / "untracked.txt").write_text("not part of the code\n")
    assert records.git_commit(root=repo) == head  # untracked files do not make the code differ
    (repo / "tracked.txt").write_text("two\n")
    assert records.git_commit(root=repo) == head + "-dirty"
    git(repo, "commit", "-q", "-am", "second")
    assert records.git_commit(root=repo) == git(repo, "rev-parse", "HEAD") != head


def test_a_record_carries_the_commit_of_the_checkout(repo, tmp_path, monkeypatch):
    # the project's own tree may be mid-edit; a throwaway checkout has a known state
    monkeypatch.setattr(experiments, "ROOT", repo)
    _, clean = runner.compute("toy2d", "quick", TINY["toy2d"], results_dir=tmp_path / "a", log=quiet)
    assert clean["provenance"]["git_commit"] == git(repo, "rev-parse", "HEAD")
    (repo / "tracked.txt").write_text("edited\n")
    _, dirty = runner.compute("toy2d", "quick", TINY["toy2d"], results_dir=tmp_path / "b", log=quiet)
    assert dirty["provenance"]["git_commit"] == git(repo, "rev-parse", "HEAD") + "-dirty"


# --- a record on disk -----------------------------------------------------------------------------

def test_a_one_seed_record_stores_its_undefined_sd_as_null_and_loads_back(tmp_path):
    path, record = runner.compute("toy2d", "quick", TINY["toy2d"], results_dir=tmp_path, log=quiet)
    assert path.parent == tmp_path and path.suffix == ".json"
    on_disk = no_nan(path.read_text())
    assert on_disk["per_seed"][0]["fits"]  # one fitted seed: a mean, but no spread
    assert on_disk["metrics"]["student_correct_sd"] is None
    assert on_disk["metrics"]["student_correct_mean"] == on_disk["per_seed"][0]["student_correct"]
    loaded = records.load(path)
    assert loaded["_path"] == str(path)
    assert {k: v for k, v in loaded.items() if k != "_path"} == on_disk
    assert loaded["metrics"] == records.plain(record["metrics"])
    assert records.load_all(tmp_path)[0]["metrics"] == loaded["metrics"]
    # the figure's arrays are written beside the JSON and read back from there
    assert path.with_suffix(".npz").is_file() and loaded["files"] == [".npz"]
    from_disk, in_memory = records.arrays(loaded), records.arrays(record)
    assert set(from_disk) == set(in_memory) and all((from_disk[k] == in_memory[k]).all() for k in in_memory)


def test_save_writes_every_file_beside_the_json_and_keeps_bytes_out_of_it(tmp_path):
    record = {"experiment": "toy2d", "metrics": {"sd": math.nan}, "files": [".npz", ".pt"],
              "_files": {".npz": records.to_npz(a=np.arange(3)), ".pt": b"\x00model"}}
    path = records.save(record, tmp_path / "run.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.npz", "run.pt"]  # no temporary files
    assert no_nan(path.read_text()) == {"experiment": "toy2d", "metrics": {"sd": None}, "files": [".npz", ".pt"]}
    loaded = records.load(path)
    assert records.file_bytes(loaded, ".pt") == b"\x00model" and records.arrays(loaded)["a"].tolist() == [0, 1, 2]
    with pytest.raises(FileNotFoundError):
        records.file_bytes(loaded, ".png")


@needs_mnist
def test_records_name_no_directory_of_this_machine(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", os.environ["LEAKLAB_DATA"])  # check_data rewrites it: restore after
    local = [str(experiments.ROOT), str(SHARED.parent), str(data._cache_dir()), str(tmp_path), str(Path.home()),
             *(d for d in os.environ["LEAKLAB_DATA"].split(os.pathsep) if d),
             *(str(Path(d).resolve()) for d in os.environ["LEAKLAB_DATA"].split(os.pathsep) if d)]
    small = {name: TINY[name] for name in ("toy2d", "gradient_leak")}
    for name, overrides in small.items():
        path, _ = runner.compute(name, "quick", overrides, results_dir=tmp_path / name, log=quiet)
        text = path.read_text()
        assert no_nan(text)["data"]["sources"]
        for place in local:
            assert place not in text, f"the {name} record names {place}"


# --- checkpoints never cross data -------------------------------------------------------------------

def test_an_atomic_write_is_on_disk_before_it_replaces_the_old_file_and_a_failed_one_leaves_it(tmp_path,
                                                                                              monkeypatch):
    from leaklab import files

    path = tmp_path / "record.json"
    files.write_atomic(path, "old")
    with pytest.raises(RuntimeError):
        with files.atomic(path) as tmp:
            Path(tmp).write_text("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "old" and [f.name for f in tmp_path.iterdir()] == ["record.json"]
    events, fsync, replace = [], os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (events.append(("fsync", os.fstat(fd).st_size)), fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (events.append(("replace", Path(b).name)), replace(a, b)))
    files.write_atomic(path, "new!")
    assert events[:2] == [("fsync", 4), ("replace", "record.json")] and path.read_text() == "new!"


def test_log_lines_show_the_home_directory_as_a_tilde():
    """A log line lands in the executed page: it names a checkpoint under ~, not this machine's home."""
    from leaklab import files

    assert files.shown(Path.home() / ".cache" / "leaklab" / "x.pt") == "~/.cache/leaklab/x.pt"
    assert files.shown("/tmp/elsewhere/x.pt") == "/tmp/elsewhere/x.pt"


def test_checkpoint_dir_depends_on_the_data():
    p = SimpleNamespace(**experiments.resolve("cifar_mislabeled", "quick"))
    one = records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64, "b" * 64])
    assert one == records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64, "b" * 64])
    assert one != records.checkpoint_dir("cifar_mislabeled", p, ["c" * 64, "b" * 64])
    assert one != records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64 + "[:1000]", "b" * 64])
    assert one != records.checkpoint_dir("cifar_mislabeled", p)


def test_checkpoints_never_cross_arithmetic(monkeypatch):
    """bf16 autocast changes the numbers, and a CPU's own bf16 units switch it on: pieces trained with it (or on a
    GPU) are never resumed without it."""
    from leaklab import training

    p = SimpleNamespace(**experiments.resolve("cifar_mislabeled", "quick"))

    def key():
        return records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64], training.arithmetic("cpu"))

    monkeypatch.setenv("LEAKLAB_BF16", "1")
    with_bf16 = key()
    monkeypatch.setenv("LEAKLAB_BF16", "0")
    eager = f"cpu fp32 eager torch {torch.__version__}"
    assert key() != with_bf16 and training.arithmetic("cpu") == eager
    assert key() == records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64], eager) != \
        records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64], eager.replace("cpu", "cuda"))
    monkeypatch.setenv("LEAKLAB_COMPILE", "1")  # a compiled run's pieces are not resumed eager, nor the other way
    assert key() != records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64], eager)


def test_runs_that_differ_only_in_which_nets_they_train_share_checkpoints(tmp_path, monkeypatch):
    """Seeds and the choice of networks name the checkpoint files; everything else keys the directory, which
    lies outside the work tree (LEAKLAB_CHECKPOINTS, else ~/.cache/leaklab/checkpoints)."""
    def key(**overrides):
        p = SimpleNamespace(**experiments.resolve("cifar_mislabeled", "full", overrides))
        return records.checkpoint_dir("cifar_mislabeled", p, ["a" * 64])

    monkeypatch.delenv("LEAKLAB_CHECKPOINTS", raising=False)
    assert key().is_relative_to(Path.home() / ".cache" / "leaklab" / "checkpoints")
    assert key() == key(seed=10, n_seeds=1) == key(students="teacher_labels") == key(students="random_wrong")
    assert key() != key(teacher_lr=0.1) and key() != key(device="cpu") and key() != key(epochs=49)
    monkeypatch.setenv("LEAKLAB_CHECKPOINTS", str(tmp_path))
    assert key().is_relative_to(tmp_path) and not key().is_relative_to(experiments.ROOT)


@pytest.mark.heavy
@needs_cifar_bin
def test_a_run_on_other_data_does_not_resume_from_checkpoints_of_this_data(tmp_path, monkeypatch):
    """The same command on a copy of CIFAR-10 with one changed pixel must train afresh, not pick up
    the networks trained on the verified copy."""
    from leaklab import training

    checkpoint_dirs, reads = [], []
    real_dir, real_load = records.checkpoint_dir, training.load_checkpoint

    def dir_in_tmp(name, params, data=(), arithmetic=""):  # the real key, under tmp_path, not the checkpoint root
        d = tmp_path / "checkpoints" / real_dir(name, params, data, arithmetic).relative_to(records.checkpoint_root())
        checkpoint_dirs.append(d)
        return d

    def load(path):
        reads.append(Path(path))
        return real_load(path)

    monkeypatch.setattr(records, "checkpoint_dir", dir_in_tmp)
    monkeypatch.setattr(training, "load_checkpoint", load)
    tiny = TINY["cifar_mislabeled"]

    def run(data_dirs):
        monkeypatch.setenv("LEAKLAB_DATA", os.pathsep.join(data_dirs))
        data._clear_cache()
        return runner.compute("cifar_mislabeled", "quick", tiny, results_dir=tmp_path / "results", log=quiet)[1]

    verified = run([str(SHARED), CIFAR_BIN])
    assert any(checkpoint_dirs[0].iterdir())  # the verified run left its networks there

    # The changed copy: data_batch_1.bin with one pixel of the first image changed; the other files are
    # links to the verified ones (the same bytes, without copying 150 MB).
    copy = tmp_path / "changed"
    bins = copy / "cifar-10-batches-bin"
    bins.mkdir(parents=True)
    for f in (Path(CIFAR_BIN) / "cifar-10-batches-bin").iterdir():
        (bins / f.name).symlink_to(f)
    (bins / "data_batch_1.bin").unlink()
    changed = bytearray((Path(CIFAR_BIN) / "cifar-10-batches-bin" / "data_batch_1.bin").read_bytes())
    changed[1] ^= 0xFF  # byte 0 is the first image's label; byte 1 its first red pixel
    (bins / "data_batch_1.bin").write_bytes(changed)
    monkeypatch.setenv("LEAKLAB_CACHE", str(tmp_path / "cache"))  # its parsed arrays stay out of the real cache

    other = run([str(SHARED), str(copy)])
    assert len(checkpoint_dirs) == 2 and checkpoint_dirs[1] != checkpoint_dirs[0]
    assert any(checkpoint_dirs[1].iterdir())  # trained afresh, with its own checkpoints
    assert not [r for r in reads if checkpoint_dirs[0] in r.parents]  # nothing read from the other data's
    assert other["params"] == verified["params"]
    assert any("unverified" in s for s in other["data"]["sources"])
    assert not any("unverified" in s for s in verified["data"]["sources"])
    assert other["data"]["sha256"][0] != verified["data"]["sha256"][0]  # the training set
    assert other["data"]["sha256"][1] == verified["data"]["sha256"][1]  # the test set is the same file


def test_a_record_resumed_over_sittings_says_how_long_its_epochs_trained():
    series = {"seeds": [{"teacher_history": [{"epoch": 1, "seconds": 3000.0}, {"epoch": 2, "seconds": 3000.0}],
                         "histories": {"teacher_labels": [{"epoch": 1, "seconds": 1200.0, "loss": 2.0}]}}]}
    assert records.training_seconds(series) == 7200.0
    resumed = {"provenance": {"wall_time_s": 1500.0}, "series": series}
    assert records.time_text(resumed) == ("2 h 00 min of training, partly in earlier runs it resumed from (this one "
                                          "25 min, evaluation included)")
    one_go = {"provenance": {"wall_time_s": 7500.0}, "series": series}
    assert records.time_text(one_go) == "2 h 05 min"
    # a quick run resumed from checkpoints: its minutes, not "0.0 h"
    quick = {"provenance": {"wall_time_s": 20.0}, "series": {"h": [{"epoch": 1, "seconds": 150.0}]}}
    assert records.time_text(quick) == ("2 min of training, partly in earlier runs it resumed from (this one 20 s, "
                                        "evaluation included)")
    # a seed checkpointed whole keeps its training time (mnist_from_fashion); one from before it was kept, none
    seeds = [{"train_seconds": 80.0}, {"train_seconds": None}]
    whole = {"provenance": {"wall_time_s": 6.0}, "series": {"seeds": seeds}}
    assert records.time_text(whole).startswith("1 min of training, partly in earlier runs")


def test_a_cpu_records_whether_bf16_autocast_ran(monkeypatch):
    """A CPU with bf16 units trains under bf16 autocast by default, which changes the numbers: the record's device
    line says which ran, as it does on CUDA. Both ways, whatever this CPU has (LEAKLAB_BF16 decides)."""
    from leaklab import training

    for forced, said in (("1", "on"), ("0", "off")):
        monkeypatch.setenv("LEAKLAB_BF16", forced)
        line = training.describe_device("cpu")
        assert line.startswith("cpu (") and line.endswith(f"bf16 autocast {said})")
