"""The networks of the book, defined plainly."""

import math

import torch
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
