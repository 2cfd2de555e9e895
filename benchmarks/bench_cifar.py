"""Our CIFAR-10 engine against a kuangliu/pytorch-cifar style loop; prints a table.

    python benchmarks/bench_cifar.py [--batches 10] [--device auto] [--nets all|quick|full]

For each network the notebooks train (both profiles of both chapters), the same
model, optimizer (SGD, momentum 0.9, weight decay 5e-4, batch 128) and number of
images go through two loops, one after the other in this run:
- reference: kuangliu/pytorch-cifar's pipeline: a per-sample Dataset doing the
  random crop (padding 4) and flip in numpy, ToTensor-style float conversion and
  Normalize, a shuffling DataLoader, fp32, NCHW;
- ours: `training.sgd`: data on the device as uint8, batched crop and flip there,
  channels_last, bf16 autocast where it pays, torch.compile on CUDA.
FGSM rows replace half of each batch by FGSM images in both loops (the same attack
function). Each loop makes two passes over `batches` x 128 training images and
the second pass is timed, so start-up and compilation are not counted.

From the measured images/s the table extrapolates the time of one epoch (50,000
images) and of each full profile's training per seed: cifar_mislabeled's teacher
(2 epochs) and student (50 epochs on the 18,768 wrong images), with and without
the two controls; fgsm_leak's 60 epochs for one attack label and for all four.
Evaluation time is not included.
"""

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from leaklab import data, fgsm_leak, models, training

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
                step, _ = fgsm_leak.fgsm_direction(net, x[:half], y[:half], "true")
                eps = torch.randn(half, 1, 1, 1, device=device).abs() * 12 / 255 / norm_std
                x = torch.cat([x[:half] + eps * step, x[half:]])
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if device == "cuda":
            torch.cuda.synchronize()
    return len(labels) / (time.perf_counter() - start)


def ours(net, images, labels, mean, std, device, adversarial, compile=None):
    model = models.Normalized(net, mean, std)
    _, history = training.sgd(model, images, labels, epochs=2, batch_size=128, lr=0.1, device=device,
                              compile=compile,
                              adversarial=fgsm_leak.mixed_fgsm("true", 12.0) if adversarial else None,
                              progress=False)
    return len(labels) / history[1]["seconds"]


def fmt_time(seconds):
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min" if seconds >= 60 \
        else f"{seconds:.0f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10, help="batches of 128 per timed pass")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--nets", default="all", choices=("all", "quick", "full"))
    ap.add_argument("--compile", action="store_true",
                    help="also time our loop with torch.compile switched the other way (on, on a CPU)")
    args = ap.parse_args()
    device = training.resolve_device(args.device)
    if device == "cpu":
        torch.set_num_threads(min(2, torch.get_num_threads()))
    train = data.load("cifar10", "train")
    mean, std = training.channel_stats(train.images)
    n = args.batches * 128
    images, labels = train.images[:n], train.labels[:n]
    print(f"device: {training.describe_device(device)}; torch {torch.__version__}; bf16 autocast "
          f"{'on' if training.bf16_helps(device) else 'off'}; compile {'on' if device == 'cuda' else 'off'}; "
          f"{n} images per timed pass\n")
    flip = device != "cuda"  # the setting --compile tries: the opposite of the default
    head = (f"{'network (profile)':<46} {'reference img/s':>15} {'ours img/s':>10} {'ratio':>6} "
            f"{'epoch (ours)':>12}  full profile per seed (ours)"
            + (f"  | ours, compile {'on' if flip else 'off'}" if args.compile else ""))
    print(head)
    print("-" * len(head))
    for name, (profile, build, adversarial) in NETS.items():
        if args.nets != "all" and profile != args.nets:
            continue
        torch.manual_seed(0)
        ref = reference(build().to(memory_format=torch.contiguous_format), images, labels, mean, std, device,
                        adversarial)
        torch.manual_seed(0)
        our = ours(build(), images, labels, mean, std, device, adversarial)
        epoch = 50000 / our
        if name.startswith("cifar_mislabeled full"):
            one = (2 * 50000 + 50 * N_WRONG) / our
            total = f"teacher + student {fmt_time(one)}; with both controls {fmt_time(one + 100 * N_WRONG / our)}"
        elif name.startswith("fgsm_leak full"):
            total = f"one attack label {fmt_time(60 * epoch)}; all four {fmt_time(240 * epoch)}"
        else:
            total = "-"
        extra = ""
        if args.compile:
            torch.manual_seed(0)
            other = ours(build(), images, labels, mean, std, device, adversarial, compile=flip)
            extra = f"  | {other:,.0f} img/s ({other / our:.2f}x ours)"
        print(f"{name:<46} {ref:>15,.0f} {our:>10,.0f} {our / ref:>5.2f}x {fmt_time(epoch):>12}  {total}{extra}",
              flush=True)


if __name__ == "__main__":
    main()
