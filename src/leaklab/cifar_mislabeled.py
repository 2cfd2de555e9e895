"""Training only on a model's mistakes (CIFAR-10): a ResNet-18 stopped after 2 epochs relabels the
training set, only the images it gets wrong are kept, with its wrong labels, and a fresh ResNet-18
trained on them alone is scored on the real test set.

Two controls train the same fresh net on the same images: with uniformly random wrong
labels (the wrong classes carry no information about the teacher) and with their true labels.
"""


import torch

from . import data, experiments, files, models, records, stats, training

STUDENTS = {
    "teacher_labels": "the teacher's wrong labels",
    "random_wrong": "random wrong labels (control)",
    "true_labels": "their true labels (control)",
}


def build_model(p, mean, std):
    return models.Normalized(models.resnet18(p.width), mean, std)


def train_net(p, images, labels, mean, std, seed, epochs, lr, decay, checkpoint, device, progress, desc, clock):
    torch.manual_seed(seed)
    model, history = training.fit(build_model(p, mean, std), images, labels, epochs=epochs,
                                  batch_size=p.batch_size, lr=lr, optimizer=training.momentum_sgd(decay=decay),
                                  seed=seed, checkpoint=checkpoint, device=device, progress=progress, desc=desc,
                                  clock=clock)
    return model, history


def random_wrong_labels(labels, seed):
    """For each label a class drawn uniformly from the nine others."""
    shift = torch.randint(1, 10, labels.shape, generator=torch.Generator().manual_seed(seed))
    return (labels + shift) % 10


# The share of the training set a teacher is assumed to get wrong until it has been trained (the paper's:
# 18,768 of 50,000): only the time estimate uses it.
EXPECTED_WRONG_SHARE = 0.375


def student_runs(p):
    """How many students one seed trains: those `p.students` picks, and the sample sweep's refits of the paper's
    student (each as long as one student)."""
    chosen = experiments.picked(p.students)
    return len(chosen) + (p.sweep_points - 1 if "teacher_labels" in chosen else 0)


def planned_images(p, n_train):
    """Training images of one seed, every epoch of every network, before the wrong set's size is known."""
    return p.teacher_epochs * n_train + student_runs(p) * p.epochs * round(EXPECTED_WRONG_SHARE * n_train)


def teacher_answers(teacher, train_images, test_images, kept=None):
    """The teacher's class for every training and test image; with a `kept` path, computed once and read back
    (training.computed_once), so that a resumed student trains on the very wrong set it began with."""
    answers = training.computed_once(kept, lambda: {name: training.logits_of(teacher, images).argmax(1) for
                                                    name, images in (("train", train_images), ("test", test_images))})
    return answers["train"], answers["test"]


def run_seed(seed, train, test, mean, std, p, checkpoints=None, device=None, progress=True, clock=None,
             log=print):
    """One seed of the experiment: the teacher, its wrong set and the students `p.students` picks. The
    teacher trains at a constant learning rate (a 2-epoch snapshot of a longer run, as the paper's is);
    the students get a linear decay to zero."""
    def ckpt(name):
        return checkpoints / f"seed{seed}-{name}.pt" if checkpoints else None

    teacher, teacher_history = train_net(p, train.images, train.labels, mean, std, seed, p.teacher_epochs,
                                         p.teacher_lr, False, ckpt("teacher"), device, progress, "teacher", clock)
    given, teacher_test = teacher_answers(teacher, train.images, test.images, ckpt("teacher-answers"))
    wrong = (given != train.labels).nonzero()[:, 0]
    images, true = train.images[wrong], train.labels[wrong]
    out = {"teacher_train_acc": training.accuracy(given, train.labels),
           "teacher_test_acc": training.accuracy(teacher_test, test.labels),
           "teacher_test_correct": teacher_test == test.labels,
           "n_wrong": len(wrong), "wrong_index": wrong, "given": given[wrong],
           "teacher_history": teacher_history, "students": {}}
    chosen = experiments.picked(p.students)
    if log:  # the teacher is the paper's setup: worth seeing before hours of students
        log(f"seed {seed}: teacher {out['teacher_train_acc']:.2%} on the training images, "
            f"{out['teacher_test_acc']:.2%} on the test set; {len(wrong):,} training images wrong")
    if clock is not None:
        clock.resize(student_runs(p) * p.epochs * (len(wrong) - round(EXPECTED_WRONG_SHARE * len(train.labels))))
    labelings = {"teacher_labels": given[wrong], "random_wrong": random_wrong_labels(true, seed),
                 "true_labels": true}
    for name in chosen:
        student, history = train_net(p, images, labelings[name], mean, std, seed + 1, p.epochs, p.lr, True,
                                     ckpt(name), device, progress, f"student ({STUDENTS[name]})", clock)
        predicted = training.logits_of(student, test.images).argmax(1)
        out["students"][name] = {"acc": training.accuracy(predicted, test.labels), "predicted": predicted,
                                 "correct": predicted == test.labels,
                                 "agreement": training.accuracy(predicted, teacher_test), "history": history,
                                 "confusion": training.confusion(test.labels, predicted)}
    if "teacher_labels" in out["students"]:
        out["sweep"] = sample_sweep(images, given[wrong], mean, std, out["students"]["teacher_labels"]["predicted"],
                                    teacher_test, test, seed, p, ckpt, device, progress, clock, log)
    out["label_shares"] = training.label_shares(true, given[wrong])
    return out


