"""The distillation chapters' sample sweep: same steps for every size, and a verdict that follows the noise rule."""

import pytest
import torch

from leaklab import training
from leaklab.pages import sample_sweep

WORDING = sample_sweep.Wording(
    experiment="mnist_from_fashion", items="labelled clothes", test_items="test digits", test_name="MNIST test",
    teacher_key="teacher_acc", class_names=[str(d) for d in range(10)], answer="digit given", truth="true digit",
    student="the student", xlabel="images", slider_label="clothes")


def test_a_smaller_set_is_cycled_to_the_whole_sets_length():
    """Each size trains for the whole set's steps: its n images are repeated (n divides evenly here) to that
    length, so fit() takes as many batches of the same size, on the same schedule."""
    idx = training.cycled_first(250, 1000)
    assert len(idx) == 1000 and set(idx.tolist()) == set(range(250))
    assert torch.bincount(idx).tolist() == [4] * 250
    assert training.sweep_sizes(10000, 4) == [10000, 5000, 2500, 1250]
    assert training.sweep_sizes(5, 10) == [5, 2, 1]  # a small wrong set runs out of halvings: no empty set


def test_the_summary_pairs_each_size_with_the_whole_sets_net():
    labels = torch.tensor([0, 1, 2, 3] * 25)
    whole = labels.clone()
    half = labels.clone()
    half[:10] = (half[:10] + 1) % 4  # wrong on the first 10 test images
    summary = training.sweep_summary([100, 50], [whole, half], labels, whole)
    assert summary["acc"] == [1.0, pytest.approx(0.9)] and summary["agreement"][1] == pytest.approx(0.9)
    # per-image differences: ten -1s and ninety 0s
    assert summary["minus_all_se"][0] == 0 and summary["minus_all_se"][1] == pytest.approx((0.09 / 99) ** 0.5)


def record(accs, ses, n_test=10000, teacher=0.97):
    sizes = [1000 >> k for k in range(len(accs))]
    return {"series": {"n_test": n_test, "seeds": [{"seed": 0, "sweep": {
        "n_images": sizes, "acc": accs, "agreement": accs, "minus_all_se": ses,
        "confusion": [[[0] * 10 for _ in range(10)] for _ in accs]}}]},
        "per_seed": [{"seed": 0, "teacher_acc": teacher}]}


def test_the_verdict_sorts_sizes_by_the_noise_rule():
    # against the whole set's 60%: 62% (+2 points, se 0.4) better, 59.8% (se 0.4) within noise, 50% short
    words = sample_sweep.verdict([record([0.60, 0.62, 0.598, 0.50], [0.0, 0.004, 0.004, 0.004])], WORDING)
    # the smallest size is the first sentence's, and not said again
    assert "With 125" not in words and "minus the same student on all 1,000, it is -10.00 ± 0.40 points" in words
    assert "With 500 it does better than the whole set's, beyond noise." in words
    assert "With 250 the difference from the whole set's cannot be told apart from zero" in words
    assert words.startswith("Refitted on the first 125 of the 1,000 labelled clothes")
    assert "is above chance (10%) beyond noise" in words


def test_without_a_sweep_the_verdict_says_so():
    assert "no sample sweep" in sample_sweep.verdict([record([0.6], [0.0])], WORDING)
    assert sample_sweep.sweeps([{"series": {"seeds": [{"seed": 0, "sweep": None}]}}]) == []
