"""The networks of the book, defined plainly."""

import math

import torch
import torch.nn.functional as F
from torch import nn


class MLPs(nn.Module):
    """`n` independent ReLU MLPs run as one batched matmul: one small net per seed.

    The toy claim trains hundreds of tiny nets on 32 points each; looping over them
    in Python would cost far more than the arithmetic, so each layer holds a stack
    of `n` weight matrices and `forward` maps inputs [n, points, d_in] to logits
    [n, points, d_out]. Net `i` is initialised from `seeds[i]` alone, so a seed
    gives the same net whatever else shares the batch.
    """

    def __init__(self, seeds, d_in=2, hidden=32, depth=2, d_out=2, in_mean=0.5, in_std=0.29):
        super().__init__()
        # Inputs are standardized inside the net (the toy's points are uniform on
        # [0,1]: mean 0.5, std 0.29), so attacks work in the raw input space.
        self.in_mean, self.in_std = in_mean, in_std
        dims = [d_in] + [hidden] * depth + [d_out]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        gens = [torch.Generator().manual_seed(int(s)) for s in seeds]
        for a, b in zip(dims[:-1], dims[1:]):
            bound = 1 / math.sqrt(a)  # nn.Linear's default init
            w = torch.stack([torch.empty(a, b).uniform_(-bound, bound, generator=g) for g in gens])
            bias = torch.stack([torch.empty(1, b).uniform_(-bound, bound, generator=g) for g in gens])
            self.weights.append(nn.Parameter(w))
            self.biases.append(nn.Parameter(bias))

    def __len__(self):
        return self.weights[0].shape[0]

    def forward(self, x):
        x = (x - self.in_mean) / self.in_std
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            x = torch.baddbmm(b, x, w)
            if i < last:
                x = torch.relu(x)
        return x

    def take(self, index):
        """A new stack holding the nets at `index` (repeats allowed), detached from this one."""
        copy = MLPs.__new__(MLPs)
        nn.Module.__init__(copy)
        copy.in_mean, copy.in_std = self.in_mean, self.in_std
        copy.weights = nn.ParameterList([nn.Parameter(w.detach()[index].clone()) for w in self.weights])
        copy.biases = nn.ParameterList([nn.Parameter(b.detach()[index].clone()) for b in self.biases])
        return copy


def dropout(x, p, training=True):
    """Inverted dropout whose keep-mask comes from random bytes: keep where byte >= 256 p.

    The same layer as `F.dropout` for p a multiple of 1/256 (0.25 and 0.5 here),
    but on a CPU drawing one random bit-string is about 6x cheaper than
    `bernoulli_`, which took an eighth of the MNIST CNN's training step.
    """
    if not training or p == 0:
        return x
    n = x.numel()
    words = torch.randint(-2**63, 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=x.device)
    keep = words.view(torch.uint8)[:n].view(x.shape) >= round(p * 256)
    return x * keep * (1 / (1 - p))


class MnistCNN(nn.Module):
    """The two-conv MNIST net of pytorch/examples: conv 32, conv 64, max-pool, dropout 0.25, dense 128,
    dropout 0.5, dense 10 (1.2M parameters).

    Two rewrites that leave the function unchanged make it train about 1.5x faster
    on a CPU, with inputs in channels_last memory: the ReLU after conv2 is taken
    after the pool (max and ReLU commute), on a quarter of the values; and the
    pooled features are flattened in (height, width, channel) order, which in
    channels_last memory is a view rather than a copy (a dense layer does not care
    about the order of its inputs).
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.fc1 = nn.Linear(9216, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = torch.relu(F.max_pool2d(self.conv2(x), 2))
        x = dropout(x, 0.25, self.training).permute(0, 2, 3, 1).flatten(1)
        x = dropout(torch.relu(self.fc1(x)), 0.5, self.training)
        return self.fc2(x)


def mlp(sizes):
    """A plain ReLU MLP, e.g. mlp([784, 256, 256, 10]) is a 3-layer MLP."""
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(nn.Flatten(), *layers[:-1])
