"""The paper-scale CIFAR-10 queue (issue 23) inside one call of a lent GPU, whose minutes are few: measure
first, then run only what the measurement says will finish before the deadline.

    python benchmarks/gpu_queue.py --deadline SECONDS --out DIR [--data-src DIR] [--profile full]
                                   [--device cuda] [--skip-bench]

1. Speed: `bench_cifar.py --nets PROFILE --variants --no-ceiling`, its table in DIR/bench.txt and its numbers
   in WORK/bench.json. --skip-bench reuses that JSON (a second call on the same, still warm machine).
2. The queue, in the issue's order: fgsm_leak seed 0 with each attack label (true first), then
   cifar_mislabeled seeds 0, 10 and 20 with both controls, then fgsm_leak's true label for seeds 10 and 20.
   An item starts only when its time, projected from the measured images/s (plus start-up and evaluation,
   with a 15% margin), ends before the deadline; otherwise the next, smaller item is tried. Each item is one
   `leaklab compute` with its own record, checkpointed per epoch under WORK, so a second call on the same
   machine resumes an item a deadline cut.
3. After every item, all records so far go into DIR/results.tar (paths as under results/), and DIR/queue.json
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
    return params["teacher_epochs"] * params["n_train"] + 3 * params["epochs"] * round(0.4 * params["n_train"])


def evaluation_images(name, params):
    """Forward passes of evaluation (an input-gradient pass counted as two)."""
    if name == "fgsm_leak":  # the true-label curve, then each other attack at one eps
        return params["n_eval"] * (params["eps_points"] + 2 + 3 * 3)
    return 2 * params["n_train"] + 4 * 10000


def projected_seconds(name, params, bench, compiled):
    """Seconds an item should take at the bench's pace, with torch.compile on or off: training, each
    network's start-up (counted twice when compiled: a run's last, smaller batch compiles again), and
    evaluation, with a margin."""
    row = bench["nets"][BENCH_NETS[(name, params["profile"])]]
    way = row.get("compiled" if compiled else "eager", {"rate": row["ours"], "start_up_s": row["start_up_s"]})
    evaluation = row.get("variants", {}).get("eval, batch 1000", way["rate"] * 3)
    networks = 1 if name == "fgsm_leak" else 4
    start_up = networks * way["start_up_s"] * (2 if compiled else 1)
    return MARGIN * (training_images(name, params) / way["rate"] + start_up
                     + evaluation_images(name, params) / evaluation)


def compile_pays(name, params, bench):
    """torch.compile for this item only if it saves time, its start-up counted; without both ways measured,
    the library's default."""
    row = bench["nets"][BENCH_NETS[(name, params["profile"])]]
    if row.get("compile_failed"):
        return False
    if "compiled" not in row or "eager" not in row:
        return params["device"] == "cuda"
    return projected_seconds(name, params, bench, True) < projected_seconds(name, params, bench, False)


def pack(out):
    """Every record so far, as results/EXPERIMENT/FILE, in one tar (atomically replaced)."""
    tmp = out / ".results.tar.tmp"
    with tarfile.open(tmp, "w") as tar:
        for path in sorted((WORK / "results").rglob("*")):
            if path.is_file() and not path.name.startswith("."):
                tar.add(path, arcname=str(Path("results") / path.relative_to(WORK / "results")))
    os.replace(tmp, out / "results.tar")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deadline", type=float, required=True, help="seconds from now by which all must be packed")
    ap.add_argument("--out", type=Path, required=True, help="where the table, log and records go")
    ap.add_argument("--data-src", type=Path, default=ROOT / ".devdata",
                    help="a folder with build_cifar10_bin.py and cifar10-jpeg/ (the shared data's)")
    ap.add_argument("--profile", default="full", choices=("full", "quick"))
    ap.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--skip-bench", action="store_true")
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

    sys.path.insert(0, str(ROOT / "src"))
    from leaklab import experiments

    cifar = WORK / "cifar10-jpeg-bin"
    if not (cifar / "cifar-10-batches-bin" / "test_batch.bin").exists():
        say("building the CIFAR-10 binary layout from the JPEG copy")
        subprocess.run([sys.executable, str(args.data_src / "build_cifar10_bin.py"), str(cifar),
                        "--src", str(args.data_src / "cifar10-jpeg")], check=True, stdout=log_file)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "PYTHONUNBUFFERED": "1", "LEAKLAB_DATA": str(cifar),
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
    bench = json.loads(bench_json.read_text()) if bench_json.exists() else {"nets": {}}

    state_file = WORK / "queue.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else {"done": [], "log": []}
    for name, overrides in queue():
        key = f"{name} " + " ".join(f"{k}={v}" for k, v in overrides.items())
        if key in state["done"]:
            continue
        params = {**experiments.resolve(name, args.profile, {**overrides, "n_seeds": 1,
                                                               "device": args.device}), "profile": args.profile}
        if BENCH_NETS[(name, args.profile)] not in bench["nets"]:
            say(f"skip {key}: no speed measured for its network")
            continue
        compiled = compile_pays(name, params, bench)
        need, left = projected_seconds(name, params, bench, compiled), end - time.monotonic() - TAR_SECONDS
        if need > left:
            say(f"skip {key}: projected {need:.0f} s, {left:.0f} s left")
            state["log"].append({"item": key, "skipped": f"projected {need:.0f} s > {left:.0f} s left"})
            continue
        say(f"start {key}: projected {need:.0f} s (torch.compile {'on' if compiled else 'off'})")
        start = time.monotonic()
        cmd = [sys.executable, "-m", "leaklab.cli", "compute", name, "--profile", args.profile,
               "-p", "n_seeds=1", "-p", f"device={args.device}", "--results", str(WORK / "results" / name)]
        cmd += [arg for k, v in overrides.items() for arg in ("-p", f"{k}={v}")]
        outcome = run(cmd, end - time.monotonic() - TAR_SECONDS, {"LEAKLAB_COMPILE": "1" if compiled else "0"})
        if outcome == "failed" and compiled:  # a compile that breaks should not cost the GPU's remaining minutes
            need = projected_seconds(name, params, bench, False)
            if need < end - time.monotonic() - TAR_SECONDS:
                say(f"{key} failed with torch.compile on (see the log); again eager, projected {need:.0f} s")
                compiled = False
                outcome = run(cmd, end - time.monotonic() - TAR_SECONDS, {"LEAKLAB_COMPILE": "0"})
        took = time.monotonic() - start
        say(f"{outcome} {key}: {took:.0f} s (projected {need:.0f} s)")
        state["log"].append({"item": key, "outcome": outcome, "seconds": took, "projected": need,
                             "compile": compiled})
        ok = outcome == "ok"
        if ok:
            state["done"].append(key)
        state_file.write_text(json.dumps(state, indent=1))
        (args.out / "queue.json").write_text(json.dumps(state, indent=1))
        pack(args.out)
    (args.out / "queue.json").write_text(json.dumps(state, indent=1))
    pack(args.out)
    say("queue finished")


if __name__ == "__main__":
    main()
