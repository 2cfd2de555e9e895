"""The paper-scale CIFAR-10 queue (issue 23) inside the calls of a lent GPU, whose minutes are few: measure
first, then run what the measurement says will finish before the deadline, and carry a long item's
checkpoints from one session's GPU to the next.

    python benchmarks/gpu_queue.py --deadline SECONDS --out DIR [--data-src DIR] [--carry-in DIR] [--src DIR]
                                   [--profile full] [--device cuda] [--skip-bench] [--min-slice SECONDS]

1. Speed: `bench_cifar.py --nets PROFILE --variants --no-ceiling`, its table in DIR/bench.txt and its numbers
   in WORK/bench.json and DIR/bench.json. --skip-bench reuses that JSON: WORK's (a second call on the same,
   still warm machine), else the carried one (CARRY/bench.json, from an earlier session's DIR).
2. The queue, in the issue's order: fgsm_leak seed 0 with each attack label (true first), then
   cifar_mislabeled seeds 0, 10 and 20 with both controls, then fgsm_leak's true label for seeds 10 and 20.
   An item whose record is already committed under results/ is skipped. An item starts only when its time,
   projected from the measured images/s (plus start-up and evaluation, with a 15% margin), ends before the
   deadline; otherwise the next, smaller item is tried. Each runs the way the bench measured fastest for its
   network (torch.compile on or off, bf16 autocast on or off), its start-up counted.
3. Then, with at least --min-slice seconds left, one item too long for what is left runs until the deadline
   cuts it: the one whose checkpoints were carried in, else the first left in the queue. Its checkpoints
   (per epoch, under WORK) go into DIR/ckpt-ITEM.tar; carried back in CARRY, the next session's call resumes
   it where it stopped. A checkpoint resumes only under the same library source (its key covers it): run
   every session's calls from one pinned snapshot, --src (default: this tree's src/).
4. After every item, all records so far go into DIR/results.tar (paths as under results/), and DIR/queue.json
   says what ran, for how long, and what was skipped and why.

WORK is /tmp/leaklab-gpu: data built from the JPEG copy, checkpoints, records. Nothing here needs a GPU: with
--device cpu --profile quick it runs the same steps on a CPU in minutes (how it is tested before a GPU call).
"""

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = Path("/tmp/leaklab-gpu")
BENCH_NETS = {  # bench_cifar.py's row for each experiment's network, by profile
    ("fgsm_leak", "full"): "fgsm_leak full: ResNet-110 (n=18), half FGSM",
    ("cifar_mislabeled", "full"): "cifar_mislabeled full: ResNet-18 width 64",
    ("fgsm_leak", "quick"): "fgsm_leak quick: ResNet-8 (n=1), half FGSM",
    ("cifar_mislabeled", "quick"): "cifar_mislabeled quick: ResNet-18 width 8",
}
MARGIN = 1.15
TAR_SECONDS = 15  # packing the records and leaving the call


def queue():
    """(experiment, overrides) in the issue's order."""
    items = [("fgsm_leak", {"labels": kind, "seed": 0})
             for kind in ("true", "predicted", "least_likely", "random")]
    items += [("cifar_mislabeled", {"students": "all", "seed": seed}) for seed in (0, 10, 20)]
    items += [("fgsm_leak", {"labels": "true", "seed": seed}) for seed in (10, 20)]
    return items


def training_images(name, params):
    """Training images an item goes through (every epoch of every network), as leaklab's own clock counts."""
    if name == "fgsm_leak":
        return params["epochs"] * params["n_train"]
    # the wrong set's size is unknown before the teacher: 40%, a little over the paper's 37.5%
    return params["teacher_epochs"] * params["n_train"] + students(params) * params["epochs"] * round(
        0.4 * params["n_train"])


def students(params):
    """cifar_mislabeled's students per seed: the paper's, the two controls, and the sample sweep's refits of the
    paper's student on parts of the wrong set (each as long as a student: the same steps)."""
    return 3 + params.get("sweep_points", 1) - 1


def evaluation_images(name, params):
    """Forward passes of evaluation (an input-gradient pass counted as two)."""
    if name == "fgsm_leak":  # the true-label curve, then each other attack at one eps
        return params["n_eval"] * (params["eps_points"] + 2 + 3 * 3)
    return 2 * params["n_train"] + 4 * 10000


