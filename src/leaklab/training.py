"""Training loops: full-batch for the toy's tiny nets; one minibatch loop for every image model."""

import hashlib
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from . import attacks, files, stats
from .errors import ParameterError, RunError


def fit_full_batch(model, x, y, mask=None, steps=1000, lr=1e-2):
    """Train batched nets on their whole (small) training sets with Adam.

    x: [n, points, d], y: [n, points]; mask [n, points] marks the points each net
    trains on (nets may have different numbers of points). Each net's loss is its
    own masked mean, and the losses are summed, so the nets do not interact.
    """
    mask = torch.ones_like(y, dtype=torch.float32) if mask is None else mask.float()
    per_net = mask.sum(1).clamp(min=1)
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    for _ in range(steps):
        logits = model(x)
        losses = F.cross_entropy(logits.transpose(1, 2), y, reduction="none")  # [n, points]
        loss = ((losses * mask).sum(1) / per_net).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


@torch.no_grad()
def predict(model, x):
    return model(x).argmax(-1)


def unit_pixels(images):
    """uint8 pixels to floats in [0, 1]: what every image model here takes (models.Normalized standardizes
    them inside the model, so that attacks step and clip in pixel space)."""
    return images.float().div_(255)


def momentum_sgd(momentum=0.9, weight_decay=5e-4, decay=True):
    """An optimizer recipe for `fit`: SGD with momentum and weight decay, the rate falling linearly to zero
    over the run, or constant without `decay` (a snapshot of a longer run, as cifar_mislabeled's 2-epoch
    teacher is). With momentum and weight decay 0 and no decay it is plain SGD (gradient_leak's probe)."""
    def recipe(params, lr, steps_per_epoch, total_steps):
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, foreach=True)
        return opt, torch.optim.lr_scheduler.LambdaLR(opt, (lambda s: 1 - s / total_steps) if decay
                                                      else (lambda s: 1.0))
    return recipe


def adam_decayed(params, lr, steps_per_epoch, total_steps):
    """An optimizer recipe for `fit`: Adam with the rate decayed linearly to zero over the run (the MNIST
    nets: short runs that need no tuning). A recipe returns the optimizer and a scheduler stepped after every
    batch; the benchmarks pass pytorch/examples' Adadelta recipe the same way."""
    opt = torch.optim.Adam(params, lr=lr, foreach=True)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / total_steps)


def accuracy(predicted, labels):
    return (predicted == labels).float().mean().item()


def confusion(rows, cols, n=10):
    """[n, n] counts: row = `rows` value (e.g. the true class), column = `cols` value (e.g. the prediction)."""
    counts = torch.zeros(n, n, dtype=torch.int64)
    counts.index_put_((rows, cols), torch.ones(len(cols), dtype=torch.int64), accumulate=True)
    return counts


def sweep_sizes(n, points):
    """n, n/2, n/4, ... (`points` sizes, each half the last, none below one image): a sample sweep's training-set
    sizes, whole set first (a teacher's wrong set can be small enough to run out of halvings)."""
    return [n >> k for k in range(points) if n >> k >= 1]


def sample_sweep(total, points, refit, whole_answers, labels, teacher_answers, log=None, what="the student"):
    """A sample sweep over `total` training images (`sweep_sizes`, whole set first), summarized for the record
    (`sweep_summary`). The whole set's net is the student itself (`whole_answers`: its answers on the test
    images); every smaller size calls `refit(size, indices)`, with indices that cycle through the first `size`
    images (`cycled_first`), for that size's net's answers."""
    sizes = sweep_sizes(total, points)
    answers = [whole_answers]
    for size in sizes[1:]:
        if log:
            log(f"sample sweep: {what} refitted on the first {size:,} of {total:,} images, for the same steps")
        answers.append(refit(size, cycled_first(size, total)))
    return sweep_summary(sizes, answers, labels, teacher_answers)


