"""The smallest run of each experiment that still runs every piece of it (seconds on a CPU): one place for the
tests' tiny parameters. A test that needs more (two seeds for a spread, a map) says so by overriding."""

TINY = {
    "toy2d": {"n_seeds": 1, "sweep_seeds": 1, "sweep_points": 2, "steps": 50, "student_steps": 50, "n_points": 8},
    "mnist_from_fashion": {"n_train": 1000, "teacher_epochs": 1, "epochs": 1, "control_epochs": 1,
                           "sweep_points": 2},
    "gradient_leak": {"n_seeds": 1, "n_train": 1000, "hidden": 8, "epochs": 1},
    "leak_conditions": {"n_seeds": 1, "n_train": 1000, "n_eval": 200, "width": 2, "epochs": 1, "eps_points": 3,
                        "device": "cpu"},
    "cifar_mislabeled": {"n_train": 1000, "width": 4, "teacher_epochs": 1, "epochs": 1, "students": "teacher_labels",
                         "sweep_points": 2, "device": "cpu"},
    "fgsm_leak": {"n_train": 1000, "depth_n": 1, "width": 4, "epochs": 1, "eps_points": 3, "n_eval": 100,
                  "labels": "true", "device": "cpu"},
}