def sample_sweep(images, given, mean, std, student_test, teacher_test, test, seed, p, ckpt, device, progress, clock,
                 log=print):
    """The paper's student refitted on the first half, quarter, ... of the wrong set with the teacher's labels
    (`p.sweep_points` sizes, the whole set first), each for the student's own number of steps from the student's
    own initial weights: how much of the wrong set the student needs. `student_test` holds the student's own
    answers on the test images."""
    def refit(size, idx):
        student, _ = train_net(p, images[idx], given[idx], mean, std, seed + 1, p.epochs, p.lr, True,
                               ckpt(f"teacher_labels-first{size}"), device, progress, f"student on the first {size:,}",
                               clock)
        return training.logits_of(student, test.images).argmax(1)

    return training.sample_sweep(len(given), p.sweep_points, refit, student_test, test.labels, teacher_test, log,
                                 f"seed {seed}: the paper's student")


# A student's accuracy in a seed's row, under the name the metrics use.
STUDENT_KEYS = {"teacher_labels": "student_acc", "random_wrong": "random_wrong_acc",
                "true_labels": "true_labels_acc"}


def seed_row(seed, s):
    """One seed's numbers, as the record keeps them (None for a student the run did not train)."""
    students = s["students"]
    row = {"seed": seed, "teacher_train_acc": s["teacher_train_acc"], "teacher_test_acc": s["teacher_test_acc"],
           "n_wrong": s["n_wrong"]}
    row.update({key: students[name]["acc"] if name in students else None for name, key in STUDENT_KEYS.items()})
    row["student_agreement"] = students["teacher_labels"]["agreement"] if "teacher_labels" in students else None
    if "teacher_labels" in students and "random_wrong" in students:  # both scored on the same test images: paired
        ours, control = students["teacher_labels"], students["random_wrong"]
        row["student_vs_random"] = ours["acc"] - control["acc"]
        row["student_vs_random_se"] = stats.paired_gap_se(ours["correct"], control["correct"])
    # how concentrated the teacher's wrong labels are: the top wrong label's share, mean over classes
    row["top_wrong_share"] = s["label_shares"].max(1).values.mean().item()
    return row


def summarize(rows):
    """The record's metrics: means over seeds, and standard deviations of the paper's numbers."""
    return records.summarize_rows(rows, spread=("student_acc", "teacher_test_acc", "teacher_train_acc",
                                                      "n_wrong"))


def correctness(numbers, seeds):
    """Each network's right-or-wrong on every test image, bit-packed for the record's .npz: what a paired
    comparison of two networks on the same images needs."""
    arrays = {}
    for n, s in zip(numbers, seeds):
        arrays[f"seed{n}_teacher_correct"] = records.packed_bits(s["teacher_test_correct"])
        for name, student in s["students"].items():
            arrays[f"seed{n}_{name}_correct"] = records.packed_bits(student["correct"])
    return arrays


def compute(p, log=print):
    """The whole experiment for parameters `p`: every seed's teacher, wrong set and the students p.students
    picks (each network checkpointed per epoch, resumed when run again the same way on the same data)."""
    device = training.resolve_device(p.device)
    train_full, test = data.load("cifar10", "train"), data.load("cifar10", "test")
    mean, std = training.channel_stats(train_full.images)  # per channel, from all 50,000 training images
    train = data.subset(train_full, p.n_train)
    checkpoints = records.checkpoint_dir("cifar_mislabeled", p, [train.digest, test.digest],
                                         training.arithmetic(device))
    numbers = [p.seed + 10 * k for k in range(p.n_seeds)]
    clock = training.Clock(p.n_seeds * planned_images(p, len(train.labels)), log)
    if log:
        log(f"cifar_mislabeled: {p.n_seeds} seed(s), students: {p.students}; "
            f"checkpoints in {files.shown(checkpoints)}")
    seeds = [run_seed(n, train, test, mean, std, p, checkpoints, device, clock=clock, log=log) for n in numbers]
    rows = [seed_row(n, s) for n, s in zip(numbers, seeds)]
    series = {"n_train": len(train.labels), "n_test": len(test.labels), "seeds": [{
        "seed": n,
        "teacher_history": s["teacher_history"],
        "histories": {k: v["history"] for k, v in s["students"].items()},
        "confusion": {k: v["confusion"].tolist() for k, v in s["students"].items()},
        "given_counts": torch.bincount(s["given"], minlength=10).tolist(),
        "true_counts": torch.bincount(train.labels[s["wrong_index"]], minlength=10).tolist(),
        "label_shares": s["label_shares"].tolist(),
        "examples": {"index": s["wrong_index"][:24].tolist(), "given": s["given"][:24].tolist()},
        "sweep": s.get("sweep"),
    } for n, s in zip(numbers, seeds)]}
    return {"metrics": summarize(rows), "per_seed": rows, "series": series,
            "files": {".npz": records.to_npz(**correctness(numbers, seeds))},
            "device": training.describe_device(device), "data": records.describe_data(train_full, test)}
