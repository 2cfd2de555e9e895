"""The noise rule: a difference is an effect only beyond twice its standard error, and the words and
verdicts the book prints follow it."""
import math

import pytest

from leaklab import experiments, stats


def test_binomial_error_of_an_accuracy():
    assert stats.binomial_se(0.5, 10_000) == pytest.approx(0.005, rel=1e-3)
    assert stats.binomial_se(0.9, 1_000) == pytest.approx(math.sqrt(0.9 * 0.1 / 1000), rel=0.02)
    assert 0 < stats.binomial_se(1.0, 10_000) < 3e-4  # 100% still carries an error of about 1/n
    assert stats.binomial_se(0.5, 0) == 0.0


def test_the_seed_spread_adds_to_the_test_sample_error():
    one = stats.estimate([0.02], sampling_se=0.004)
    assert one.se == pytest.approx(0.004) and one.seed_sd is None
    three = stats.estimate([0.01, 0.02, 0.03], sampling_se=0.004)
    assert three.seed_sd == pytest.approx(0.01)
    assert three.se == pytest.approx(math.sqrt(0.004 ** 2 + 0.01 ** 2 / 3))


def test_a_small_gap_on_a_thousand_images_is_not_an_effect():
    # the fgsm_leak page once called +0.70 points on 1,000 test images and one seed a leak
    rows = [{"fgsm": 0.377, "clean": 0.370}]
    gap = stats.accuracy_gap(rows, "fgsm", "clean", 1000)
    assert gap.value == pytest.approx(0.007)
    assert not gap.is_effect
    words = gap.words()
    assert "+0.70 ±" in words and "cannot be told apart from zero" in words
    assert "times the test images" in words  # and what would settle it
    big = stats.accuracy_gap([{"fgsm": 0.95, "clean": 0.92}], "fgsm", "clean", 10_000)
    assert big.is_effect and big.words() == "+3.00 ± 0.35 points, more than twice its standard error from zero"


def test_accuracy_against_chance_and_its_words():
    rows = [{"acc": 0.9138}, {"acc": 0.91}, {"acc": 0.917}]
    est = stats.accuracy(rows, "acc", 10_000)
    assert est.null == 0.1 and est.is_effect and est.n_seeds == 3
    assert est.text("{:.2f}", "%", 100).startswith("91.36% ± 0.")
    assert stats.estimate([16.2, 15.8], null=16).text("{:.1f}", "/32", 1) == "16.0/32 ± 0.2/32"


def test_stored_errors_are_used_when_the_experiment_measured_them():
    rows = [{"loss_rise": 0.05, "loss_rise_se": 0.01}, {"loss_rise": 0.07, "loss_rise_se": 0.03}]
    est = stats.stored(rows, "loss_rise")
    assert est.se == pytest.approx(math.sqrt(0.02 ** 2 + est.seed_sd ** 2 / 2))


def test_matching_the_paper_allows_for_its_one_run():
    est = stats.estimate([0.9, 0.92, 0.94], sampling_se=0.003)
    assert stats.matches(est, 0.95)  # 1.5 seed sds away: the paper's one run could have landed there
    assert not stats.matches(est, 0.99)
    assert stats.matches(stats.estimate([0.30]), 0.28, extra_se=0.02)  # a value read off a figure


def test_scorecard_verdicts_follow_the_noise_rule():
    est = experiments.estimate("mnist_from_fashion", "student_acc",
                               [{"student_acc": a} for a in (0.911, 0.913, 0.917)], 10_000)
    assert experiments.verdict("mnist_from_fashion", "student_acc", est, 10_000) == "reproduced"
    weak = experiments.estimate("mnist_from_fashion", "student_acc", [{"student_acc": 0.60}], 10_000)
    assert experiments.verdict("mnist_from_fashion", "student_acc", weak, 10_000) == \
        "effect reproduced, weaker than the paper"
    at_chance = experiments.estimate("mnist_from_fashion", "student_acc", [{"student_acc": 0.105}], 1_000)
    assert experiments.verdict("mnist_from_fashion", "student_acc", at_chance, 1_000).startswith(
        "not reproduced: cannot be told from chance")
    assert experiments.verdict("toy2d", "student_correct_mean", None) == "not run"


def test_setup_numbers_only_match_or_differ():
    # a 28% two-epoch teacher against the paper's 63.1% describes the setup: never "effect reproduced"
    low = experiments.estimate("cifar_mislabeled", "teacher_test_acc", [{"teacher_test_acc": 0.28}], 10_000)
    assert experiments.verdict("cifar_mislabeled", "teacher_test_acc", low, 10_000) == "differs from the paper"
    close = experiments.estimate("mnist_from_fashion", "teacher_acc",
                                 [{"teacher_acc": a} for a in (0.9893, 0.9901, 0.9909)], 10_000)
    assert experiments.verdict("mnist_from_fashion", "teacher_acc", close, 10_000) == "matches the paper"
    setup = [k for e in experiments.EXPERIMENTS.values() for k, m in e.metrics.items() if m.setup]
    assert {"teacher_acc", "teacher_test_acc", "teacher_train_acc", "n_wrong", "clean_acc"} <= set(setup)


def test_a_gap_of_the_wrong_sign_is_not_reproduced():
    rows = [{"leak_gap": -0.12, "leak_gap_se": 0.02}]
    est = experiments.estimate("fgsm_leak", "leak_gap", rows)
    assert experiments.verdict("fgsm_leak", "leak_gap", est) == "not reproduced: the opposite of the paper's effect"
    flat = experiments.estimate("fgsm_leak", "leak_gap", [{"leak_gap": 0.01, "leak_gap_se": 0.02}])
    assert experiments.verdict("fgsm_leak", "leak_gap", flat).startswith("not reproduced: cannot be told from zero")


def test_the_paper_scale_table_gives_each_committed_record_its_verdict():
    from leaklab import paper_scale, records

    for name in ("toy2d", "mnist_from_fashion", "gradient_leak"):
        recs = records.full_records(name)
        if not recs:
            continue
        rows = [r for rec in recs for r in rec["per_seed"] if r.get("fits", True)]
        table = paper_scale.table(name, recs).splitlines()
        assert table[0].endswith("| verdict |")
        for line, row in zip(table[2:], paper_scale.summary(name, recs)):
            est = experiments.estimate(name, row["key"], rows, records.n_test(recs[0]))
            assert line.endswith(f"| {experiments.verdict(name, row['key'], est, records.n_test(recs[0]))} |")
