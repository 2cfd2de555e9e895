"""Parameter checking: every bad value fails with a message naming it and saying what is allowed."""

import pytest

from leaklab import experiments
from leaklab.experiments import ParameterError, resolve
from leaklab.records import notebook_params


def test_profiles_resolve_to_every_parameter():
    for name, exp in experiments.EXPERIMENTS.items():
        for profile in experiments.PROFILES:
            params = resolve(name, profile)
            assert set(params) == {"profile", *exp.params}
            assert params["profile"] == profile


def test_overrides_win_and_none_keeps_the_profile():
    params = resolve("toy2d", "full", {"eps": 0.2, "seed": None})
    assert params["eps"] == 0.2
    assert params["seed"] == experiments.EXPERIMENTS["toy2d"].profiles["full"]["seed"]


def test_strings_from_the_command_line_are_converted():
    params = resolve("toy2d", "quick", {"eps": "0.25", "n_seeds": "17", "attack": "fgsm"})
    assert params["eps"] == 0.25 and params["n_seeds"] == 17 and params["attack"] == "fgsm"
    assert isinstance(params["n_seeds"], int)


@pytest.mark.parametrize("overrides, words", [
    ({"eps": -0.1}, ["eps", "out of range", "0.0 to 0.5"]),
    ({"n_points": 33}, ["n_points", "out of range", "4 to 32"]),
    ({"n_seeds": 2.5}, ["n_seeds", "wrong type", "integer"]),
    ({"seed": "abc"}, ["seed", "integer"]),
    ({"attack": "cw"}, ["attack", "'pgd'", "'fgsm'"]),
    ({"lr": True}, ["lr", "wrong type"]),
    ({"epsilon": 0.1}, ["unknown parameter 'epsilon'", "eps"]),
])
def test_bad_values_name_the_parameter_and_what_is_allowed(overrides, words):
    with pytest.raises(ParameterError) as err:
        resolve("toy2d", "quick", overrides)
    for word in words:
        assert word in str(err.value)


def test_unknown_experiment_and_profile():
    with pytest.raises(ParameterError, match="unknown experiment 'toy3d'.*toy2d"):
        resolve("toy3d")
    with pytest.raises(ParameterError, match="unknown profile 'fast'.*quick, full"):
        resolve("toy2d", "fast")


def test_notebook_params_sees_what_papermill_injected():
    import math

    namespace = {"profile": "quick", "eps": 0.3, "seed": None, "math": math, "print": print, "_x": 1,
                 "In": [], "Out": {}}
    p = notebook_params("toy2d", namespace)
    assert p.eps == 0.3 and p.seed == experiments.EXPERIMENTS["toy2d"].profiles["quick"]["seed"]  # None: the profile's
    assert p.profile == "quick"
    with pytest.raises(ParameterError, match="unknown parameter 'n_pionts'"):
        notebook_params("toy2d", {**namespace, "n_pionts": 32})


def test_scorecard_rows():
    assert experiments.scorecard_rows("mnist_from_fashion") == [
        ("student_acc", "student_acc_sd"), ("normalization_gain", "normalization_gain_sd"),
        ("teacher_acc", "teacher_acc_sd")]


def test_the_data_a_run_needs_follows_its_dataset_parameter():
    from leaklab import experiments

    mnist = resolve("leak_conditions", "quick", {"dataset": "mnist"})
    assert experiments.data_needed("leak_conditions", mnist) == (("mnist", "train"), ("mnist", "test"))
    cifar = resolve("leak_conditions", "quick", {"dataset": "cifar10"})
    assert experiments.data_needed("leak_conditions", cifar) == (("cifar10", "train"), ("cifar10", "test"))
    # the profile's "all the training images" (less the validation split) on a smaller dataset is all of it
    assert cifar["n_train"] == 49000 and mnist["n_train"] == 59000
    assert resolve("leak_conditions", "quick", {"dataset": "cifar10", "n_train": 2000})["n_train"] == 2000
    with pytest.raises(ParameterError, match="cifar10 has 49000 images"):  # asked for in so many words: refused
        resolve("leak_conditions", "quick", {"dataset": "cifar10", "n_train": 50000})
    toy = resolve("toy2d", "quick")
    assert experiments.data_needed("toy2d", toy) == ()
