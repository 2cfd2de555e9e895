"""Our CIFAR-10 engine against a kuangliu/pytorch-cifar style loop and against this machine's ceiling; prints
two tables.

    python benchmarks/bench_cifar.py [--batches 10] [--device auto] [--nets all|quick|full] [--variants]
                                     [--no-ceiling] [--json PATH]

For each network the notebooks train (both profiles of both chapters), the same
model, optimizer (SGD, momentum 0.9, weight decay 5e-4, batch 128) and number of
images go through two loops, one after the other in this run:
- reference: kuangliu/pytorch-cifar's pipeline: a per-sample Dataset doing the
  random crop (padding 4) and flip in numpy, ToTensor-style float conversion and
  Normalize, a shuffling DataLoader, fp32, NCHW;
- ours: `training.fit`: data on the device as uint8, batched crop and flip there,
  channels_last, bf16 autocast where it pays, torch.compile where it pays.
FGSM rows replace half of each batch by FGSM images in both loops (the same attack
function). Each loop makes two passes over `batches` x 128 training images and
the second pass is timed, so start-up and compilation are not counted.

`--variants` also times our loop with one setting changed at a time, side by side in the same run:
torch.compile switched the other way, bf16 autocast switched the other way, one thread instead of two
(on a CPU), and evaluation (`training.logits_of`) at batch 1000 against 128.

The second table is the ceiling: every convolution of the network, at its own shape in the network,
timed alone (forward and backward, channels_last, batch 128, best of three) in fp32 and in bf16. Their
summed time gives the images/s a loop could reach if it spent time on nothing but convolutions (for the
FGSM rows, with the attack's extra passes counted); our loop is shown as a share of the better of the two.

From the measured images/s the first table extrapolates the time of one epoch (50,000
images) and of each full profile's training per seed: cifar_mislabeled's teacher
(2 epochs) and student (50 epochs on the 18,768 wrong images), with and without
the two controls; fgsm_leak's 60 epochs for one attack label and for all four.
Evaluation time is not included.
"""

import argparse
import json
import time

import numpy as np
import torch
import torch.nn.functional as F

from leaklab import attacks, data, files, models, training

NETS = {  # name: (profile, builder, adversarial)
    "cifar_mislabeled quick: ResNet-18 width 8": ("quick", lambda: models.resnet18(8), False),
    "fgsm_leak quick: ResNet-8 (n=1), half FGSM": ("quick", lambda: models.resnet_he(1, 16), True),
    "cifar_mislabeled full: ResNet-18 width 64": ("full", lambda: models.resnet18(64), False),
    "fgsm_leak full: ResNet-110 (n=18), half FGSM": ("full", lambda: models.resnet_he(18, 16), True),
}
N_WRONG = 18768  # the paper's wrong set


class KuangliuCifar(torch.utils.data.Dataset):
    """transforms.RandomCrop(32, padding=4), RandomHorizontalFlip, ToTensor, Normalize, per sample."""

    def __init__(self, images, labels, mean, std):
        self.images = images.permute(0, 2, 3, 1).numpy()  # HWC uint8, as the PIL images would be
        self.labels = labels.tolist()
        self.mean, self.std = np.array(mean, np.float32), np.array(std, np.float32)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        img = np.pad(self.images[i], ((4, 4), (4, 4), (0, 0)))
        dy, dx = np.random.randint(0, 9, 2)
        img = img[dy:dy + 32, dx:dx + 32]
        if np.random.rand() < 0.5:
            img = img[:, ::-1]
        x = (img.astype(np.float32) / 255 - self.mean) / self.std
        return torch.from_numpy(x.transpose(2, 0, 1).copy()), self.labels[i]


