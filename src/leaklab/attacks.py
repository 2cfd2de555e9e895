"""Gradient-sign attacks in the l_inf ball, for any model that maps inputs to logits.

`eps` may be a number or a tensor that broadcasts against `x` (one radius per
model or per example). Losses are summed, not averaged, so each example's
gradient is its own whatever else the batch holds, for a model in eval mode. A
model in train mode with BatchNorm normalizes by the batch's own statistics, so
there each example's gradient also depends on the rest of its batch: FGSM
training attacks the network as it trains, in train mode, with
`batchnorm_stats_kept` so that the attack's pass is not counted as a batch.
"""

import contextlib

import torch
import torch.nn.functional as F
from torch import nn


ATTACK_LABELS = ("true", "predicted", "least_likely", "random")


def attack_label(kind, logits, labels, generator=None):
    """The label a gradient is computed for: the true one, the model's prediction, its least likely
    class, or a class drawn uniformly from all ten (independent of the true label)."""
    if kind == "true":
        return labels
    if kind == "predicted":
        return logits.argmax(1)
    if kind == "least_likely":
        return logits.argmin(1)
    if kind == "random":
        return torch.randint(0, logits.shape[1], labels.shape, generator=generator, device=labels.device)
    raise ValueError(f"unknown attack label {kind!r}: choose one of {', '.join(ATTACK_LABELS)}")


def _loss_grad(model, x, y):
    x = x.detach().requires_grad_(True)
    logits = model(x)
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model, x, y, eps, lo=0.0, hi=1.0):
    """One step of size eps along sign(grad of the loss for label y), kept in [lo, hi]."""
    return (x + eps * _loss_grad(model, x, y).sign()).clamp(lo, hi).detach()


def pgd(model, x, y, eps, steps=20, step_size=None, lo=0.0, hi=1.0):
    """Projected gradient ascent on the loss for label y inside the eps-ball around x.

    No random start: the same inputs give the same adversarial points.
    """
    step_size = eps / 4 if step_size is None else step_size
    x_adv = x.detach().clone()
    for _ in range(steps):
        x_adv = x_adv + step_size * _loss_grad(model, x_adv, y).sign()
        x_adv = torch.max(torch.min(x_adv, x + eps), x - eps).clamp(lo, hi).detach()
    return x_adv


@contextlib.contextmanager
def batchnorm_stats_kept(model):
    """Within the block, train-mode forward passes through `model` leave its BatchNorm running statistics
    (means, variances, batch counts) as they were: an attack's extra pass must not move the statistics the
    trained network is evaluated with."""
    kept = [(buffer, buffer.clone()) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
            for buffer in (m.running_mean, m.running_var, m.num_batches_tracked) if buffer is not None]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in kept:
                buffer.copy_(value)