def sweep_summary(sizes, predicted, labels, teacher_predicted):
    """A sample sweep for the record: per size (the whole set first; `predicted` holds each size's net's answers
    on the test images), the accuracy, the agreement with the teacher, the confusion, and the paired standard
    error of the accuracy minus the whole set's net's (the same test images: `stats.paired_gap_se`)."""
    right = [answers == labels for answers in predicted]
    return {"n_images": list(sizes), "acc": [accuracy(answers, labels) for answers in predicted],
            "agreement": [accuracy(answers, teacher_predicted) for answers in predicted],
            "confusion": [confusion(labels, answers).tolist() for answers in predicted],
            "minus_all_se": [stats.paired_gap_se(r, right[0]) for r in right]}


def cycled_first(n, total):
    """Indices that cycle through the first `n` of `total` items: a training set of only n distinct images that
    takes as many steps per epoch as all `total` would, so a sweep over n compares nets trained for the same
    number of steps, on the same schedule, and differing only in how many distinct images they saw."""
    return torch.arange(total) % n


def label_shares(rows, cols, n=10):
    """[n, n]: for each value of `rows` (e.g. the true class), the share of its items with each value of
    `cols` (e.g. the label a teacher gave); a row with no items is all zeros."""
    counts = confusion(rows, cols, n).float()
    return counts / counts.sum(1, keepdim=True).clamp(min=1)


def save_checkpoint(obj, path):
    """torch.save, atomically (files.atomic)."""
    with files.atomic(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path):
    """A checkpoint this project wrote: tensors, numbers, strings and containers only (no unpickling). A file
    torch cannot read (damaged on disk, cut by a full disk) is named, with what to do, instead of torch's reader
    error, which names no file."""
    try:
        return torch.load(path, weights_only=True)
    except Exception as err:
        raise RunError(f"cannot read the checkpoint {path} ({type(err).__name__}): delete it to train that "
                       "network again from the start") from err


def computed_once(path, compute):
    """compute() (a dict of tensors); with a `path`, computed once, kept there (a checkpoint) and read back from it
    after: what a resumed run must see as its first process saw it, such as a teacher's answers, from which a
    student's training set is drawn (under bf16, or on another GPU, a borderline answer may come out otherwise
    in a new process, and the student's checkpoint would refuse the new set)."""
    if path is not None and Path(path).exists():
        return load_checkpoint(path)
    out = compute()
    if path is not None:
        save_checkpoint(out, path)
    return out


def training_data_digest(images, labels, epochs, batch_size, augment):
    """What a checkpoint of `fit` was trained on: the images, the labels and the schedule's shape. A resume on
    other data (a student's wrong set that came out one image different in a new process) would otherwise go on
    silently, with batch positions made for the old set."""
    h = hashlib.sha256(f"{len(labels)} {tuple(images.shape)} {epochs} {batch_size} {augment}\n".encode())
    h.update(labels.detach().cpu().numpy().tobytes())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def mixed_attack(kind, sigma, share=0.5, fixed_eps=0.0):
    """The `adversarial` hook of `fit`: the first `share` of each batch replaced by `kind` FGSM images (attacks:
    one signed step), with per-example eps ~ |N(0, sigma)| / 255, or fixed_eps / 255 for all when it is
    positive."""
    def adversarial(net, x, y, gen):
        n = round(len(x) * share)
        if fixed_eps > 0:
            eps = torch.full((n, 1, 1, 1), fixed_eps / 255, device=x.device)
        else:
            eps = torch.randn(n, 1, 1, 1, generator=gen, device=x.device).abs_().mul_(sigma / 255)
        step, _ = attacks.step_as_trained(net, x[:n], y[:n], kind, gen)  # keeps the running statistics as they are
        return torch.cat([(x[:n] + eps * step).clamp_(0, 1), x[n:]])
    return adversarial


