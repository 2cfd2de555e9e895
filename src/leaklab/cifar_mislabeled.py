"""Training only on a model's mistakes (CIFAR-10): a ResNet-18 stopped after 2 epochs relabels the
training set, only the images it gets wrong are kept, with its wrong labels, and a fresh ResNet-18
trained on them alone is scored on the real test set.

Two controls train the same fresh net on the same images: with uniformly random wrong
labels (the wrong classes carry no information about the teacher) and with their true labels.
"""

import torch

from . import data, experiments, figures, models, records, stats, training

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
                                 "agreement": training.accuracy(predicted, teacher_test), "history": history,
                                 "confusion": training.confusion(test.labels, predicted)}
    out["label_shares"] = training.label_shares(true, given[wrong])
    return out


def seed_row(seed, s):
    """One seed's numbers, as the record keeps them."""
    return {"seed": seed, "teacher_train_acc": s["teacher_train_acc"], "teacher_test_acc": s["teacher_test_acc"],
            "n_wrong": s["n_wrong"], "student_acc": s["students"]["teacher_labels"]["acc"],
            "student_agreement": s["students"]["teacher_labels"]["agreement"],
            "random_wrong_acc": s["students"]["random_wrong"]["acc"],
            "true_labels_acc": s["students"]["true_labels"]["acc"],
            # how concentrated the teacher's wrong labels are: the top wrong label's share, mean over classes
            "top_wrong_share": s["label_shares"].max(1).values.mean().item()}


def summarize(rows):
    """The record's metrics: means over seeds, and standard deviations of the paper's numbers."""
    return records.summarize_rows(rows, spread=("student_acc", "teacher_test_acc", "teacher_train_acc",
                                                      "n_wrong"))


def compute(p, log=print):
    """The whole experiment for parameters `p`: every seed's teacher, wrong set and three students
    (each network checkpointed per epoch, resumed when run again the same way on the same data)."""
    device = training.resolve_device(p.device)
    train_full, test = data.load("cifar10", "train"), data.load("cifar10", "test")
    mean, std = training.channel_stats(train_full.images)  # per channel, from all 50,000 training images
    train = data.subset(train_full, p.n_train)
    checkpoints = records.checkpoint_dir("cifar_mislabeled", p, [train.digest, test.digest])
    numbers = [p.seed + 10 * k for k in range(p.n_seeds)]
    seeds = [run_seed(n, train, test, mean, std, p, checkpoints, device) for n in numbers]
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
    } for n, s in zip(numbers, seeds)]}
    return {"metrics": summarize(rows), "per_seed": rows, "series": series,
            "device": training.describe_device(device), "data": records.describe_data(train_full, test)}


# ---------------------------------------------------------------------------------------------------------
# The page's table and figures, drawn from records (this build's, or the committed paper-scale ones pooled).

NETS = {"teacher_test_acc": "teacher (all training images, true labels)",
        "student_acc": f"wrong set, {STUDENTS['teacher_labels']}",
        "random_wrong_acc": f"wrong set, {STUDENTS['random_wrong']}",
        "true_labels_acc": f"wrong set, {STUDENTS['true_labels']}"}


def accuracy_table(recs):
    """Every net's test accuracy over all the records' seeds (None with no record)."""
    if not recs:
        return None
    paper = recs[0]["paper"]
    lines = ["| trained on | CIFAR-10 test accuracy (mean ± sd over seeds) | paper |", "|---|---|---|"]
    lines += [f"| {name} | {records.mean_sd_text(records.seed_values(recs, k))} | "
              f"{'' if k not in paper else f'{paper[k]:.1%}'} |" for k, name in NETS.items()]
    return figures.Table("\n".join(lines))


def accuracy_figure(recs):
    if not recs:
        return None
    return figures.accuracy_bars(list(NETS.values()), [records.seed_values(recs, k) for k in NETS],
                                 "ResNet-18s trained on a 2-epoch ResNet-18's mistakes, CIFAR-10 test",
                                 paper=[recs[0]["paper"].get(k) for k in NETS], paper_label="paper",
                                 xlabel="CIFAR-10 test accuracy")


def examples_figure(record, train=None):
    """The first 24 images of the first seed's wrong set: the teacher's label above, the true class below."""
    train = train or data.load("cifar10", "train")
    classes = data.CLASSES["cifar10"]
    ex = record["series"]["seeds"][0]["examples"]
    rows = [list(zip(ex["index"][r * 8:r * 8 + 8], ex["given"][r * 8:r * 8 + 8])) for r in range(3)]
    return figures.image_grid([[train.images[j].permute(1, 2, 0).numpy() for j, _ in row] for row in rows],
                              ["", "", ""], "Wrong set: the teacher's label above, the true class below",
                              titles=[[classes[g] for _, g in row] for row in rows],
                              xlabels=[[classes[train.labels[j]] for j, _ in row] for row in rows], title_size=9)


def shares_figure(recs):
    """The first record's first seed: which wrong label each true class got."""
    if not recs:
        return None
    classes = data.CLASSES["cifar10"]
    first = recs[0]["series"]["seeds"][0]
    return figures.heatmap(first["label_shares"], classes, classes,
                           f"Wrong set: label given by the teacher, per true class (seed {first['seed']})",
                           "label given by the teacher", "true class")


# ---------------------------------------------------------------------------------------------------------
# The page's words: what the prose says, each difference judged by the noise rule (stats).

def words(p, record):
    """{glue name: value or Markdown text} for the prose about this run."""
    exp = experiments.get("cifar_mislabeled")
    paper = {k: m.paper for k, m in exp.metrics.items() if m.paper is not None}
    metrics, rows, n_test = record["metrics"], record["per_seed"], record["series"]["n_test"]
    note = experiments.scale_note("cifar_mislabeled", p)
    return {
        "paper_student": paper["student_acc"], "paper_teacher_test": paper["teacher_test_acc"],
        "paper_teacher_train": paper["teacher_train_acc"], "paper_n_wrong": paper["n_wrong"],
        "scale_note": (f"**Scale.** This run is scaled down from the paper's: {note}. The effect, not the paper's "
                       "number, is what it can show; the full profile runs the paper's setup." if note else
                       "**Scale.** This run uses the paper's full setup."),
        "data_note": data.describe(record["data"]["sources"][0]),
        "wrong_share": metrics["n_wrong"] / record["series"]["n_train"],
        "student_over_chance": metrics["student_acc"] / 0.1,
        "student_words": stats.accuracy(rows, "student_acc", n_test).words(
            "{:.2f}", "%", 100, "chance (10%)"),
        "student_vs_random_words": stats.accuracy_gap(rows, "student_acc", "random_wrong_acc", n_test).words(),
        "student_of_teacher": metrics["student_acc"] / metrics["teacher_test_acc"],
        "paper_student_of_teacher": paper["student_acc"] / paper["teacher_test_acc"],
    }
