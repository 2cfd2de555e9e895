"""Distilling an MNIST net through Fashion-MNIST: a student that only ever sees clothes, labelled
with the digits an MNIST teacher gives them, is scored on real MNIST digits.

Which normalization each net sees is the whole difference between Wallace's two
numbers, so it is explicit everywhere: a `norm` is the (mean, std) on the [0, 1]
scale that a net's `models.Normalized` front applies to the pixels.
"""

import torch

from . import data, files, models, records, stats, training


def train_cnn(images, labels, norm, seed, epochs, batch_size, lr, log=print, checkpoint=None, spent=None):
    """A fresh MnistCNN seeing the images through `norm` (initial weights, batch order and dropout fixed by
    `seed`), trained with Adam on the CPU (the records of this chapter are CPU runs); with a `checkpoint` path,
    resumed from it (training.fit). Its epochs' training seconds, in whatever sittings, join the list `spent`."""
    torch.manual_seed(seed)
    model, history = training.fit(models.Normalized(models.MnistCNN(), *norm), images, labels, epochs=epochs,
                                  batch_size=batch_size, lr=lr, optimizer=training.adam_decayed, augment=False,
                                  seed=seed, device="cpu", progress=False, desc="MnistCNN", log=log,
                                  checkpoint=checkpoint)
    if spent is not None:
        spent.append(sum(h["seconds"] for h in history))
    return model


def network_checkpoint(checkpoints, seed, network):
    """Where one piece of a seed (a network's epochs, the teacher's labels) is kept while the seed runs (None
    without a checkpoint directory): a seed of the full profile trains a dozen nets for about an hour, more than a
    stop should cost."""
    return checkpoints / f"seed{seed}-{network}.pt" if checkpoints else None


def classify(model, images, norm):
    """The class `model`'s net gives each uint8 image seen through `norm` (not necessarily the one it
    trained with: the teacher labels Fashion in two normalizations)."""
    return training.logits_of(models.Normalized(model.net, *norm), images).argmax(1)


def sample_sweep(images, given, norm, student_test, teacher_test, mnist_test, test_norm, seed, p, log=print,
                 checkpoints=None, spent=None):
    """The own-normalization student refitted on the first n_train / 2^k teacher-labelled Fashion images
    (k < p.sweep_points), each for the student's own number of steps from the student's own initial weights:
    how many samples of the teacher's decision function the student needs. k = 0 is the student itself
    (`student_test`: its answers on the test digits)."""
    def refit(size, idx):
        model = train_cnn(images[idx], given[idx], norm, seed + 1, p.epochs, p.batch_size, p.lr, log=log,
                          checkpoint=network_checkpoint(checkpoints, seed, f"sweep{size}"), spent=spent)
        return classify(model, mnist_test.images, test_norm)

    return training.sample_sweep(len(given), p.sweep_points, refit, student_test, mnist_test.labels, teacher_test,
                                 log, f"seed {seed}: the student")


def run_seed(seed, mnist, mnist_test, fashion, norms, p, log=print, checkpoints=None):
    """One seed of the whole experiment. `norms` maps "mnist" and "fashion" to each training set's
    own (mean, std). With a `checkpoints` directory every network keeps its epochs there
    (`network_checkpoint`), so a stopped seed resumes inside the network it was training.

    The teacher trains on MNIST with MNIST's normalization. It labels the Fashion images
    twice: normalized with Fashion's own statistics (as each dataset's usual pipeline
    would) and with MNIST's. Each labelling trains a student on the Fashion images in
    that same normalization. Both students start from the same initial weights and see
    the images in the same order; both are scored on the MNIST test set in MNIST's
    normalization, the teacher's input distribution. The control student gets the
    Fashion images (MNIST normalization) with uniformly random digits.
    """
    spent = []  # every network's training seconds, over all the sittings the seed took
    train = dict(epochs=p.epochs, batch_size=p.batch_size, lr=p.lr, log=log, spent=spent)
    log = log or (lambda message: None)
    log(f"seed {seed}: teacher on MNIST ({len(mnist.images):,} images)")
    teacher = train_cnn(mnist.images, mnist.labels, norms["mnist"], seed, **{**train, "epochs": p.teacher_epochs},
                        checkpoint=network_checkpoint(checkpoints, seed, "teacher"))
    teacher_test = classify(teacher, mnist_test.images, norms["mnist"])
    out = {"teacher_acc": training.accuracy(teacher_test, mnist_test.labels), "labels": {}, "student": {},
           "confusion": {"teacher": training.confusion(mnist_test.labels, teacher_test)}}
    for name, norm in (("own", norms["fashion"]), ("mnist", norms["mnist"])):
        # kept (training.computed_once), so that a resumed student trains on the very labels it began with
        given = training.computed_once(network_checkpoint(checkpoints, seed, f"given-{name}"),
                                       lambda: {"given": classify(teacher, fashion.images, norm)})["given"]
        log(f"seed {seed}: student on Fashion labelled by the teacher, {name} normalization")
        student = train_cnn(fashion.images, given, norm, seed + 1, **train,
                            checkpoint=network_checkpoint(checkpoints, seed, f"student-{name}"))
        test = classify(student, mnist_test.images, norms["mnist"])
        out["labels"][name] = given
        out["student"][name] = {"acc": training.accuracy(test, mnist_test.labels),
                                "agreement": training.accuracy(test, teacher_test),
                                "correct": test == mnist_test.labels}
        out["confusion"][name] = training.confusion(mnist_test.labels, test)
        if name == "own":
            out["sweep"] = sample_sweep(fashion.images, given, norm, test, teacher_test, mnist_test, norms["mnist"],
                                        seed, p, log, checkpoints, spent)
    random_digits = torch.randint(0, 10, fashion.labels.shape, generator=torch.Generator().manual_seed(seed))
    log(f"seed {seed}: control student on Fashion with random digits")
    control = train_cnn(fashion.images, random_digits, norms["mnist"], seed + 1,
                        **{**train, "epochs": p.control_epochs},
                        checkpoint=network_checkpoint(checkpoints, seed, "control"))
    control_test = classify(control, mnist_test.images, norms["mnist"])
    out["control_acc"] = training.accuracy(control_test, mnist_test.labels)
    out["confusion"]["control"] = training.confusion(mnist_test.labels, control_test)
    # kept with the seed, so a record that reads it back still says how long it trained
    out["train_seconds"] = sum(spent)
    return out


