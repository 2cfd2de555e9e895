"""Training loops: full-batch for the toy's tiny nets, minibatches from in-memory tensors for images."""

import time

import torch
import torch.nn.functional as F

from . import records


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


def pixel_stats(images):
    """Mean and standard deviation of all pixels of uint8 images, on the [0, 1] scale."""
    x = images.float().div_(255)
    return x.mean().item(), x.std().item()


def to_input(images, norm):
    """uint8 images [B, H, W] to the float batch [B, 1, H, W] a net sees: (pixel/255 - mean) / std.

    A single channel is contiguous in both layouts, so the batch is already in
    channels_last memory, which is what makes the CPU convolutions fast.
    """
    mean, std = norm
    return images.unsqueeze(1).float().sub_(255 * mean).div_(255 * std)


def fit(model, images, labels, norm, epochs=1, batch_size=128, lr=1e-3, optimizer="adam", seed=0, log=print):
    """Train on shuffled minibatches. `optimizer` "adam": Adam with the learning rate
    decayed linearly to zero over the run (our default: short runs need no tuning);
    "adadelta": pytorch/examples' MNIST recipe, Adadelta with the rate times 0.7
    after each epoch.

    The whole training set stays in memory as uint8: a batch is one gather, one
    conversion and one normalization, with no per-sample Python. `seed` fixes the
    batch order and the dropout masks.
    """
    torch.manual_seed(seed)
    order_rng = torch.Generator().manual_seed(seed)
    model.to(memory_format=torch.channels_last).train()
    n = len(images)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=lr, foreach=True)
        total = epochs * -(-n // batch_size)
        schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 - step / total)
    else:
        opt = torch.optim.Adadelta(model.parameters(), lr=lr, foreach=True)
        schedule = None
    for epoch in range(epochs):
        start, loss_sum = time.perf_counter(), torch.zeros(())
        for idx in torch.randperm(n, generator=order_rng).split(batch_size):
            loss = F.cross_entropy(model(to_input(images[idx], norm)), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if schedule:
                schedule.step()
            loss_sum += loss.detach() * len(idx)
        if not schedule:
            for group in opt.param_groups:
                group["lr"] *= 0.7
        seconds = time.perf_counter() - start
        if log:
            log(f"  epoch {epoch + 1}/{epochs}: loss {loss_sum.item() / n:.4f}, {n / seconds:,.0f} images/s, "
                f"{seconds:.0f} s")
    return model.eval()


@torch.inference_mode()
def classify(model, images, norm, batch_size=256):
    """The model's predicted class for each uint8 image."""
    model.eval()
    return torch.cat([model(to_input(chunk, norm)).argmax(1) for chunk in images.split(batch_size)])


def save_checkpoint(obj, path):
    """torch.save, atomically (records.atomic)."""
    with records.atomic(path) as tmp:
        torch.save(obj, tmp)


def load_checkpoint(path):
    """A checkpoint this project wrote: tensors, numbers, strings and containers only (no unpickling)."""
    return torch.load(path, weights_only=True)
