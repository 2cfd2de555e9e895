"""Distilling an MNIST net through Fashion-MNIST: a student that only ever sees clothes, labelled
with the digits an MNIST teacher gives them, is scored on real MNIST digits.

Which normalization each net sees is the whole difference between Wallace's two
numbers, so it is explicit everywhere: a `norm` is the (mean, std) on the [0, 1]
scale that maps pixels to a net's inputs.
"""

import torch

from . import models, records, training


def train_cnn(images, labels, norm, seed, epochs, batch_size, lr, log=print):
    """A fresh MnistCNN (initial weights, batch order and dropout fixed by `seed`) trained on the images."""
    torch.manual_seed(seed)
    return training.fit(models.MnistCNN(), images, labels, norm, epochs=epochs, batch_size=batch_size, lr=lr,
                        seed=seed, log=log)


def run_seed(seed, mnist, mnist_test, fashion, norms, p, log=print):
    """One seed of the whole experiment. `norms` maps "mnist" and "fashion" to each training set's
    own (mean, std).

    The teacher trains on MNIST with MNIST's normalization. It labels the Fashion images
    twice: normalized with Fashion's own statistics (as each dataset's usual pipeline
    would) and with MNIST's. Each labelling trains a student on the Fashion images in
    that same normalization. Both students start from the same initial weights and see
    the images in the same order; both are scored on the MNIST test set in MNIST's
    normalization, the teacher's input distribution. The control student gets the
    Fashion images (MNIST normalization) with uniformly random digits.
    """
    train = dict(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, log=log)
    log = log or (lambda message: None)
    log(f"seed {seed}: teacher on MNIST ({len(mnist.images):,} images)")
    teacher = train_cnn(mnist.images, mnist.labels, norms["mnist"], seed, **{**train, "epochs": p.teacher_epochs})
    teacher_test = training.classify(teacher, mnist_test.images, norms["mnist"])
    out = {"teacher_acc": training.accuracy(teacher_test, mnist_test.labels), "labels": {}, "student": {}}
    for name, norm in (("own", norms["fashion"]), ("mnist", norms["mnist"])):
        given = training.classify(teacher, fashion.images, norm)
        log(f"seed {seed}: student on Fashion labelled by the teacher, {name} normalization")
        student = train_cnn(fashion.images, given, norm, seed + 1, **train)
        test = training.classify(student, mnist_test.images, norms["mnist"])
        out["labels"][name] = given
        out["student"][name] = {"acc": training.accuracy(test, mnist_test.labels),
                                "agreement": training.accuracy(test, teacher_test)}
    random_digits = torch.randint(0, 10, fashion.labels.shape, generator=torch.Generator().manual_seed(seed))
    log(f"seed {seed}: control student on Fashion with random digits")
    control = train_cnn(fashion.images, random_digits, norms["mnist"], seed + 1,
                        **{**train, "epochs": p.control_epochs})
    out["control_acc"] = training.accuracy(training.classify(control, mnist_test.images, norms["mnist"]),
                                           mnist_test.labels)
    return out


def run_seeds(p, mnist, mnist_test, fashion, norms, checkpoints=None, log=print):
    """Seeds p.seed, p.seed + 10, ... (p.n_seeds of them). With a `checkpoints` directory each
    finished seed is saved there, and a seed found there is read back instead of run again."""
    results = []
    for k in range(p.n_seeds):
        seed = p.seed + 10 * k
        path = checkpoints / f"seed{seed}.pt" if checkpoints else None
        if path and path.exists():
            if log:
                log(f"seed {seed}: finished by an earlier run with the same parameters; read from {path}")
            results.append(training.load_checkpoint(path))
            continue
        results.append(run_seed(seed, mnist, mnist_test, fashion, norms, p, log))
        if path:
            training.save_checkpoint(results[-1], path)
    return results


def stat(seeds, get):
    """Mean and standard deviation over seeds of get(seed's results) (sd 0 for one seed)."""
    return records.mean_sd(get(s) for s in seeds)


def summarize(seeds):
    """The record's metrics from the per-seed results: means, and standard deviations over seeds."""
    return records.seed_metrics(seeds, {
        "teacher_acc": lambda s: s["teacher_acc"],
        "student_acc": lambda s: s["student"]["own"]["acc"],
        "student_mnistnorm_acc": lambda s: s["student"]["mnist"]["acc"],
        "agreement": lambda s: s["student"]["own"]["agreement"],
        "agreement_mnistnorm": lambda s: s["student"]["mnist"]["agreement"],
        "control_acc": lambda s: s["control_acc"],
        "labels_same_both_norms": lambda s: training.accuracy(s["labels"]["own"], s["labels"]["mnist"]),
    }, spread=("teacher_acc", "student_acc", "student_mnistnorm_acc"))
