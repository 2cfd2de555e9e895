"""benchmarks/gpu_queue.py's decisions, which spend a lent GPU's few minutes: which way each network trains,
which items are already recorded, and the checkpoints that carry a cut item to the next session."""

import importlib.util
import json
import os
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("gpu_queue", ROOT / "benchmarks" / "gpu_queue.py")
gpu_queue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_queue)
spec = importlib.util.spec_from_file_location("gpu_carry", ROOT / "benchmarks" / "gpu_carry.py")
gpu_carry = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_carry)

RESNET110 = "fgsm_leak full: ResNet-110 (n=18), half FGSM"
FGSM_FULL = {"profile": "full", "epochs": 60, "n_train": 50000, "n_eval": 10000, "eps_points": 9}


def bench(eager_fp32_rate):
    """A bench.json row shaped as bench_cifar.py writes it on a GPU (bf16 on by default, compiled)."""
    return {"nets": {RESNET110: {
        "ours": 1607.0, "start_up_s": 144.0, "compiled": {"rate": 1607.0, "start_up_s": 144.0},
        "eager": {"rate": 1461.1, "start_up_s": 5.0},
        "eager_other_bf16": {"rate": eager_fp32_rate, "start_up_s": 5.0, "bf16": False},
        "variants": {"eval, batch 1000": 54452.3}}}}


def test_the_fastest_measured_way_wins_with_its_environment(tmp_path):
    fast_fp32 = bench(1848.9)
    way = gpu_queue.fastest_way("fgsm_leak", FGSM_FULL, fast_fp32, tmp_path)
    assert way == "torch.compile off, bf16 off"
    assert gpu_queue.measured_ways("fgsm_leak", FGSM_FULL, fast_fp32)[way][2] == {"LEAKLAB_COMPILE": "0",
                                                                                 "LEAKLAB_BF16": "0"}
    # slower without bf16: eager bf16 then, since compiling's 10% does not pay for its start-up (2.4 min, twice)
    assert gpu_queue.fastest_way("fgsm_leak", FGSM_FULL, bench(1000.0), tmp_path) == "torch.compile off"
    # compiling pays once its start-up is small beside what it saves
    quick_compile = bench(1000.0)
    quick_compile["nets"][RESNET110]["compiled"]["start_up_s"] = 20.0
    assert gpu_queue.fastest_way("fgsm_leak", FGSM_FULL, quick_compile, tmp_path) == "torch.compile on"


def test_seeds_of_one_table_keep_the_arithmetic_of_those_already_made(tmp_path):
    write_record(tmp_path, "fgsm_leak", 0, {"labels": "true"},
                 device="cuda (NVIDIA H200; bf16 autocast on, torch.compile off)")
    # bf16 off would be faster, but seed 0 trained with bf16: the next seed does too
    assert gpu_queue.fastest_way("fgsm_leak", FGSM_FULL, bench(1848.9), tmp_path) == "torch.compile off"


def test_a_compile_that_failed_is_never_chosen(tmp_path):
    failed = bench(1000.0)
    failed["nets"][RESNET110]["compile_failed"] = True
    failed["nets"][RESNET110]["compiled"]["start_up_s"] = 20.0
    assert gpu_queue.fastest_way("fgsm_leak", FGSM_FULL, failed, tmp_path) == "torch.compile off"


def write_record(results, name, seed, params, device="cpu (2 threads)"):
    folder = results / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"20261128-000000-full-seed{seed}.json").write_text(
        json.dumps({"params": params, "per_seed": [{"seed": seed}], "device": device}))


def test_an_item_is_recorded_only_with_its_seed_and_every_network_it_asks_for(tmp_path):
    write_record(tmp_path, "cifar_mislabeled", 0, {"students": "teacher_labels,random_wrong,true_labels"})
    write_record(tmp_path, "cifar_mislabeled", 20, {"students": "teacher_labels"})
    write_record(tmp_path, "fgsm_leak", 0, {"labels": "true"})
    assert gpu_queue.recorded("cifar_mislabeled", {"students": "all", "seed": 0}, "full", tmp_path)
    assert not gpu_queue.recorded("cifar_mislabeled", {"students": "all", "seed": 20}, "full", tmp_path)
    assert gpu_queue.recorded("cifar_mislabeled", {"students": "teacher_labels", "seed": 20}, "full", tmp_path)
    assert gpu_queue.recorded("fgsm_leak", {"labels": "true", "seed": 0}, "full", tmp_path)
    assert not gpu_queue.recorded("fgsm_leak", {"labels": "predicted", "seed": 0}, "full", tmp_path)
    assert not gpu_queue.recorded("fgsm_leak", {"labels": "true", "seed": 0}, "quick", tmp_path)


