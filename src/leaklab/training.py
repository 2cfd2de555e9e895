"""Training loops."""

import torch
import torch.nn.functional as F


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