# ---------------------------------------------------------------------------------------------------------
# The CIFAR-10 engine: SGD on a dataset held on the device, augmented there in batches.

def default_device():
    return "cuda" if torch.cuda.is_available() else "cpu"


def bf16_helps(device):
    """bf16 autocast pays off on CUDA and on CPUs with bf16 matrix units (AMX or AVX512-BF16: 1.4-2.2x on the
    full networks); on other CPUs it emulates bf16 and ran 12x slower (benchmarks/README.md). LEAKLAB_BF16=0 or 1
    overrides: on an H200 the launch-bound ResNet-110 trained 1.27x faster without it (benchmarks/README.md),
    and benchmarks/gpu_queue.py sets it from its own measurement. The record's device line says which ran."""
    forced = os.environ.get("LEAKLAB_BF16")
    if forced in ("0", "1"):
        return forced == "1"
    if str(device).startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return " amx_bf16" in flags or " avx512_bf16" in flags


def on_device(images, device, pad=0):
    """uint8 images [N, C, H, W] moved to the device once, as [N, H + 2 pad, W + 2 pad, C]: channels-last
    rows, so that a gathered batch is already in the memory layout the convolutions want."""
    hwc = images.permute(0, 2, 3, 1).to(device)
    return torch.nn.functional.pad(hwc, (0, 0, pad, pad, pad, pad)).contiguous()


def crop_flip(padded, idx, gen, pad=4):
    """A batch of random crops with random horizontal flips, as one gather on the device.

    padded: [N, H + 2 pad, W + 2 pad, C] uint8 from `on_device`. Each image gets its own
    offset in [0, 2 pad] along each axis and a coin for the flip; the flip is folded into
    the column indices. Returns floats in [0, 1], [B, C, H, W] in channels_last memory.
    """
    b, size = len(idx), padded.shape[1] - 2 * pad
    dev = padded.device
    dy, dx = torch.randint(0, 2 * pad + 1, (2, b, 1), generator=gen, device=dev)
    flip = torch.randint(0, 2, (b, 1), generator=gen, device=dev).bool()
    ar = torch.arange(size, device=dev)
    rows = dy + ar
    cols = dx + torch.where(flip, size - 1 - ar, ar)
    out = padded[idx[:, None, None], rows[:, :, None], cols[:, None, :]]
    return unit_pixels(out.permute(0, 3, 1, 2))


def plain_batch(padded, idx, pad=0):
    """The same batch layout as `crop_flip`, without augmentation (the central crop)."""
    size = padded.shape[1] - 2 * pad
    return unit_pixels(padded[idx, pad:pad + size, pad:pad + size].permute(0, 3, 1, 2))


