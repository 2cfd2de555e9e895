"""Training only on a model's mistakes (CIFAR-10): a ResNet-18 stopped after 2 epochs relabels the
training set, only the images it gets wrong are kept, with its wrong labels, and a fresh ResNet-18
trained on them alone is scored on the real test set.

Two controls train the same fresh net on the same images: with uniformly random wrong
labels (the wrong classes carry no information about the teacher) and with their true labels.
"""

import torch

from . import models, records, training

STUDENTS = {
    "teacher_labels": "the teacher's wrong labels",
    "random_wrong": "random wrong labels (control)",
    "true_labels": "their true labels (control)",
}


def build_model(p, mean, std):
    return models.Normalized(models.resnet18(p.width), mean, std)


def train_net(p, images, labels, mean, std, seed, epochs, decay, checkpoint, device, progress, desc):
    torch.manual_seed(seed)
    model, history = training.sgd(build_model(p, mean, std), images, labels, epochs=epochs,
                                  batch_size=p.batch_size, lr=p.lr, decay=decay, seed=seed,
                                  checkpoint=checkpoint, device=device, progress=progress, desc=desc)
    return model, history


def random_wrong_labels(labels, seed):
    """For each label a class drawn uniformly from the nine others."""
    shift = torch.randint(1, 10, labels.shape, generator=torch.Generator().manual_seed(seed))
    return (labels + shift) % 10


def run_seed(seed, train, test, mean, std, p, checkpoints=None, device=None, progress=True):
    """One seed of the experiment. The teacher trains at a constant learning rate (a 2-epoch snapshot
    of the standard recipe, as the paper's is); the students get a linear decay to zero."""
    def ckpt(name):
        return checkpoints / f"seed{seed}-{name}.pt" if checkpoints else None

    teacher, teacher_history = train_net(p, train.images, train.labels, mean, std, seed, p.teacher_epochs,
                                         False, ckpt("teacher"), device, progress, "teacher")
    given = training.logits_of(teacher, train.images).argmax(1)
    teacher_test = training.logits_of(teacher, test.images).argmax(1)
    wrong = (given != train.labels).nonzero()[:, 0]
    images, true = train.images[wrong], train.labels[wrong]
    out = {"teacher_train_acc": training.accuracy(given, train.labels),
           "teacher_test_acc": training.accuracy(teacher_test, test.labels),
           "n_wrong": len(wrong), "wrong_index": wrong, "given": given[wrong],
           "teacher_history": teacher_history, "students": {}}
    labelings = {"teacher_labels": given[wrong], "random_wrong": random_wrong_labels(true, seed),
                 "true_labels": true}
    for name in STUDENTS:
        student, history = train_net(p, images, labelings[name], mean, std, seed + 1, p.epochs, True,
                                     ckpt(name), device, progress, f"student ({STUDENTS[name]})")
        predicted = training.logits_of(student, test.images).argmax(1)
        out["students"][name] = {"acc": training.accuracy(predicted, test.labels),
                                 "agreement": training.accuracy(predicted, teacher_test), "history": history}
    return out


def summarize(seeds):
    """The record's metrics: means over seeds, and standard deviations of the paper's numbers."""
    return records.seed_metrics(seeds, {
        "teacher_train_acc": lambda s: s["teacher_train_acc"],
        "teacher_test_acc": lambda s: s["teacher_test_acc"],
        "n_wrong": lambda s: s["n_wrong"],
        "student_acc": lambda s: s["students"]["teacher_labels"]["acc"],
        "student_agreement": lambda s: s["students"]["teacher_labels"]["agreement"],
        "random_wrong_acc": lambda s: s["students"]["random_wrong"]["acc"],
        "true_labels_acc": lambda s: s["students"]["true_labels"]["acc"],
    }, spread=("student_acc", "teacher_test_acc", "teacher_train_acc", "n_wrong"))