def measured_ways(name, params, bench):
    """The ways the bench timed this item's network: {way: (images/s, start-up s, environment)}. The
    environment sets torch.compile and bf16 autocast for the run (LEAKLAB_COMPILE, LEAKLAB_BF16); a way
    left out of it keeps the library's default. Without a timed way, the network's headline number."""
    row = bench["nets"][BENCH_NETS[(name, params["profile"])]]
    ways = {}
    if "compiled" in row and not row.get("compile_failed"):
        ways["torch.compile on"] = (row["compiled"]["rate"], row["compiled"]["start_up_s"], {"LEAKLAB_COMPILE": "1"})
    if "eager" in row:
        ways["torch.compile off"] = (row["eager"]["rate"], row["eager"]["start_up_s"], {"LEAKLAB_COMPILE": "0"})
    if "eager_other_bf16" in row:
        other = row["eager_other_bf16"]
        ways[f"torch.compile off, bf16 {'on' if other['bf16'] else 'off'}"] = (
            other["rate"], other["start_up_s"], {"LEAKLAB_COMPILE": "0", "LEAKLAB_BF16": "1" if other["bf16"] else "0"})
    if not ways:
        ways["the library's default"] = (row["ours"], row["start_up_s"], {})
    return ways


def projected_seconds(name, params, bench, way):
    """Seconds an item should take at the bench's pace in one of its measured ways: training, each
    network's start-up (counted twice when compiled: a run's last, smaller batch compiles again), and
    evaluation, with a margin."""
    rate, start_up_s, env = measured_ways(name, params, bench)[way]
    row = bench["nets"][BENCH_NETS[(name, params["profile"])]]
    evaluation = row.get("variants", {}).get("eval, batch 1000", rate * 3)
    networks = 1 if name == "fgsm_leak" else 1 + students(params)
    start_up = networks * max(start_up_s, 0) * (2 if env.get("LEAKLAB_COMPILE") == "1" else 1)
    return MARGIN * (training_images(name, params) / rate + start_up
                     + evaluation_images(name, params) / evaluation)


def fastest_way(name, params, bench, results=ROOT / "results"):
    """The measured way that should finish this item soonest, its start-up counted, among those in the
    arithmetic (bf16 autocast on or off) of the experiment's records of this profile already made on a GPU:
    the seeds pooled in one table are trained alike."""
    ways = measured_ways(name, params, bench)
    done = {"bf16 autocast on" in record["device"]
            for path in sorted((results / name).glob(f"*-{params['profile']}-seed*.json"))
            for record in [json.loads(path.read_text())] if record["device"].startswith("cuda")}
    if len(done) == 1:
        bf16 = "1" if done.pop() else "0"
        ways = {way: ways[way] for way, (_, _, env) in ways.items() if env.get("LEAKLAB_BF16", "1") == bf16} or ways
    return min(ways, key=lambda way: projected_seconds(name, params, bench, way))


def recorded(name, overrides, profile, results=ROOT / "results"):
    """Whether a committed record of the profile already holds this item: its seed, and every network it
    trains."""
    wanted = {"fgsm_leak": ("labels", "true,predicted,least_likely,random"),
              "cifar_mislabeled": ("students", "teacher_labels,random_wrong,true_labels")}[name]
    for path in sorted((results / name).glob(f"*-{profile}-seed*.json")):
        record = json.loads(path.read_text())
        has = record["params"].get(wanted[0], wanted[1])
        has = set((wanted[1] if has == "all" else has).split(","))
        asked = overrides.get(wanted[0])
        asked = set((wanted[1] if asked in (None, "all") else asked).split(","))
        if any(row["seed"] == overrides["seed"] for row in record["per_seed"]) and asked <= has:
            return True
    return False


def item_key(name, overrides):
    return f"{name} " + " ".join(f"{k}={v}" for k, v in overrides.items())


def checkpoint_tar(out, key):
    """The file a cut item's checkpoints travel in, named as the device tool allows (letters, digits, . _ -)."""
    return out / ("ckpt-" + "".join(c if c.isalnum() or c in "._-" else "_" for c in key) + ".tar")


def write_tar(target, files, root, prefix=Path()):
    """The files, named prefix/(path under root), in one tar at target, atomically replaced."""
    tmp = target.with_name("." + target.name + ".tmp")
    with tarfile.open(tmp, "w") as tar:
        for path in files:
            tar.add(path, arcname=str(prefix / path.relative_to(root)))
    os.replace(tmp, target)


def pack(out):
    """Every record so far, as results/EXPERIMENT/FILE, in one tar."""
    root = WORK / "results"
    write_tar(out / "results.tar", [p for p in sorted(root.rglob("*")) if p.is_file() and not p.name.startswith(".")],
              root, Path("results"))


