"""What a `gpu_queue.py` call takes to a lent GPU, and what it brings back, kept across sessions and work trees.

    python benchmarks/gpu_carry.py prepare [--pin COMMIT]   # before a call: .devdata/ and .devrun/
    python benchmarks/gpu_carry.py keep DIR                 # after it: DIR is the call's files (files_at)

A lent GPU comes for minutes, maybe in another session, maybe to another clone; what its calls need lives in
two ignored folders of the work tree, which the device tool carries (`carry: [".devdata", ".devrun"]`):
- `.devdata/`: the JPEG copy of CIFAR-10 and the script that writes its binary layout (from ../shared/data);
- `.devrun/`: the library source of one pinned commit (`src/`, `COMMIT`), the speeds the queue projects with
  (`bench.json`) and the checkpoints of an item an earlier call cut at its deadline (`ckpt-*.tar`).
A checkpoint resumes only under the source that wrote it (the key covers it), so the pin travels with the
checkpoints. `keep` puts the call's checkpoints, speeds and pin in a folder outside the work tree
(LEAKLAB_GPU_CARRY, by default ~/.cache/leaklab/gpu-carry) and unpacks its records into results/ (to commit);
`prepare` makes both folders again from there, on a new clone too, as long as the machine keeps that folder.
"""

import argparse
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from leaklab import files

ROOT = Path(__file__).resolve().parents[1]
KEEP = Path(os.environ.get("LEAKLAB_GPU_CARRY", Path.home() / ".cache" / "leaklab" / "gpu-carry"))
SHARED_DATA = ROOT.parent / "shared" / "data"
MEASURED_SPEEDS = ROOT / "benchmarks" / "h200_bench.json"  # the first lease's table, for a keep folder without one

spec = importlib.util.spec_from_file_location("gpu_queue", ROOT / "benchmarks" / "gpu_queue.py")
gpu_queue = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gpu_queue)


def git(*args):
    return subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def ignore(*folders):
    """The folders in .git/info/exclude: they travel only when a call names them in `carry`."""
    exclude = Path(git("rev-parse", "--git-path", "info/exclude"))
    exclude = exclude if exclude.is_absolute() else ROOT / exclude
    exclude.parent.mkdir(parents=True, exist_ok=True)
    lines = exclude.read_text().splitlines() if exclude.exists() else []
    exclude.write_text("\n".join(lines + [f"/{f}/" for f in folders if f"/{f}/" not in lines]) + "\n")


def unfinished_checkpoints(folder, results=ROOT / "results"):
    """The cut items' checkpoint tars in `folder` whose record `results` does not hold yet."""
    keys = {gpu_queue.checkpoint_tar(Path(), gpu_queue.item_key(name, overrides)).name: (name, overrides)
            for name, overrides in gpu_queue.queue()}
    return [tar for tar in sorted(folder.glob("ckpt-*.tar"))
            if tar.name in keys and not gpu_queue.recorded(*keys[tar.name], "full", results)]


def copy_over(source, target):
    """`source` to `target`, replaced whole (`files.atomic`): an interrupted copy never leaves half a
    checkpoint, and a read-only file brought back by the device tool is replaced rather than written into."""
    with files.atomic(target) as partial:
        shutil.copy2(source, partial)


def prepare(pin):
    for needed in (SHARED_DATA / "build_cifar10_bin.py", SHARED_DATA / "cifar10-jpeg"):
        if not needed.exists():
            sys.exit(f"gpu_carry: {needed} is missing: the JPEG copy of CIFAR-10 comes from ../shared/data")
    kept_pin = (KEEP / "COMMIT").read_text().strip() if (KEEP / "COMMIT").exists() else None
    checkpoints = unfinished_checkpoints(KEEP)
    pin = git("rev-parse", pin or kept_pin or "HEAD")
    if checkpoints and pin != kept_pin:
        print(f"note: {', '.join(t.name for t in checkpoints)} came from {kept_pin[:10]}; under {pin[:10]} "
              "they will not resume, and their items start again")
    ignore(".devdata", ".devrun")
    data, run = ROOT / ".devdata", ROOT / ".devrun"
    for folder in (data, run):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
    shutil.copy2(SHARED_DATA / "build_cifar10_bin.py", data)
    shutil.copytree(SHARED_DATA / "cifar10-jpeg", data / "cifar10-jpeg")
    archive = subprocess.run(["git", "archive", pin, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(run, filter="data")
    shutil.copy2(KEEP / "bench.json" if (KEEP / "bench.json").exists() else MEASURED_SPEEDS, run / "bench.json")
    for tar in checkpoints:
        shutil.copy2(tar, run)
    # last: a prepare cut short leaves no COMMIT, which `keep` requires, so a call made from it cannot replace
    # the kept checkpoints with ones restarted from scratch
    (run / "COMMIT").write_text(pin + "\n")
    size = sum(p.stat().st_size for folder in (data, run) for p in folder.rglob("*") if p.is_file())
    print(f".devdata/ and .devrun/ ready: {size / 2**20:.1f} MiB to carry, library at {pin[:10]}, "
          f"{len(checkpoints)} cut item(s) to resume")
    print('run with carry [".devdata", ".devrun"]: export LEAKLAB_COMMIT=$(cat .devrun/COMMIT); '
          "python3 benchmarks/gpu_queue.py --skip-bench --src .devrun/src --deadline SECONDS --out $OUT")


def unpack_records(tar_path, root=ROOT):
    """A call's results.tar (paths as under results/) into `root`, each file moved into place whole and a record's
    .json after its .npz and .pt: a keep cut short never leaves a record whose arrays are missing or half
    written."""
    with tarfile.open(tar_path) as tar:
        members = sorted((m for m in tar.getmembers() if m.isfile()), key=lambda m: m.name.endswith(".json"))
        gpu_queue.extract_whole(tar, members, root)
    return [m.name for m in members]


def keep(call_dir):
    if not (call_dir / "queue.json").exists():
        sys.exit(f"gpu_carry: {call_dir} holds no queue.json: not the files of a gpu_queue.py call")
    if not (ROOT / ".devrun" / "COMMIT").exists():
        sys.exit("gpu_carry: .devrun/COMMIT is missing: keep runs in the work tree whose .devrun/ the call carried")
    KEEP.mkdir(parents=True, exist_ok=True)
    for source in [*sorted(call_dir.glob("ckpt-*.tar")), call_dir / "bench.json", ROOT / ".devrun" / "COMMIT"]:
        if source.exists():
            copy_over(source, KEEP / source.name)
    if (call_dir / "results.tar").exists():
        ignore(".unpacking-*")  # a keep killed mid-unpacking leaves its folder: never carried to the device
        unpack_records(call_dir / "results.tar")
    unfinished = unfinished_checkpoints(KEEP)
    for tar in sorted(KEEP.glob("ckpt-*.tar")):
        if tar not in unfinished:
            tar.unlink()  # its record is in results/ now
    print(f"kept in {KEEP}: {', '.join(p.name for p in sorted(KEEP.iterdir()))}; records unpacked under results/: "
          f"{git('status', '--short', 'results') or 'nothing new'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    verbs = ap.add_subparsers(dest="verb", required=True)
    verbs.add_parser("prepare").add_argument("--pin", help="the commit whose src/ the calls run (default: the "
                                                           "kept checkpoints' commit, else HEAD)")
    verbs.add_parser("keep").add_argument("call_dir", type=Path)
    args = ap.parse_args()
    prepare(args.pin) if args.verb == "prepare" else keep(args.call_dir)


if __name__ == "__main__":
    main()