def reference(net, images, labels, mean, std, device, adversarial):
    """Two passes of the kuangliu loop; images/s of the second."""
    loader = torch.utils.data.DataLoader(KuangliuCifar(images, labels, mean, std), batch_size=128, shuffle=True,
                                         num_workers=2 if device == "cuda" else 0)
    net = net.to(device).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    # the dataset normalizes, so the attack runs on normalized inputs: scale eps by 1/std
    norm_std = torch.tensor(std, device=device).view(1, 3, 1, 1)
    for rep in range(2):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            if adversarial:
                half = len(x) // 2
                step, _ = attacks.step_direction(net, x[:half], y[:half], "true")
                eps = torch.randn(half, 1, 1, 1, device=device).abs() * 12 / 255 / norm_std
                x = torch.cat([x[:half] + eps * step, x[half:]])
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
    return len(labels) / (time.perf_counter() - start)


def ours(net, images, labels, mean, std, device, adversarial, compile=None, bf16=None, start_up=None):
    """Two epochs of `training.fit` on the images; images/s of the second. `start_up` (a list), if given,
    receives the first epoch's extra seconds over the second: compilation and warm-up, which a long run pays
    once per network."""
    model = models.Normalized(net, mean, std)
    _, history = training.fit(model, images, labels, epochs=2, batch_size=128, lr=0.1, device=device,
                              compile=compile, bf16=bf16,
                              adversarial=training.mixed_attack("true", 12.0) if adversarial else None,
                              progress=False)
    if start_up is not None:
        start_up.append(history[0]["seconds"] - history[1]["seconds"])
    return len(labels) / history[1]["seconds"]


