"""What the pages say, on hand-made numbers: each verdict follows its data and its noise (no training here)."""

import matplotlib

matplotlib.use("Agg")

from leaklab import stats  # noqa: E402
from leaklab.pages import cifar_mislabeled, mnist_from_fashion, paper_scale  # noqa: E402

PAPER_GAIN = 0.0346  # Wallace's MNIST-normalization gain, 91.04% to 94.5%


def test_one_seeds_gain_is_not_compared_with_the_papers_one_run():
    """The paper's gain is one run of its procedure: one seed of ours cannot be told from it or found to differ,
    since neither run's spread over seeds is known; several seeds are judged with that spread."""
    assert mnist_from_fashion.versus_paper(stats.estimate([0.0459], 0.0034), PAPER_GAIN) == "one_seed"
    spread = stats.estimate([0.02, 0.05, -0.07], 0.005)  # seeds about six points apart
    assert mnist_from_fashion.versus_paper(spread, PAPER_GAIN) == "consistent"
    tight = stats.estimate([0.100, 0.101, 0.099], 0.001)
    assert mnist_from_fashion.versus_paper(tight, PAPER_GAIN) == "larger"
    assert mnist_from_fashion.versus_paper(stats.estimate([-0.05, -0.051, -0.049], 0.001), PAPER_GAIN) == "smaller"


def test_the_random_wrong_control_is_judged_against_chance():
    """Labels drawn from the nine wrong classes can teach a net to avoid the true one: the page says where the
    control lands against chance (10%) before reading the student's lead over it."""
    assert cifar_mislabeled.random_control([{"random_wrong_acc": 0.032}], 10000)[0] == "below_chance"
    assert cifar_mislabeled.random_control([{"random_wrong_acc": 0.1005}], 10000)[0] == "at_chance"
    assert cifar_mislabeled.random_control([{"random_wrong_acc": 0.15}], 10000)[0] == "above_chance"
    assert cifar_mislabeled.random_control([{"random_wrong_acc": None}], 10000)[0] == "not_trained"
    case, words = cifar_mislabeled.random_control([{"random_wrong_acc": 0.032}] * 3, 10000)
    assert case == "below_chance" and "3.20%" in words


def test_a_row_measured_by_only_some_seeds_says_how_many():
    """The toy's second scorecard row is measured only on its sweep's seeds: the count names those, not all."""
    every = {"per_seed": [20.0] * 2866, "n_seeds": 3000, "n_measured": 3000}
    assert paper_scale.seeds_count_text(every) == "3000 seeds, 2866 scored"
    sweep = {"per_seed": [20.0] * 576, "n_seeds": 3000, "n_measured": 600}
    assert paper_scale.seeds_count_text(sweep) == "600 of 3000 seeds measure it, 576 scored"
    assert paper_scale.seeds_count_text({"per_seed": [0.5] * 3, "n_seeds": 3, "n_measured": 3}) == "3 seeds"
