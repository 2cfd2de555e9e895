"""How much of a ResNet's half-FGSM training step is launch overhead on a GPU: the step timed eager and replayed
as one CUDA graph, side by side, in fp32 and under bf16 autocast; prints a table (issue 23: ResNet-110 trains at
about 1,600 images/s on an H200, far under its 10,000 target, and is launch-bound).

    python benchmarks/bench_graphs.py [--nets resnet110,resnet20] [--steps 30] [--device auto] [--json PATH]

The step is the engine's (`training.mixed_attack`: half the batch replaced by true-label FGSM images, its pass
not counted by BatchNorm; the whole batch's forward and backward; `training.momentum_sgd`'s SGD with momentum
and weight decay) on a batch of 128 random images held in place. The graph is captured after three warm-up steps
on a side stream, as PyTorch's whole-network capture does. It bakes in a constant learning rate and draws its
eps from the default generator: it measures what the route could give, not a training run (the engine's rate
schedule and its own generator would have to become graph-safe first). On a CPU only the eager rows run (how
this script is tested).
"""

import argparse
import json
import time

import torch
import torch.nn.functional as F

from leaklab import files, models, training
from leaklab.errors import ParameterError

NETS = {"resnet110": ("ResNet-110 (n=18)", lambda: models.resnet_he(18, 16)),
        "resnet20": ("ResNet-20 (n=3)", lambda: models.resnet_he(3, 16))}
BATCH = 128
SIGMA = 8.0  # the blog's eps ~ |N(0, 8)| / 255


def sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def training_step(net, opt, x, y, bf16, device):
    """One half-FGSM step on the batch held in x, y; returns the loss (a tensor: no host synchronisation)."""
    adversarial = training.mixed_attack("true", SIGMA)
    amp = torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16)

    def step():
        with amp:
            loss = F.cross_entropy(net(adversarial(net, x, y, None)), y)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def rate(run, steps, device):
    """Training images per second over `steps` calls of run, after the device has finished what came before."""
    sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        run()
    sync(device)
    return steps * BATCH / (time.perf_counter() - start)


def measure(build, bf16, steps, device):
    """{"eager", "graph": images/s, "capture_s", "eager_loss", "graph_loss": the loss after the timed steps};
    the graph's keys on a GPU only; both ways start from the same initial weights."""
    torch.manual_seed(0)
    state = build().state_dict()
    x = torch.rand(BATCH, 3, 32, 32, device=device).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (BATCH,), device=device)
    out = {}
    for way in ("eager", "graph") if device == "cuda" else ("eager",):
        net = build()
        net.load_state_dict(state)
        net.to(device, memory_format=torch.channels_last).train()
        opt, _ = training.momentum_sgd()(net.parameters(), 0.1, 1, 1)
        step = training_step(net, opt, x, y, bf16, device)
        if way == "eager":
            def run():
                opt.zero_grad(set_to_none=True)
                return step()
            run()  # warm-up: cuDNN's algorithm choice, the momentum buffers
            out["eager"] = rate(run, steps, device)
            out["eager_loss"] = run().item()
            continue
        start = time.perf_counter()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                opt.zero_grad(set_to_none=True)
                step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(graph):
            loss = step()
        graph.replay()
        sync(device)
        out["capture_s"] = time.perf_counter() - start
        out["graph"] = rate(graph.replay, steps, device)
        graph.replay()
        out["graph_loss"] = loss.item()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="resnet110,resnet20", help=f"some of {', '.join(NETS)}")
    ap.add_argument("--steps", type=int, default=30, help="timed steps of 128 images per row")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    names = [n.strip() for n in args.nets.split(",")]
    unknown = [n for n in names if n not in NETS]
    if unknown or args.steps < 1:
        ap.error(f"unknown net {unknown[0]!r}: some of {', '.join(NETS)}" if unknown else "--steps must be >= 1")
    try:
        device = training.resolve_device(args.device)
    except ParameterError as err:
        ap.error(str(err))
    if device == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    else:
        torch.backends.cudnn.benchmark = True
    print(f"device: {training.describe_device(device)}; torch {torch.__version__}; {args.steps} timed steps of "
          f"{BATCH} per row; half of each batch true-label FGSM\n")
    head = (f"{'network':<20} {'arithmetic':<10} {'eager img/s':>11} {'graph img/s':>11} {'graph/eager':>11} "
            f"{'capture':>8}  loss after (eager, graph)")
    print(head)
    print("-" * len(head))
    report = {"device": training.describe_device(device), "torch": torch.__version__, "rows": []}
    for name in names:
        label, build = NETS[name]
        for bf16 in (False, True):
            try:
                row = measure(build, bf16, args.steps, device)
            except Exception as err:  # a capture that breaks is a finding, not the end of the table
                row = {"error": f"{type(err).__name__}: {str(err)[:300]}"}
            report["rows"].append({"net": label, "bf16": bf16, **row})
            arithmetic = "bf16" if bf16 else "fp32"
            if "error" in row:
                print(f"{label:<20} {arithmetic:<10} failed: {row['error']}", flush=True)
                continue
            graph = row.get("graph")
            cells = (["-"] * 3 + ["-"] if graph is None else
                     [f"{graph:,.1f}", f"{graph / row['eager']:.2f}x", f"{row['capture_s']:.1f} s",
                      f"{row['graph_loss']:.3f}"])
            print(f"{label:<20} {arithmetic:<10} {row['eager']:>11,.1f} {cells[0]:>11} {cells[1]:>11} "
                  f"{cells[2]:>8}  {row['eager_loss']:.3f}, {cells[3]}", flush=True)
            # after every row, so a run stopped part-way keeps what it measured; whole, so a kill mid-write
            # leaves the last table, not half of one
            if args.json:
                files.write_atomic(args.json, json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