def matmul_peak(device, bf16):
    """The device's measured matrix rate in TFLOP/s, in the arithmetic our loop trains in (bf16 where autocast
    is on, else fp32: a bf16 loop as a share of an fp32 peak would pass 100%): 8192^3 products on a GPU,
    2048^3 on a CPU; median of ten after three warm-ups, on random data."""
    n = 8192 if device == "cuda" else 2048
    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    times = []
    for rep in range(13):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        a @ b
        if device == "cuda":
            torch.cuda.synchronize()
        if rep >= 3:
            times.append(time.perf_counter() - start)
    return 2 * n ** 3 / sorted(times)[len(times) // 2] / 1e12


def train_flops(build, adversarial, device):
    """Convolution FLOPs of one training image (forward and backward; with `adversarial`, the attack's extra
    passes on half the batch, as in `ceiling`)."""
    flops = 0
    for conv, shape in conv_shapes(build(), device):
        out_hw = (shape[2] // conv.stride[0]) * (shape[3] // conv.stride[1])
        flops += 3 * 2 * out_hw * conv.in_channels * conv.out_channels * conv.kernel_size[0] ** 2
    return flops * (1 + 0.5 * 2 / 3 if adversarial else 1)


def evaluation(net, images, mean, std, device, batch_size):
    """images/s of `training.logits_of` (inference mode) at a batch size; best of two passes."""
    model = models.Normalized(net, mean, std).to(device, memory_format=torch.channels_last)
    best = 0.0
    for _ in range(2):
        start = time.perf_counter()
        training.logits_of(model, images, device, batch_size)
        best = max(best, len(images) / (time.perf_counter() - start))
    return best


def conv_shapes(net, device):
    """(conv, input shape) of every convolution as the network applies it to a batch of 128."""
    shapes = []
    hooks = [m.register_forward_hook(lambda m, inp, out: shapes.append((m, tuple(inp[0].shape))))
             for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        net.to(device).eval()(torch.rand(128, 3, 32, 32, device=device))
    for h in hooks:
        h.remove()
    return shapes


def conv_seconds(conv, shape, device, bf16, reps=3):
    """Best time of one forward and backward pass of `conv` alone on a random batch of `shape`."""
    conv = torch.nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                           bias=conv.bias is not None).to(device, memory_format=torch.channels_last)
    x = torch.rand(shape, device=device).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(shape[1] != 3)  # the stem's input needs no gradient in training
    amp = torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16)
    best = float("inf")
    for rep in range(reps + 1):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with amp:
            y = conv(x)
        y.float().sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()
        if rep:  # the first pass warms up
            best = min(best, time.perf_counter() - start)
    return best


def ceiling(build, device, bf16, adversarial):
    """images/s of the network's convolutions alone (forward and backward, batch 128) and their GFLOP/s. With
    `adversarial`, half of each batch also costs the attack's forward and input-gradient passes, about two
    thirds of a training step, so a training image costs 1 + 0.5 x 2/3 of the plain convolutions."""
    shapes = conv_shapes(build(), device)
    seconds, flops = 0.0, 0.0
    for conv, shape in shapes:
        seconds += conv_seconds(conv, shape, device, bf16)
        out_hw = (shape[2] // conv.stride[0]) * (shape[3] // conv.stride[1])
        flops += 3 * 2 * shape[0] * out_hw * conv.in_channels * conv.out_channels * conv.kernel_size[0] ** 2
    per_image = 1 + 0.5 * 2 / 3 if adversarial else 1
    return 128 / seconds / per_image, flops / seconds / 1e9


def fmt_time(seconds):
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 \
        else f"{seconds:.0f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10, help="batches of 128 per timed pass")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--nets", default="all", choices=("all", "quick", "full"))
    ap.add_argument("--variants", action="store_true",
                    help="also time our loop with compile, bf16 and threads changed one at a time, and evaluation")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the per-convolution ceiling table")
    ap.add_argument("--json", default=None, help="also write the measured numbers to this JSON file")
    args = ap.parse_args()
    device = training.resolve_device(args.device)
    if device == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    threads = torch.get_num_threads()
    train = data.load("cifar10", "train")
    mean, std = training.channel_stats(train.images)
    n = args.batches * 128
    images, labels = train.images[:n], train.labels[:n]
    bf16 = training.bf16_helps(device)
    peak = matmul_peak(device, bf16)
    print(f"device: {training.describe_device(device)}; torch {torch.__version__}; "
          f"CPU capability {torch.backends.cpu.get_cpu_capability()}; bf16 autocast by default "
          f"{'on' if bf16 else 'off'}; torch.compile by default {'on' if training.worth_compiling(device) else 'off'}; "
          f"{n} images per timed pass; measured matrix peak "
          f"{peak:,.1f} TFLOP/s ({'bf16' if bf16 else 'fp32'})\n")
    head = (f"{'network (profile)':<46} {'reference img/s':>15} {'ours img/s':>10} {'ratio':>6} {'of peak':>7} "
            f"{'start-up':>8} {'epoch (ours)':>12}  full profile per seed (ours)")
    print(head)
    print("-" * len(head))
    measured, variants, report = {}, {}, {"device": training.describe_device(device), "torch": torch.__version__,
                                          "peak_tflops": peak, "images_per_pass": n, "nets": {}}
    for name, (profile, build, adversarial) in NETS.items():
        if args.nets != "all" and profile != args.nets:
            continue
        torch.manual_seed(0)
        ref = reference(build().to(memory_format=torch.contiguous_format), images, labels, mean, std, device,
                        adversarial)
        torch.manual_seed(0)
        start_up, compiled, compile_failed = [], training.worth_compiling(device), False
        try:
            our = ours(build(), images, labels, mean, std, device, adversarial, start_up=start_up)
        except Exception as err:  # on a lent GPU the minutes go on: a compile that breaks is measured eager
            if not compiled:
                raise
            print(f"  ({name}: torch.compile failed, {type(err).__name__}: {str(err)[:300]}; measured eager)")
            torch.manual_seed(0)
            start_up, compiled, compile_failed = [], False, True
            our = ours(build(), images, labels, mean, std, device, adversarial, compile=False, start_up=start_up)
        measured[name] = our
        share = our * train_flops(build, adversarial, device) / (peak * 1e12)
        epoch = 50000 / our
        if name.startswith("cifar_mislabeled full"):
            one = (2 * 50000 + 50 * N_WRONG) / our
            total = f"teacher + student {fmt_time(one)}; with both controls {fmt_time(one + 100 * N_WRONG / our)}"
        elif name.startswith("fgsm_leak full"):
            total = f"one attack label {fmt_time(60 * epoch)}; all four {fmt_time(240 * epoch)}"
        else:
            total = "-"
        print(f"{name:<46} {ref:>15,.0f} {our:>10,.1f} {our / ref:>5.2f}x {share:>7.1%} "
              f"{fmt_time(start_up[0]):>8} {fmt_time(epoch):>12}  {total}", flush=True)
        report["nets"][name] = {"reference": ref, "ours": our, "start_up_s": start_up[0], "share_of_peak": share,
                                "compile_failed": compile_failed}
        if compile_failed:
            report["nets"][name]["eager"] = {"rate": our, "start_up_s": start_up[0]}
        if args.variants:
            row = {}
            if not compile_failed:
                torch.manual_seed(0)
                toggled_start_up = []
                toggled = f"compile {'off' if compiled else 'on'}"
                try:
                    row[toggled] = ours(build(), images, labels, mean, std, device, adversarial,
                                        compile=not compiled, start_up=toggled_start_up)
                    # both ways, for benchmarks/gpu_queue.py's choice: images/s and the first pass's extra seconds
                    ways = {compiled: (our, start_up[0]), not compiled: (row[toggled], toggled_start_up[0])}
                    for is_compiled, (rate, seconds) in ways.items():
                        report["nets"][name]["compiled" if is_compiled else "eager"] = {"rate": rate,
                                                                                        "start_up_s": seconds}
                except Exception as err:
                    print(f"  ({name}, {toggled}: {type(err).__name__}: {str(err)[:300]})")
            torch.manual_seed(0)
            # compiling again for one setting costs minutes of a lent GPU: bf16 is judged eager
            toggled = f"bf16 {'off' if bf16 else 'on'}" + (", compile off" if compiled else "")
            toggled_start_up = []
            row[toggled] = ours(build(), images, labels, mean, std, device, adversarial, compile=False,
                                bf16=not bf16, start_up=toggled_start_up)
            report["nets"][name]["eager_other_bf16"] = {"rate": row[toggled], "start_up_s": toggled_start_up[0],
                                                        "bf16": not bf16}
            if device == "cpu" and threads > 1:
                torch.set_num_threads(1)
                torch.manual_seed(0)
                row["1 thread"] = ours(build(), images, labels, mean, std, device, adversarial)
                torch.set_num_threads(threads)
            for batch_size in (128, 1000):
                row[f"eval, batch {batch_size}"] = evaluation(build(), train.images[:max(n, 1000)], mean, std,
                                                              device, batch_size)
            variants[name] = row
            report["nets"][name]["variants"] = row
        # after every network, so a run stopped part-way keeps what it measured; whole, so a kill mid-write
        # leaves the last table, not half of one
        if args.json:
            files.write_atomic(args.json, json.dumps(report, indent=1))

    if variants:
        print("\nOur loop with one setting changed (images/s; training rows as a ratio to ours as above):")
        for name, row in variants.items():
            cells = [f"{k}: {v:,.1f} img/s" + ("" if k.startswith("eval") else f" ({v / measured[name]:.2f}x)")
                     for k, v in row.items()]
            print(f"  {name}: " + "; ".join(cells), flush=True)

    if args.no_ceiling:
        return
    print("\nCeiling: the network's own convolutions alone, forward and backward, batch 128, best of 3")
    head = (f"{'network (profile)':<46} {'fp32 img/s':>10} {'fp32 GFLOP/s':>12} {'bf16 img/s':>10} "
            f"{'bf16 GFLOP/s':>12} {'ours img/s':>10} {'ours / best ceiling':>19}")
    print(head)
    print("-" * len(head))
    for name, our in measured.items():
        _, build, adversarial = NETS[name]
        fp32, fp32_flops = ceiling(build, device, False, adversarial)
        half, half_flops = ceiling(build, device, True, adversarial)
        print(f"{name:<46} {fp32:>10,.1f} {fp32_flops:>12,.1f} {half:>10,.1f} {half_flops:>12,.1f} {our:>10,.1f} "
              f"{our / max(fp32, half):>18.0%}", flush=True)

if __name__ == "__main__":
    main()
