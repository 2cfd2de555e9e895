"""The toy's pieces on a few seeds and few steps: consistent with each other and repeatable."""

import torch

from leaklab import toy2d


def _small(seeds=(0, 1, 2, 3), eps=(0.0, 0.1, 0.3)):
    originals = toy2d.train_originals(list(seeds), n_points=12, steps=300)
    return originals, toy2d.distil(originals, list(eps), steps=200, control=True)


def test_flipped_points_carry_wrong_labels_and_scores_are_bounded():
    originals, d = _small()
    y = originals.y.repeat_interleave(3, 0)
    fitted = (originals.correct == 12).repeat_interleave(3)
    # On a net that fits its points, a flipped point's new label is the wrong one.
    assert (d.y_wrong[d.flipped & fitted[:, None]] != y[d.flipped & fitted[:, None]]).all()
    assert not d.grid(d.flipped.any(1))[:, 0].any()  # eps = 0 flips nothing
    assert ((0 <= d.student_correct) & (d.student_correct <= 12)).all()
    metrics = toy2d.summarize(originals, toy2d.distil(originals, [0.1], steps=200, control=True), 12)
    assert 0 <= metrics["student_correct_mean"] <= 12 and 0 <= metrics["flipped_mean"] <= 12


def test_same_seeds_same_result():
    a, b = _small(seeds=(5, 6)), _small(seeds=(5, 6))
    assert torch.equal(a[1].student_correct, b[1].student_correct)
    assert torch.equal(a[1].x_adv, b[1].x_adv)


def test_case_for_the_figures():
    originals, d = _small()
    case = toy2d.case(originals, d, seed_index=1, eps_index=2, resolution=20)
    assert case["seed"] == 1 and case["eps"] == 0.3
    assert case["original_regions"].shape == (20, 20) and case["student_regions"].shape == (20, 20)
    assert case["student_correct"] == int(d.student_correct[1 * 3 + 2])
