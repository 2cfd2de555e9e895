"""Does a chapter's quick profile still take no longer than it did before a change? Prints a table.

    python benchmarks/bench_budget.py --base c26cd2d [--head HEAD] [--experiment leak_conditions] [--rounds 1]
                                      [--first base] [-p NAME=VALUE ...]

Issue 22.6 asks that leak_conditions' quick profile stay within the chapter's time before issue 22 (whose first
commit, 2497220, follows c26cd2d). Separate CI runs cannot tell: three clean-clone builds of nearly the same code
took 1,052, 1,331 and 1,402 s for that stage on this VM. So this script runs the chapter as `leaklab book` does,
`leaklab run EXPERIMENT --profile quick` (the notebook, through papermill), from clean worktrees of both commits,
alternating base and head, the order turned each round (ABBA: a drift of the VM's speed over the rounds cancels),
each run with fresh checkpoints and its own results folder, and prints each run's wall time (and its compute's, from
the record) with head's ratio to base in the same round.

Nothing else should run meanwhile (pause any long run: `kill -STOP PID`, later `kill -CONT PID`).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worktree(commit, where):
    """A clean checkout of `commit` at `where` (a detached git worktree); returns its short hash."""
    added = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), commit],
                           capture_output=True, text=True)
    if added.returncode:
        sys.exit(f"cannot check out {commit!r}: {added.stderr.strip()}")
    return subprocess.run(["git", "-C", str(where), "rev-parse", "--short", "HEAD"], check=True, text=True,
                          capture_output=True).stdout.strip()


def timed_chapter(tree, experiment, params, work):
    """Wall seconds of `leaklab run EXPERIMENT --profile quick` from `tree`, and its compute's wall time."""
    results = Path(tempfile.mkdtemp(dir=work))
    env = {**os.environ, "PYTHONPATH": str(tree / "src"),
           "LEAKLAB_CHECKPOINTS": tempfile.mkdtemp(dir=work)}  # fresh: nothing resumes
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "leaklab.cli", "run", experiment, "--profile", "quick",
                           "--results", str(results), *params], cwd=tree, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode:
        sys.exit(f"{tree}: failed: {done.stderr[-2000:]}")
    record = json.loads(next(results.glob("*.json")).read_text())
    return wall, record["provenance"].get("wall_time_s")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="the commit whose chapter time is the budget")
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--experiment", default="leak_conditions")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--first", choices=("base", "head"), default="base", help="which runs first in round 1")
    parser.add_argument("-p", "--param", action="append", default=[],
                        help="NAME=VALUE passed to both runs (a smaller smoke test of the script, say)")
    args = parser.parse_args()
    passed = [part for param in args.param for part in ("-p", param)]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        trees = {}
        try:  # the worktrees are unregistered again even when the second checkout or a run fails
            for role in ("base", "head"):
                trees[role] = (work / role, worktree(getattr(args, role), work / role))
            print(f"{args.experiment}, quick profile, `leaklab run` (notebook and compute); base {trees['base'][1]}, "
                  f"head {trees['head'][1]}; {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d %H:%M')}\n")
            print(f"{'round':>5} {'commit':>14} {'run wall s':>11} {'compute s':>10} {'head / base':>12}")
            print("-" * 56)
            for n in range(1, args.rounds + 1):
                walls, order = {}, ("base", "head") if (args.first == "base") == (n % 2 == 1) else ("head", "base")
                for role in order:
                    tree, short = trees[role]
                    walls[role], compute = timed_chapter(tree, args.experiment, passed, work)
                    ratio = f"{walls['head'] / walls['base']:.3f}" if len(walls) == 2 else ""
                    compute = f"{compute:.1f}" if compute is not None else "-"
                    print(f"{n:>5} {role + ' ' + short:>14} {walls[role]:11.1f} {compute:>10} {ratio:>12}",
                          flush=True)
        finally:
            for tree, _ in trees.values():
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
