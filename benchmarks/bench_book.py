"""Where the quick book's longest stage could save time on this machine: prints a table.

    python benchmarks/bench_book.py [--epochs 1] [--seeds 2]

leak_conditions takes two thirds of the quick book (`leaklab book`'s stage table): ten small CNNs (five seeds,
two attack labels), each trained for 7 epochs on 60,000 Fashion-MNIST images with half of every batch attacked.
Its seeds are independent, so they could train side by side. This script runs `leaklab compute leak_conditions`
for `--seeds` seeds (each `--epochs` epochs, both labels, the quick profile otherwise) three ways, side by side in
one sitting, each with fresh checkpoints:

- one after the other in one process each, two threads (how the book runs them now);
- all at once, one process per seed, one thread each (OMP_NUM_THREADS=1);
- one after the other with torch.compile (LEAKLAB_COMPILE=1).

Each row gives the wall time and its ratio to the first. Nothing else should run meanwhile (pause any long run:
`kill -STOP PID`, later `kill -CONT PID`).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def command(seed, epochs, results):
    return [sys.executable, "-m", "leaklab.cli", "compute", "leak_conditions", "-p", f"seed={seed}", "-p", "n_seeds=1",
            "-p", f"epochs={epochs}", "-p", "device=cpu", "--results", str(results)]


def timed(runs, parallel, env_extra, work):
    """Wall seconds for the runs (a list of seeds), one process each, all at once or one after the other."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), **env_extra}

    def start(seed):
        checkpoints = Path(tempfile.mkdtemp(dir=work))  # fresh: nothing resumes
        return subprocess.Popen(command(seed, runs["epochs"], Path(work) / "results"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True,
                                env={**env, "LEAKLAB_CHECKPOINTS": str(checkpoints)})

    def finish(p):
        _, err = p.communicate()
        if p.returncode:
            sys.exit(f"failed: {err[-2000:]}")

    began = time.perf_counter()
    if parallel:
        for p in [start(seed) for seed in runs["seeds"]]:
            finish(p)
    else:
        for seed in runs["seeds"]:
            finish(start(seed))
    return time.perf_counter() - began


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    runs = {"seeds": [10 * k for k in range(args.seeds)], "epochs": args.epochs}
    ways = [("one after the other, 2 threads each (now)", False, {"OMP_NUM_THREADS": "2"}),
            ("all at once, 1 thread each", True, {"OMP_NUM_THREADS": "1"}),
            ("one after the other, 2 threads, torch.compile", False, {"OMP_NUM_THREADS": "2", "LEAKLAB_COMPILE": "1"})]
    print(f"leak_conditions, quick profile: {args.seeds} seeds x 2 labels, {args.epochs} epoch(s) each; "
          f"{os.cpu_count()} CPUs; each run includes its process start and data load\n")
    print(f"{'way':52} {'wall s':>8} {'ratio to now':>13}")
    print("-" * 75)
    with tempfile.TemporaryDirectory() as work:
        base = None
        for name, parallel, env in ways:
            seconds = timed(runs, parallel, env, work)
            base = base or seconds
            print(f"{name:52} {seconds:8.1f} {base / seconds:12.2f}x", flush=True)


if __name__ == "__main__":
    main()