def test_a_cut_items_checkpoints_travel_and_never_overwrite_newer_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(gpu_queue, "WORK", tmp_path / "work")
    piece = tmp_path / "work" / "checkpoints" / "fgsm_leak" / "abc" / "seed0-true.pt"
    piece.parent.mkdir(parents=True)
    piece.write_bytes(b"epoch 12")
    out = tmp_path / "out"
    out.mkdir()
    target, files = gpu_queue.pack_checkpoints(out, "fgsm_leak labels=true seed=0", since=0)
    assert target.name == "ckpt-fgsm_leak_labels_true_seed_0.tar" and files == [piece]
    with tarfile.open(target) as tar:
        assert tar.getnames() == ["fgsm_leak/abc/seed0-true.pt"]

    # the next session's machine: a fresh WORK gets the carried file
    monkeypatch.setattr(gpu_queue, "WORK", tmp_path / "next")
    carried = gpu_queue.unpack_checkpoints(out)
    assert carried == {target.name: ["fgsm_leak/abc/seed0-true.pt"]}
    resumed = tmp_path / "next" / "checkpoints" / "fgsm_leak" / "abc" / "seed0-true.pt"
    assert resumed.read_bytes() == b"epoch 12"
    # a second call on the same machine: what the first call trained further is kept
    resumed.write_bytes(b"epoch 20")
    gpu_queue.unpack_checkpoints(out)
    assert resumed.read_bytes() == b"epoch 20"
    # a cut before the first new checkpoint still sends the carried one on
    old = os.path.getmtime(resumed) + 100
    _, files = gpu_queue.pack_checkpoints(out, "fgsm_leak labels=true seed=0", since=old,
                                          carried=carried[target.name])
    assert files == [resumed]


@pytest.mark.parametrize("key", ["fgsm_leak labels=true seed=10", "cifar_mislabeled students=all seed=20"])
def test_checkpoint_files_are_named_as_the_device_tool_returns_them(key, tmp_path):
    name = gpu_queue.checkpoint_tar(tmp_path, key).name
    assert all(c.isalnum() or c in "._-" for c in name)


def test_the_carry_keeps_only_checkpoints_of_items_not_yet_recorded(tmp_path):
    """benchmarks/gpu_carry.py takes a cut item's checkpoints to the next lent GPU until its record exists."""
    keep, results = tmp_path / "keep", tmp_path / "results"
    keep.mkdir()
    fgsm, cifar = (gpu_queue.checkpoint_tar(keep, gpu_queue.item_key(name, overrides)) for name, overrides in [
        ("fgsm_leak", {"labels": "true", "seed": 0}), ("cifar_mislabeled", {"students": "all", "seed": 20})])
    for path in [fgsm, cifar, keep / "ckpt-an_item_no_queue_has.tar"]:
        path.write_bytes(b"checkpoints")
    assert gpu_carry.unfinished_checkpoints(keep, results) == sorted([fgsm, cifar])
    write_record(results, "cifar_mislabeled", 20, {"students": "all"})
    assert gpu_carry.unfinished_checkpoints(keep, results) == [fgsm]


def test_kept_records_land_whole_and_json_last(tmp_path):
    """A call's records come back in results.tar; `keep` moves each file into results/ whole, a record's .json
    after the arrays it names, and leaves nothing of the unpacking behind."""
    source = tmp_path / "call"
    for name, body in [("results/fgsm_leak/r.json", b"{}"), ("results/fgsm_leak/r.npz", b"bits"),
                       ("results/fgsm_leak/r.pt", b"weights")]:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_bytes(body)
    with tarfile.open(tmp_path / "results.tar", "w") as tar:
        for name in ("results/fgsm_leak/r.json", "results/fgsm_leak/r.npz", "results/fgsm_leak/r.pt"):
            tar.add(source / name, arcname=name)
    root = tmp_path / "clone"
    root.mkdir()
    order = gpu_carry.unpack_records(tmp_path / "results.tar", root)
    assert order[-1] == "results/fgsm_leak/r.json" and len(order) == 3
    assert (root / "results/fgsm_leak/r.pt").read_bytes() == b"weights"
    assert sorted(p.name for p in root.iterdir()) == ["results"]
