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


def loss_gradient(model, x, labels, kind="true", generator=None):
    """The gradient at x of the summed cross-entropy for the `kind` attack label (attack_label), and the
    logits: the one place every gradient-sign step in the library starts from. The loss is taken in fp32
    (under bf16 autocast the logits are bf16); logits of any leading shape (the toy's batched nets) are
    flattened to one row per example."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    target = attack_label(kind, logits.detach(), labels, generator)
    loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad, logits.detach()


TOWARDS = {"least_likely", "random"}  # targeted steps descend the target's loss


def step_direction(net, x, y, kind, gen=None):
    """The sign of the `kind` attack's step at x (one forward and one backward pass), and the logits: up the
    loss of the true or predicted label, down the loss of a least-likely or random target."""
    grad, logits = loss_gradient(net, x, y, kind, gen)
    step = grad.sign()
    return (-step if kind in TOWARDS else step), logits


def step_as_trained(net, x, y, kind, gen=None):
    """The `kind` attack's step as FGSM training computes it (training.mixed_attack): the network in training
    mode, so that BatchNorm normalizes by the batch's own statistics and each image's step depends on the rest of
    its batch, with the running statistics left as they were and the network's mode restored after."""
    was_training = net.training
    net.train()
    try:
        with batchnorm_stats_kept(net):
            return step_direction(net, x, y, kind, gen)
    finally:
        net.train(was_training)


def fgsm(model, x, y, eps, lo=0.0, hi=1.0):
    """One step of size eps along sign(grad of the loss for label y), kept in [lo, hi]."""
    return (x + eps * loss_gradient(model, x, y)[0].sign()).clamp(lo, hi).detach()


def pgd(model, x, y, eps, steps=20, step_size=None, lo=0.0, hi=1.0):
    """Projected gradient ascent on the loss for label y inside the eps-ball around x.

    No random start: the same inputs give the same adversarial points.
    """
    step_size = eps / 4 if step_size is None else step_size
    x_adv = x.detach().clone()
    for _ in range(steps):
        x_adv = x_adv + step_size * loss_gradient(model, x_adv, y)[0].sign()
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