def run_seeds(p, mnist, mnist_test, fashion, norms, checkpoints=None, log=print):
    """Seeds p.seed, p.seed + 10, ... (p.n_seeds of them). With a `checkpoints` directory each
    finished seed is saved there, and a seed found there is read back instead of run again; its networks'
    own checkpoints, needed only until then, are removed."""
    results = []
    for k in range(p.n_seeds):
        seed = p.seed + 10 * k
        path = checkpoints / f"seed{seed}.pt" if checkpoints else None
        if path and path.exists():
            if log:
                log(f"seed {seed}: finished by an earlier run with the same parameters; "
                    f"read from {files.shown(path)}")
            results.append(training.load_checkpoint(path))
            remove_network_checkpoints(checkpoints, seed)  # in case a stop came between the two
            continue
        results.append(run_seed(seed, mnist, mnist_test, fashion, norms, p, log, checkpoints))
        if path:
            training.save_checkpoint(results[-1], path)
            remove_network_checkpoints(checkpoints, seed)
    return results


def remove_network_checkpoints(checkpoints, seed):
    """A finished seed's networks' own checkpoints (`network_checkpoint`): its whole checkpoint replaces them."""
    for network in checkpoints.glob(f"seed{seed}-*.pt"):
        network.unlink()


NETS = {"teacher": "teacher (MNIST)", "own": "student, Fashion's own normalization",
        "mnist": "student, MNIST's normalization", "control": "control: Fashion with random digits"}


def seed_row(seed, s):
    """One seed's numbers, as the record keeps them."""
    return {"seed": seed, "teacher_acc": s["teacher_acc"], "student_acc": s["student"]["own"]["acc"],
            "student_mnistnorm_acc": s["student"]["mnist"]["acc"],
            "agreement": s["student"]["own"]["agreement"], "agreement_mnistnorm": s["student"]["mnist"]["agreement"],
            "control_acc": s["control_acc"],
            "labels_same_both_norms": training.accuracy(s["labels"]["own"], s["labels"]["mnist"]),
            # the paper's claim about normalization is this gain: both students scored on the same test digits
            "normalization_gain": s["student"]["mnist"]["acc"] - s["student"]["own"]["acc"],
            "normalization_gain_se": stats.paired_gap_se(s["student"]["mnist"]["correct"],
                                                         s["student"]["own"]["correct"])}


def summarize(rows):
    """The record's metrics from the per-seed rows: means, and standard deviations over seeds."""
    metrics = records.summarize_rows(rows, spread=("teacher_acc", "student_acc", "student_mnistnorm_acc"))
    # the paper's claim about normalization is a gain: judged seed by seed (experiments: normalization_gain)
    gains = [row["student_mnistnorm_acc"] - row["student_acc"] for row in rows]
    metrics["normalization_gain"], metrics["normalization_gain_sd"] = records.mean_sd(gains)
    return metrics


def compute(p, log=print):
    """The whole experiment for parameters `p`: every seed (checkpointed, resumed when run again the same
    way), summarized into the record's metrics, per-seed rows and the series the page draws."""
    mnist_all, mnist_test, fashion_all = (data.load("mnist", "train"), data.load("mnist", "test"),
                                          data.load("fashion_mnist", "train"))
    norms = {"mnist": training.channel_stats(mnist_all.images), "fashion": training.channel_stats(fashion_all.images)}
    mnist, fashion = data.subset(mnist_all, p.n_train), data.subset(fashion_all, p.n_train)
    checkpoints = records.checkpoint_dir("mnist_from_fashion", p, [mnist.digest, mnist_test.digest, fashion.digest],
                                         training.arithmetic("cpu"))
    seeds = run_seeds(p, mnist, mnist_test, fashion, norms, checkpoints, log)
    numbers = [p.seed + 10 * k for k in range(p.n_seeds)]
    rows = [seed_row(n, s) for n, s in zip(numbers, seeds)]
    examples = [int((fashion.labels == c).nonzero()[0]) for c in range(10)]  # one image of each class
    series = {
        "norms": {name: (mean[0], std[0]) for name, (mean, std) in norms.items()},
        "n_test": len(mnist_test.labels), "n_fashion": len(fashion.labels),
        "example_index": examples,
        "seeds": [{
            "seed": n,
            "label_counts": {k: torch.bincount(s["labels"][k], minlength=10).tolist() for k in ("own", "mnist")},
            "label_shares": {k: training.label_shares(fashion.labels, s["labels"][k]).tolist()
                             for k in ("own", "mnist")},
            "example_labels": {k: s["labels"][k][examples].tolist() for k in ("own", "mnist")},
            "confusion": {k: v.tolist() for k, v in s["confusion"].items()},
            "sweep": s["sweep"],
            "train_seconds": s.get("train_seconds"),  # None for a seed checkpointed before it was kept
        } for n, s in zip(numbers, seeds)],
    }
    return {"metrics": summarize(rows), "per_seed": rows, "series": series,
            "device": training.describe_device("cpu"),
            "data": records.describe_data(mnist_all, mnist_test, fashion_all)}