def duration(seconds):
    """'3 h 05 min', '12 min', '40 s'."""
    seconds = round(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    return f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"


class Clock:
    """How much of a long run's training is left: it counts the training images a run has still to go
    through (every epoch of every network), times the ones this process trains, and tells the rest's
    duration at that pace. Epochs resumed from a checkpoint count as done but not as timed, so a resumed
    run's estimate is not flattered. Evaluation is not counted."""

    def __init__(self, total_images, log=print):
        self.total, self.done, self.timed, self.seconds, self.log = total_images, 0, 0, 0.0, log

    def resize(self, images):
        """Correct the total by `images` (a count that was estimated became known)."""
        self.total += images

    def skipped(self, images):
        self.done += images

    def trained(self, images, seconds):
        self.done += images
        self.timed += images
        self.seconds += seconds

    def estimate(self, images=0, seconds=0.0, what=""):
        """Log the images done and the time left, at the pace of what this process timed (plus `images` in
        `seconds` not yet counted: the first batches of an epoch)."""
        timed, spent = self.timed + images, self.seconds + seconds
        done, left = self.done + images, max(self.total - self.done - images, 0)
        pace = timed / spent if spent > 0 else None
        eta = f"; {pace:,.1f} images/s, about {duration(left / pace)} of training left" if pace else ""
        if self.log:
            self.log(f"{what}{done:,} of {self.total:,} training images{eta}")


class StepTimer:
    """The time a training loop's steps took, without its pauses: a step that took over PAUSE_S seconds and 20
    times the typical step was stopped (a suspended laptop, a SIGSTOP to free the CPU) and counts as a typical
    one, so the pace the Clock tells is the run's own. A step slowed by sharing the CPU counts in full."""
    PAUSE_S = 60.0

    def __init__(self):
        self.last, self.typical, self.paused = time.perf_counter(), None, 0.0

    def step(self):
        now = time.perf_counter()
        took, self.last = now - self.last, now
        if self.typical is not None and took > max(self.PAUSE_S, 20 * self.typical):
            self.paused += took - self.typical
        else:
            self.typical = took if self.typical is None else 0.9 * self.typical + 0.1 * took


def worth_compiling(device):
    """torch.compile on CUDA; never on a CPU. Measured side by side on a 2-core AVX2 CPU
    (benchmarks/bench_cifar.py --variants), it made the full profiles' ResNet-18 and ResNet-110 no faster
    (0.97-1.01x: their time is in the convolutions), and the small nets it does speed up (1.4x) train for
    less time than compiling takes. LEAKLAB_COMPILE=0 or 1 overrides (benchmarks/gpu_queue.py sets it from
    its own measurement); the choice changes speed, and the last bits of bf16 results (`arithmetic`)."""
    forced = os.environ.get("LEAKLAB_COMPILE")
    if forced in ("0", "1"):
        return forced == "1"
    return str(device).startswith("cuda")


def eval_batch(device):
    """Batch size for evaluation: large on a GPU; 128 on a CPU, where batches that fit the caches ran 1.3-1.5x
    faster than batches of 1000 (benchmarks/bench_cifar.py --variants)."""
    return 1000 if str(device).startswith("cuda") else 128


def fit(model, images, labels, *, epochs, batch_size=128, lr=0.1, optimizer=None, augment=True,
        adversarial=None, seed=0, checkpoint=None, device=None, compile=None, progress=True, desc="train",
        on_epoch=None, clock=None, bf16=None, save_every_s=600, log=None):
    """Train `model` (which takes pixels in [0, 1]) on shuffled minibatches of uint8 images [N, C, H, W]:
    the one minibatch loop, for the MNIST nets, the linear probe and the CIFAR ResNets alike.

    The data go to the device once as uint8; each batch is one gather, with its random
    crop and flip when `augment` (`crop_flip`), so the loop runs no per-sample Python.
    `optimizer` is a recipe (`momentum_sgd`, the default `momentum_sgd()`, or `adam_decayed`).
    `adversarial(model, x, y, gen)` may replace part of each batch (FGSM training). `on_epoch(model)`
    may measure the model after each epoch: what it returns (a dict) joins that epoch's history;
    `log(line)`, if given, is told each epoch's loss and pace.

    With a `checkpoint` path the state after every epoch (weights, optimizer, random
    generator, losses) is written there atomically, and also inside an epoch whenever `save_every_s`
    seconds have passed since the last write (an epoch of the full profiles takes half an hour on a
    2-core CPU, longer than a sitting may have left). A run started again with the same arguments
    resumes from the last write, mid-epoch included, and ends in the same state.
    All randomness after initialization comes from `seed`: batch order, crops, flips and attacks from one
    generator, dropout from torch's global one (seeded here and kept in the checkpoint).
    A `clock` (Clock) is told each epoch and logs the run's time left soon after the start and after
    every epoch, at the pace of this process's steps without its pauses (StepTimer; the history keeps each
    epoch's wall time). `compile` and `bf16` (autocast) default to what pays on the device (`worth_compiling`,
    `bf16_helps`). Returns (model in eval mode, per-epoch history).
    """
    from tqdm import tqdm  # text, so the executed notebooks keep a plain log (no widget state)

    device = device or default_device()
    model.to(device, memory_format=torch.channels_last).train()
    compile = worth_compiling(device) if compile is None else compile
    net = torch.compile(model) if compile else model
    x_all, y_all = on_device(images, device, pad=4 if augment else 0), labels.to(device)
    torch.manual_seed(seed)  # dropout's masks (the MNIST net); the other nets draw nothing from it
    gen = torch.Generator(device).manual_seed(seed)
    steps_per_epoch = -(-len(labels) // batch_size)
    opt, schedule = (optimizer or momentum_sgd())(model.parameters(), lr, steps_per_epoch,
                                                  epochs * steps_per_epoch)
    history, start_epoch, partial = [], 0, None
    digest = training_data_digest(images, labels, epochs, batch_size, augment) if checkpoint is not None else None
    if checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        if state.get("data") != digest:
            raise RunError(f"the checkpoint {checkpoint} was written for other training images, labels, epochs or "
                           "batch size than this run's: delete it to train that network again from the start")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        schedule.load_state_dict(state["schedule"])
        gen.set_state(state["gen"])
        set_global_rng(state.get("global_rng"), device)
        history, start_epoch = state["history"], state["epoch"]
        partial = state.get("partial")  # written inside epoch start_epoch + 1: where in it the run stopped
    if clock is not None:
        clock.skipped(start_epoch * len(labels) + (partial["seen"] if partial else 0))

    def save(epoch, partial=None):
        save_checkpoint({"model": model.state_dict(), "opt": opt.state_dict(), "schedule": schedule.state_dict(),
                         "gen": gen.get_state(), "global_rng": global_rng(device), "history": history,
                         "epoch": epoch, "partial": partial, "data": digest}, checkpoint)

    bf16 = bf16_helps(device) if bf16 is None else bf16
    amp = torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16)
    for epoch in range(start_epoch, epochs):
        model.train()
        if partial:  # the epoch's batch order comes from the generator as it was when the epoch began
            gen.set_state(partial["order_gen"])
        order_gen = gen.get_state()
        order = torch.randperm(len(labels), generator=gen, device=device)
        loss_sum, seen, start, first_step = torch.zeros((), device=device), 0, time.perf_counter(), 0
        before_stop = partial["seconds"] if partial else 0.0
        if partial:
            gen.set_state(partial["gen"])
            loss_sum, seen, first_step = partial["loss_sum"].to(device), partial["seen"], partial["step"]
            start -= before_stop  # the epoch's time counts what was trained before the stop
            partial = None
        bar = tqdm(total=len(labels), initial=seen, desc=f"{desc} epoch {epoch + 1}/{epochs}", unit="img",
                   unit_scale=True, mininterval=5, disable=not progress)
        last_save, timed_steps, timed_from, seen_before = time.perf_counter(), 0, time.perf_counter(), seen
        steps = StepTimer()
        for step, idx in enumerate(order.split(batch_size)):
            if step < first_step:  # done before the stop
                continue
            x = crop_flip(x_all, idx, gen) if augment else plain_batch(x_all, idx)
            y = y_all[idx]
            with amp:
                if adversarial is not None:
                    x = adversarial(net, x, y, gen)
                loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            loss_sum += loss.detach() * len(idx)
            seen += len(idx)
            bar.update(len(idx))
            if step % 50 == 49:
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", refresh=False)
            timed_steps += 1
            steps.step()
            if clock is not None and epoch == start_epoch and timed_steps == 10:  # a first pace, within minutes
                with bar.external_write_mode():  # on its own line, not inside the progress bar's
                    clock.estimate(seen - seen_before, time.perf_counter() - timed_from - steps.paused,
                                   f"{desc}, first batches: ")
            if checkpoint is not None and time.perf_counter() - last_save >= save_every_s:
                save(epoch, {"step": step + 1, "order_gen": order_gen, "gen": gen.get_state(),
                             "loss_sum": loss_sum.detach().cpu(), "seen": seen,
                             "seconds": time.perf_counter() - start})
                last_save = time.perf_counter()
        history.append({"epoch": epoch + 1, "loss": loss_sum.item() / seen,
                        "seconds": time.perf_counter() - start})
        if on_epoch is not None:
            history[-1].update(on_epoch(model))
            model.train()
        bar.set_postfix(loss=f"{history[-1]['loss']:.3f}")
        bar.close()
        running = history[-1]["seconds"] - before_stop - steps.paused  # this process's training, pauses left out
        if log:
            log(f"  {desc} epoch {epoch + 1}/{epochs}: loss {history[-1]['loss']:.4f}, "
                f"{(seen - seen_before) / max(running, 1e-9):,.0f} images/s, {history[-1]['seconds']:.0f} s")
        if clock is not None:
            clock.trained(seen - seen_before, running)
            clock.estimate(what=f"{desc} epoch {epoch + 1}/{epochs} done: ")
        if checkpoint is not None:
            save(epoch + 1)
    return model.eval(), history


def global_rng(device):
    """torch's global random state on the CPU and, when training there, on the GPU (dropout draws from it)."""
    state = {"cpu": torch.get_rng_state()}
    if str(device).startswith("cuda"):
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_global_rng(state, device):
    if state is None:  # a checkpoint written before the state was kept
        return
    torch.set_rng_state(state["cpu"])
    if "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


@torch.inference_mode()
def logits_of(model, images, device=None, batch_size=None):
    """The model's logits (float, on the CPU) for uint8 images [N, C, H, W]."""
    device = device or next(model.parameters()).device
    batch_size = batch_size or eval_batch(device)
    model.eval()
    x_all = on_device(images, device)
    amp = torch.autocast(torch.device(device).type, torch.bfloat16, enabled=bf16_helps(device))
    out = []
    for idx in torch.arange(len(images), device=device).split(batch_size):
        with amp:
            out.append(model(plain_batch(x_all, idx)).float().cpu())
    return torch.cat(out)


def channel_stats(images):
    """Per-channel mean and standard deviation of uint8 images [N, C, H, W], on the [0, 1] scale."""
    x = images.float().div_(255)
    return x.mean((0, 2, 3)).tolist(), x.std((0, 2, 3)).tolist()


def resolve_device(choice):
    """'auto' is CUDA when there is a GPU; asking for CUDA without one is an error, said plainly."""
    if choice == "auto":
        return default_device()
    if choice == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device='cuda' was asked for, but torch sees no GPU here: use "
                                         "device=auto or device=cpu")
    return choice


def arithmetic(device):
    """What a device trains in: its type, whether bf16 autocast runs, whether torch.compile runs (its fused kernels
    round otherwise than eager ones) and the torch release. Each changes the numbers, so checkpoint keys cover
    them: a resume never mixes networks trained in other arithmetic (a CPU with bf16 units and one without, a
    GPU's pieces resumed on a CPU, a compiled slice resumed eager after its compile failed, a torch upgrade)."""
    return (f"{torch.device(device).type} {'bf16' if bf16_helps(device) else 'fp32'} "
            f"{'compiled' if worth_compiling(device) else 'eager'} torch {torch.__version__}")


def describe_device(device):
    if str(device).startswith("cuda"):
        return (f"cuda ({torch.cuda.get_device_name(device)}; bf16 autocast {'on' if bf16_helps(device) else 'off'}, "
                f"torch.compile {'on' if worth_compiling(device) else 'off'})")
    # the CPU's own bf16 units switch autocast on (bf16_helps), which changes the numbers: the record says so
    return f"cpu ({torch.get_num_threads()} threads; bf16 autocast {'on' if bf16_helps(device) else 'off'})"
