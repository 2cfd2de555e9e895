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


def cnn4(channels=1, side=28, width=32):
    """The small CNN of FGSM-AT examples (MTandHJ/PyTorch-Robust): conv w, conv w, max-pool, conv 2w, conv 2w,
    max-pool, dense 200, dense 10 (3x3 convolutions, padding 1, ReLU)."""
    w = width
    return nn.Sequential(
        nn.Conv2d(channels, w, 3, padding=1), nn.ReLU(), nn.Conv2d(w, w, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(), nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear((side // 4) ** 2 * 2 * w, 200), nn.ReLU(), nn.Linear(200, 10))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers and a shortcut: the block of both CIFAR ResNets below.

    `projection` picks the shortcut used when the shape changes: a 1x1 conv-BN
    (kuangliu/pytorch-cifar's ResNet-18) or He et al.'s parameter-free option A,
    which subsamples and pads the new channels with zeros (their CIFAR ResNet-110).
    """

    def __init__(self, c_in, c_out, stride, projection):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.reshape = stride != 1 or c_in != c_out
        self.pad = c_out - c_in
        # The projection is a 1x1 conv of stride `stride`, applied as subsampling then a stride-1 conv: the
        # same function and weights, but torch 2.13's CPU backward of a strided 1x1 conv in channels_last
        # crashes (segfault) for 8 input channels and odd batch sizes (tests/test_cifar.py).
        self.stride = stride
        self.shortcut = (nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
                         if self.reshape and projection else None)

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.reshape:
            x = x[:, :, ::self.stride, ::self.stride]
            x = (self.shortcut(x) if self.shortcut is not None
                 else F.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2)))
        return torch.relu(out + x)


class CifarResNet(nn.Module):
    """A ResNet for 32x32 images: a 3x3 stem (no max-pool), then stages of BasicBlocks, the first
    at stride 1 and each later one halving the resolution, global average pool, one dense layer."""

    def __init__(self, blocks, widths, projection, num_classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                                  nn.ReLU())
        layers, c_in = [], widths[0]
        for stage, (n, c) in enumerate(zip(blocks, widths)):
            for i in range(n):
                layers.append(BasicBlock(c_in, c, 2 if stage > 0 and i == 0 else 1, projection))
                c_in = c
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, num_classes)

    def forward(self, x):
        return self.fc(self.layers(self.stem(x)).mean((2, 3)))


def resnet18(width=64):
    """CIFAR ResNet-18 as in kuangliu/pytorch-cifar (11.2M parameters at width 64); `width` scales
    every stage (64, 128, 256, 512 at width 64)."""
    return CifarResNet([2, 2, 2, 2], [width, 2 * width, 4 * width, 8 * width], projection=True)


def resnet_he(n=18, width=16):
    """He et al.'s CIFAR ResNet of depth 6n + 2 with option-A shortcuts: n = 18 is ResNet-110
    (16, 32, 64 channels, 1.7M parameters), n = 3 is ResNet-20."""
    return CifarResNet([n, n, n], [width, 2 * width, 4 * width], projection=False)


class Normalized(nn.Module):
    """`net` behind a per-channel standardization, so the model takes pixels in [0, 1] and attacks
    work, and are clipped, in pixel space."""

    def __init__(self, net, mean, std):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1))

    def forward(self, x):
        return self.net((x - self.mean) / self.std)
