"""How a long background run and foreground work share this machine's cores; prints a table.

    python benchmarks/bench_sharing.py [--window 60] [--background passive|default]

A long paper-scale run trains for hours while you build the book or run the tests. Two PyTorch processes that
each use every core can starve each other: OpenMP's threads spin while they wait. This script starts a
background trainer (ResNet-18 training steps on random CIFAR-sized batches, the cifar_mislabeled teacher's net),
by default as the README recommends (`nice -n 19`, OMP_WAIT_POLICY=PASSIVE), measures its pace alone, then runs
a foreground job (`leaklab compute toy2d`, the quick profile) beside it under each foreground setting:
OpenMP's default, the passive wait policy, one thread, and with the background paused (SIGSTOP/SIGCONT). Each
row gives the foreground's time and the background's pace meanwhile. `--background default` starts the
background without nice and with OpenMP's default policy, to show the starvation.

Nothing else should run meanwhile (pause any real long run: `kill -STOP PID`, later `kill -CONT PID`).
"""

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TRAINER = """
import sys, torch, torch.nn.functional as F
from leaklab import models
torch.manual_seed(0)
net = models.resnet18(64).to(memory_format=torch.channels_last).train()
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
x = torch.rand(128, 3, 32, 32).contiguous(memory_format=torch.channels_last)
y = torch.randint(0, 10, (128,))
steps = 0
while True:
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    steps += 1
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(steps))
    import os; os.replace(sys.argv[1] + ".tmp", sys.argv[1])
"""

SETTINGS = {  # foreground setting: extra environment (None: the background is paused instead)
    "as it is (OpenMP's default)": {},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "OMP_NUM_THREADS=1": {"OMP_NUM_THREADS": "1"},
    "background paused (SIGSTOP, then SIGCONT)": None,
}


def steps_done(counter):
    try:
        return int(Path(counter).read_text())
    except (OSError, ValueError):
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--window", type=float, default=60, help="seconds of the background's pace alone")
    ap.add_argument("--background", default="passive", choices=("passive", "default"),
                    help="passive: nice -n 19 and OMP_WAIT_POLICY=PASSIVE (the README's setting)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="leaklab-sharing-"))
    counter = tmp / "steps"
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    bg_env = {**env, "OMP_WAIT_POLICY": "PASSIVE"} if args.background == "passive" else env
    bg_cmd = ([] if args.background == "default" else ["nice", "-n", "19"]) + [sys.executable, "-c", TRAINER,
                                                                                str(counter)]
    leaklab = str(Path(sys.executable).with_name("leaklab"))
    fg_cmd = [leaklab, "compute", "toy2d", "--results", str(tmp / "results")]
    background = subprocess.Popen(bg_cmd, env=bg_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while steps_done(counter) < 3:  # past start-up and the first, slow steps
            if background.poll() is not None:
                sys.exit(f"the background trainer failed: {background.stderr.read().decode()[-2000:]}")
            time.sleep(1)

        def pace(seconds_or_command, fg_env=None):
            start_steps, start = steps_done(counter), time.perf_counter()
            if isinstance(seconds_or_command, (int, float)):
                time.sleep(seconds_or_command)
            else:
                subprocess.run(seconds_or_command, env=fg_env, check=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            seconds = time.perf_counter() - start
            return seconds, (steps_done(counter) - start_steps) * 128 / seconds

        _, alone = pace(args.window)
        setting = "nice -n 19, OMP_WAIT_POLICY=PASSIVE" if args.background == "passive" else "no nice, OpenMP default"
        print(f"background: ResNet-18 training ({setting}), {os.cpu_count()} cores; alone {alone:.1f} images/s over "
              f"{args.window:.0f} s")
        print("foreground: leaklab compute toy2d (quick profile)\n")
        head = f"{'foreground setting':<44} {'foreground time':>15} {'background images/s':>20} {'of alone':>9}"
        print(head)
        print("-" * len(head))
        for name, extra in SETTINGS.items():
            if extra is None:
                background.send_signal(signal.SIGSTOP)
                seconds, bg = pace(fg_cmd, env)
                background.send_signal(signal.SIGCONT)
            else:
                seconds, bg = pace(fg_cmd, {**env, **extra})
            print(f"{name:<44} {seconds:>13.1f} s {bg:>20.1f} {bg / alone:>8.0%}", flush=True)
    finally:
        background.kill()


if __name__ == "__main__":
    main()