def pack_checkpoints(out, key, since, carried=()):
    """The checkpoint files the cut item wrote (changed since it started) and those carried in (a cut that
    came before its first new checkpoint keeps the old ones), paths as under WORK/checkpoints."""
    root = WORK / "checkpoints"
    files = sorted({p for p in root.rglob("*") if p.is_file()  # not a write or an unpacking in progress (.name)
                    and not any(part.startswith(".") for part in p.relative_to(root).parts)
                    and (p.stat().st_mtime >= since or str(p.relative_to(root)) in carried)})
    target = checkpoint_tar(out, key)
    write_tar(target, files, root)
    return target, files


def unpack_checkpoints(carry):
    """The carried ckpt-*.tar files into WORK/checkpoints: {tar name: its member paths}. A file WORK already
    holds is kept: an earlier call on this same machine wrote it, after the carried one."""
    carried, root = {}, WORK / "checkpoints"
    for tar_path in sorted(carry.glob("ckpt-*.tar")) if carry.is_dir() else ():
        with tarfile.open(tar_path) as tar:
            members = [m for m in tar.getmembers() if m.isfile()]
            extract_whole(tar, [m for m in members if not (root / m.name).exists()], root)
        carried[tar_path.name] = [m.name for m in members]
    return carried


def extract_whole(tar, members, root):
    """`members` of an open tar into `root`, in their order, each file moved into place whole from a hidden
    folder beside it (.unpacking-*, which pack_checkpoints skips): a killed unpacking leaves no half file."""
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=".unpacking-") as unpacked:
        tar.extractall(unpacked, members=members, filter="data")
        for member in members:
            (root / member.name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(Path(unpacked) / member.name, root / member.name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deadline", type=float, required=True, help="seconds from now by which all must be packed")
    ap.add_argument("--out", type=Path, required=True, help="where the table, log, records and checkpoints go")
    ap.add_argument("--data-src", type=Path, default=ROOT / ".devdata",
                    help="a folder with build_cifar10_bin.py and cifar10-jpeg/ (the shared data's)")
    ap.add_argument("--carry-in", type=Path, default=ROOT / ".devrun",
                    help="an earlier session's bench.json and ckpt-*.tar, carried to this machine")
    ap.add_argument("--src", type=Path, default=ROOT / "src", help="the library to run: one pinned snapshot")
    ap.add_argument("--profile", default="full", choices=("full", "quick"))
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--skip-bench", action="store_true")
    ap.add_argument("--min-slice", type=float, default=150,
                    help="the fewest seconds worth starting a cut item in (a full ResNet-110 epoch takes ~30 s)")
    ap.add_argument("--bench-batches", type=int, default=40)
    ap.add_argument("--bench-timeout", type=float, default=240)
    args = ap.parse_args()
    end = time.monotonic() + args.deadline
    args.out.mkdir(parents=True, exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "log.txt", "a")

    def say(text):
        line = f"[{time.strftime('%H:%M:%S')}, {end - time.monotonic():.0f} s left] {text}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    src = args.src.resolve()
    sys.path.insert(0, str(src))
    from leaklab import experiments, files

    cifar = WORK / "cifar10-jpeg-bin"
    if not (cifar / "cifar-10-batches-bin" / "test_batch.bin").exists():
        say("building the CIFAR-10 binary layout from the JPEG copy")
        subprocess.run([sys.executable, str(args.data_src / "build_cifar10_bin.py"), str(cifar),
                        "--src", str(args.data_src / "cifar10-jpeg")], check=True, stdout=log_file)
    carried = unpack_checkpoints(args.carry_in)
    if carried:
        say(f"checkpoints carried in: {', '.join(carried)}")
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONUNBUFFERED": "1", "LEAKLAB_DATA": str(cifar),
           "LEAKLAB_CHECKPOINTS": str(WORK / "checkpoints")}

    def run(cmd, timeout, extra_env=None):
        """A child process, its output into the log, stopped at `timeout`: "ok", "failed" or "cut"."""
        try:
            done = subprocess.run(cmd, env={**env, **(extra_env or {})}, cwd=ROOT, stdout=log_file,
                                  stderr=subprocess.STDOUT, timeout=max(timeout, 1))
            return "ok" if done.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            return "cut"

    bench_json = WORK / "bench.json"
    if not args.skip_bench:
        say("speed: bench_cifar.py")
        bench_txt = args.out / "bench.txt"
        with open(bench_txt, "w") as f:
            try:
                subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_cifar.py"), "--device", args.device,
                                "--nets", args.profile, "--variants", "--no-ceiling", "--batches",
                                str(args.bench_batches), "--json", str(bench_json)], env=env, cwd=ROOT, stdout=f,
                               stderr=subprocess.STDOUT, timeout=min(args.bench_timeout, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                f.write("\n(bench stopped at its time limit)\n")
        say("bench:\n" + bench_txt.read_text())
    elif not bench_json.exists() and (args.carry_in / "bench.json").exists():
        files.write_atomic(bench_json, (args.carry_in / "bench.json").read_text())
        say(f"speed: carried in, measured {json.loads(bench_json.read_text()).get('measured', 'earlier')}")
    bench = json.loads(bench_json.read_text()) if bench_json.exists() else {"nets": {}}
    if bench_json.exists():
        files.write_atomic(args.out / "bench.json", bench_json.read_text())

    state_file = WORK / "queue.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"done": [], "log": []}

    def save_state():
        for path in (state_file, args.out / "queue.json"):
            files.write_atomic(path, json.dumps(state, indent=1))

    def attempt(name, overrides, params, way, cut_at_deadline=False):
        key = item_key(name, overrides)
        need = projected_seconds(name, params, bench, way)
        say(f"start {key}: projected {need:.0f} s, {way}"
            + (" (cut at the deadline, its checkpoints kept)" if cut_at_deadline else ""))
        start, since = time.monotonic(), time.time() - 1
        cmd = [sys.executable, "-m", "leaklab.cli", "compute", name, "--profile", args.profile,
               "-p", "n_seeds=1", "-p", f"device={args.device}", "--results", str(WORK / "results" / name)]
        cmd += [arg for k, v in overrides.items() for arg in ("-p", f"{k}={v}")]
        ways = measured_ways(name, params, bench)
        outcome = run(cmd, end - time.monotonic() - TAR_SECONDS, ways[way][2])
        if outcome == "failed" and ways[way][2].get("LEAKLAB_COMPILE") == "1":
            # a compile that breaks should not cost the GPU's remaining minutes
            eager = min((w for w in ways if ways[w][2].get("LEAKLAB_COMPILE") != "1"),
                        key=lambda w: projected_seconds(name, params, bench, w), default=None)
            if eager and (cut_at_deadline or projected_seconds(name, params, bench, eager)
                          < end - time.monotonic() - TAR_SECONDS):
                say(f"{key} failed with torch.compile on (see the log); again {eager}")
                way = eager
                outcome = run(cmd, end - time.monotonic() - TAR_SECONDS, ways[way][2])
        took = time.monotonic() - start
        say(f"{outcome} {key}: {took:.0f} s (projected {need:.0f} s)")
        entry = {"item": key, "outcome": outcome, "seconds": took, "projected": need, "way": way}
        if outcome == "cut":
            # what came in, and what an earlier call on this machine packed for the item: a cut before this
            # call's first checkpoint must still send them on
            earlier = [f for fs in carried.values() for f in fs] + state.setdefault("packed", {}).get(key, [])
            target, files = pack_checkpoints(args.out, key, since, earlier)
            state["packed"][key] = [str(f.relative_to(WORK / "checkpoints")) for f in files]
            entry["checkpoints"] = target.name
            say(f"{key}: {len(files)} checkpoint file(s), {target.stat().st_size / 2**20:.1f} MiB, in {target.name}; "
                "carry it back in --carry-in to resume")
        state["log"].append(entry)
        if outcome == "ok":
            state["done"].append(key)
        save_state()
        pack(args.out)
        return outcome

    left_over = []
    for name, overrides in queue():
        key = item_key(name, overrides)
        if key in state["done"]:
            continue
        if recorded(name, overrides, args.profile):
            say(f"skip {key}: its record is already under results/")
            state["done"].append(key)
            continue
        params = {**experiments.resolve(name, args.profile, {**overrides, "n_seeds": 1,
                                                               "device": args.device}), "profile": args.profile}
        if BENCH_NETS[(name, args.profile)] not in bench["nets"]:
            say(f"skip {key}: no speed measured for its network")
            continue
        way = fastest_way(name, params, bench)
        need, left = projected_seconds(name, params, bench, way), end - time.monotonic() - TAR_SECONDS
        if need > left:
            say(f"skip {key} for now: projected {need:.0f} s, {left:.0f} s left")
            state["log"].append({"item": key, "skipped": f"projected {need:.0f} s > {left:.0f} s left"})
            left_over.append((name, overrides, params, way))
            continue
        attempt(name, overrides, params, way)

    left = end - time.monotonic() - TAR_SECONDS
    if left_over and left >= args.min_slice:
        begun = [item for item in left_over if checkpoint_tar(args.out, item_key(*item[:2])).name in carried]
        attempt(*(begun or left_over)[0], cut_at_deadline=True)
    save_state()
    pack(args.out)
    say("queue finished")


if __name__ == "__main__":
    main()
