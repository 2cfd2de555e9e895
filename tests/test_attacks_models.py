"""Attacks stay inside the eps-ball and the input range and raise the loss; nets have the right shapes."""

import torch
import torch.nn.functional as F

from leaklab.attacks import fgsm, pgd
from leaklab.models import MLPs
from leaklab.toy2d import make_points


def _loss(model, x, y):
    logits = model(x)
    return F.cross_entropy(logits.reshape(-1, 2), y.reshape(-1), reduction="none").view(y.shape)


def test_mlps_shapes_and_independent_seeds():
    nets = MLPs([3, 4, 5], hidden=16, depth=3)
    assert nets(torch.rand(3, 7, 2)).shape == (3, 7, 2)
    alone = MLPs([4], hidden=16, depth=3)
    for w_batch, w_alone in zip(nets.weights, alone.weights):
        assert torch.equal(w_batch[1], w_alone[0])  # a seed's net does not depend on its neighbours
    picked = nets.take([2, 2, 0])
    assert len(picked) == 3 and torch.equal(picked.weights[0][0], nets.weights[0][2])


def test_pgd_and_fgsm_stay_in_the_ball_and_the_unit_square_and_raise_the_loss():
    torch.manual_seed(0)
    x, y = make_points(range(16), 32)
    nets = MLPs(range(16))
    eps = torch.linspace(0.01, 0.3, 16).view(-1, 1, 1)  # one radius per net
    for attack in (lambda: pgd(nets, x, y, eps, steps=10), lambda: fgsm(nets, x, y, eps)):
        x_adv = attack()
        assert x_adv.shape == x.shape
        assert ((x_adv - x).abs() <= eps + 1e-6).all()
        assert x_adv.min() >= 0 and x_adv.max() <= 1
        before, after = _loss(nets, x, y), _loss(nets, x_adv, y)
        assert (after.mean(1) > before.mean(1)).all()  # every net's mean loss goes up
        assert (after >= before - 1e-5).float().mean() > 0.9  # and almost every point's
    assert torch.equal(pgd(nets, x, y, 0.0, steps=3), x)
