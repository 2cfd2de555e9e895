"""The 2D toy of Wallace (2019): distil a net from its own mislabeled adversarial points.

Every step works on a population of seeds at once (one small net per seed, see
`models.MLPs`), so one seed, 200 seeds or 50 seeds x 16 radii cost about the
same number of Python steps.
"""

from dataclasses import dataclass

import torch

from .attacks import fgsm, pgd
from .models import MLPs
from .training import fit_full_batch, predict

# Fresh nets and control labels get seeds far from the originals' seeds.
STUDENT_SEED_OFFSET = 1_000_003
CONTROL_SEED_OFFSET = 2_000_003


def make_points(seeds, n_points):
    """Uniform points in [0,1]^2 with random binary labels, one set per seed."""
    xs, ys = [], []
    for s in seeds:
        g = torch.Generator().manual_seed(int(s))
        xs.append(torch.rand(n_points, 2, generator=g))
        ys.append(torch.randint(0, 2, (n_points,), generator=g))
    return torch.stack(xs), torch.stack(ys)


@dataclass
class Originals:
    """One net per seed, trained on its seed's random points."""

    seeds: list
    x: torch.Tensor  # [seeds, points, 2]
    y: torch.Tensor  # [seeds, points]
    nets: MLPs
    correct: torch.Tensor  # [seeds] points each net gets right (all of them, when it fits)

    def first(self, k):
        return Originals(self.seeds[:k], self.x[:k], self.y[:k], self.nets.take(slice(0, k)), self.correct[:k])


def train_originals(seeds, n_points=32, hidden=32, depth=2, steps=1500, lr=0.01):
    x, y = make_points(seeds, n_points)
    nets = fit_full_batch(MLPs(seeds, hidden=hidden, depth=depth), x, y, steps=steps, lr=lr)
    return Originals(list(seeds), x, y, nets, (predict(nets, x) == y).sum(1))


@dataclass
class Distilled:
    """The attack and the fresh nets for `len(seeds) * len(eps)` cases.

    Case k is seed `seeds[k // len(eps)]` at radius `eps[k % len(eps)]`.
    """

    seeds: list
    eps: list
    x_adv: torch.Tensor  # [cases, points, 2]
    flipped: torch.Tensor  # [cases, points] bool: the original's prediction changed
    y_wrong: torch.Tensor  # [cases, points] the original's new, wrong predictions
    students: MLPs  # fresh nets trained only on (x_adv, y_wrong) where flipped
    student_correct: torch.Tensor  # [cases] score of the fresh net on the original points
    control_correct: torch.Tensor | None  # [cases] same, for fresh nets given random labels

    def grid(self, values):
        """A [cases] tensor as [seeds, radii]."""
        return values.view(len(self.seeds), len(self.eps))


def distil(originals, eps, attack="pgd", attack_steps=20, hidden=32, depth=2, steps=1000, lr=0.01,
           control=False):
    """Attack each original at each radius, keep the flipped points with their new labels,
    and train a fresh net on only those."""
    k = len(eps)
    x, y = originals.x.repeat_interleave(k, 0), originals.y.repeat_interleave(k, 0)
    nets = originals.nets.take(torch.arange(len(originals.seeds)).repeat_interleave(k))
    radius = torch.tensor(eps, dtype=x.dtype).repeat(len(originals.seeds)).view(-1, 1, 1)
    if attack == "pgd":
        x_adv = pgd(nets, x, y, radius, steps=attack_steps)
    else:
        x_adv = fgsm(nets, x, y, radius)
    y_wrong = predict(nets, x_adv)
    flipped = y_wrong != predict(nets, x)
    cases = [s for s in originals.seeds for _ in eps]

    def fresh(labels, offset):
        net = MLPs([s + offset for s in cases], hidden=hidden, depth=depth)
        net = fit_full_batch(net, x_adv, labels, mask=flipped, steps=steps, lr=lr)
        return net, (predict(net, x) == y).sum(1)

    students, student_correct = fresh(y_wrong, STUDENT_SEED_OFFSET)
    control_correct = None
    if control:
        g = torch.Generator().manual_seed(int(originals.seeds[0]) + CONTROL_SEED_OFFSET)
        _, control_correct = fresh(torch.randint(0, 2, y_wrong.shape, generator=g), STUDENT_SEED_OFFSET)
    return Distilled(list(originals.seeds), list(eps), x_adv, flipped, y_wrong, students,
                     student_correct, control_correct)


def eps_grid(eps_max, n):
    return [round(eps_max * i / (n - 1), 6) for i in range(n)]


def summarize(originals, population, n_points):
    """The record's metrics. Seeds whose original net did not fit all its points are left out
    of the score statistics (the claim starts from a net that fits), and counted in
    `original_fit_rate`."""
    fits = originals.correct == n_points
    score = population.student_correct[fits].float()
    chance = n_points / 2
    return {
        "student_correct_mean": score.mean().item(),
        "student_correct_median": score.median().item(),
        "student_correct_sd": score.std().item(),
        "student_above_chance": (score > chance).float().mean().item(),
        "student_correct_seed": population.student_correct[0].item(),
        "original_fit_rate": fits.float().mean().item(),
        "flipped_mean": population.flipped[fits].sum(1).float().mean().item(),
        "control_correct_mean": population.control_correct[fits].float().mean().item(),
    }


@torch.no_grad()
def regions(nets, resolution=200):
    """Each net's predicted class on a resolution x resolution grid over [0,1]^2."""
    t = torch.linspace(0, 1, resolution)
    gx, gy = torch.meshgrid(t, t, indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1)
    return predict(nets, grid.expand(len(nets), -1, -1)).view(len(nets), resolution, resolution)


def case(originals, distilled, seed_index=0, eps_index=0, resolution=200):
    """One seed at one radius, as the plain values `figures.toy_panels` draws."""
    k = seed_index * len(distilled.eps) + eps_index
    return {
        "seed": originals.seeds[seed_index],
        "eps": distilled.eps[eps_index],
        "n_points": originals.x.shape[1],
        "x": originals.x[seed_index],
        "y": originals.y[seed_index],
        "x_adv": distilled.x_adv[k],
        "flipped": distilled.flipped[k],
        "y_wrong": distilled.y_wrong[k],
        "original_correct": int(originals.correct[seed_index]),
        "student_correct": int(distilled.student_correct[k]),
        "original_regions": regions(originals.nets.take([seed_index]), resolution)[0],
        "student_regions": regions(distilled.students.take([k]), resolution)[0],
    }
