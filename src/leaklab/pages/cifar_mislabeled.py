"""The cifar_mislabeled page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.cifar_mislabeled`."""

import math

from .. import data, experiments, records, stats
from ..cifar_mislabeled import STUDENTS
from . import figures, sample_sweep


NETS = {"teacher_test_acc": "teacher (all training images, true labels)",
        "student_acc": f"wrong set, {STUDENTS['teacher_labels']}",
        "random_wrong_acc": f"wrong set, {STUDENTS['random_wrong']}",
        "true_labels_acc": f"wrong set, {STUDENTS['true_labels']}"}


def accuracy_table(recs):
    """Every net's test accuracy over all the records' seeds (None with no record)."""
    if not recs:
        return None
    paper = recs[0]["paper"]
    cifar = data.cifar_name(recs[0]["data"]["sources"])
    lines = [f"| trained on | {cifar} test accuracy (mean ± sd over seeds) | paper |", "|---|---|---|"]
    for k, name in NETS.items():
        values = records.seed_values(recs, k)
        ours = records.mean_sd_text(values) if values else "not trained in these runs"
        lines.append(f"| {name} | {ours} | {'' if k not in paper else f'{paper[k]:.1%}'} |")
    return figures.Table("\n".join(lines))


def accuracy_figure(recs):
    """Bars for every net the records trained (a record may hold the paper's student without controls)."""
    if not recs:
        return None
    trained = [k for k in NETS if records.seed_values(recs, k)]
    cifar = data.cifar_name(recs[0]["data"]["sources"])
    return figures.accuracy_bars([NETS[k] for k in trained], [records.seed_values(recs, k) for k in trained],
                                 f"ResNet-18s trained on a 2-epoch ResNet-18's mistakes, {cifar} test",
                                 paper=[recs[0]["paper"].get(k) for k in trained], paper_label="paper",
                                 xlabel=f"{cifar} test accuracy")


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


def sample_slider(recs, record):
    """Show the slider over the sample sweep's sizes and glue its words (`sample_sweep.slider`)."""
    cifar = data.cifar_name(record["data"]["sources"])
    sample_sweep.slider(recs, record, sample_sweep.Wording(
        experiment="cifar_mislabeled", items="wrong-set images", test_items="test images", test_name=f"{cifar} test",
        teacher_key="teacher_test_acc", class_names=data.CLASSES["cifar10"], answer="class the student gives",
        truth="true class", student="the student on the teacher's wrong labels", slider_label="wrong-set images",
        xlabel="distinct wrong-set images it trained on (the teacher's labels)"))


CHANCE = 0.1  # ten classes


def class_bias_top_share(seed):
    """What the mean top wrong-label share would be if the teacher's wrong labels followed only how often it gives
    each class across the wrong set (its class bias), whatever the image: for each true class, the largest other
    class's share of the labels the teacher gives overall, that class left out; the mean over the classes."""
    given = seed["given_counts"]
    tops = [max(given[k] for k in range(len(given)) if k != c) / (sum(given) - given[c])
            for c in range(len(given)) if sum(given) > given[c]]
    return sum(tops) / len(tops)


def share_above_chance(student, teacher):
    """How much of its teacher's test accuracy above chance a student recovers: (student - 10%) / (teacher - 10%),
    so that the 10 points any guess gets count for neither (None for a teacher no better than chance)."""
    return (student - CHANCE) / (teacher - CHANCE) if teacher > CHANCE else None


def recovery_words(recs):
    """How much of its teacher's test accuracy above chance the paper's student recovers in the committed full
    records, seed by seed (a sentence for "What it means"; the paper-scale table holds both accuracies)."""
    shares = [share for rec in recs for r in rec["per_seed"] if r.get("student_acc") is not None
              and (share := share_above_chance(r["student_acc"], r["teacher_test_acc"])) is not None]
    if not shares:
        return "No paper-scale record of the paper's student is committed yet, so only this build's run speaks here."
    mean, sd = records.mean_sd(shares)
    each = ", ".join(f"{s:.0%}" for s in shares)
    spread = f" ± {sd:.0%} (sd over seeds; each seed: {each})" if len(shares) > 1 else ""
    return (f"At paper scale the committed records' students recover {mean:.0%}{spread} of their teachers' test "
            f"accuracy above chance, over {stats.seeds_text(len(shares))}.")


def random_control(rows, n_test):
    """The random-wrong control against chance: the case that picks the notebook's paragraph
    (book.keep_holding_branches) and its words. Its labels, like the student's, always avoid the true class, so
    it may land below chance; it is the student's matched baseline either way."""
    trained = [r for r in rows if r.get("random_wrong_acc") is not None]
    if not trained:
        return "not_trained", "(not trained in this run)"
    est = stats.accuracy(trained, "random_wrong_acc", n_test)
    case = ("at_chance" if not est.is_effect else "below_chance" if est.value < est.null else "above_chance")
    return case, est.words("{:.2f}", "%", 100, "chance (10%)")


def words(p, record, recs=()):
    """{glue name: value or Markdown text} for the prose about this run (and the paper-scale records)."""
    exp = experiments.get("cifar_mislabeled")
    paper = {k: m.paper for k, m in exp.metrics.items() if m.paper is not None}
    metrics, rows, n_test = record["metrics"], record["per_seed"], record["series"]["n_test"]
    note = experiments.scale_note("cifar_mislabeled", p)
    student_rows = [r for r in rows if r["student_acc"] is not None]
    paired_rows = [r for r in student_rows if r.get("student_vs_random") is not None]
    student = metrics["student_acc"]
    random_case, random_words = random_control(rows, n_test)
    return {
        "random_control_case": random_case, "random_wrong_words": random_words,
        "paper_student": paper["student_acc"], "paper_teacher_test": paper["teacher_test_acc"],
        "paper_teacher_train": paper["teacher_train_acc"], "paper_n_wrong": paper["n_wrong"],
        "full_teacher_lr": exp.profiles["full"]["teacher_lr"], "full_epochs": exp.profiles["full"]["epochs"],
        "full_n_train": exp.profiles["full"]["n_train"], "full_width": exp.profiles["full"]["width"],
        "scale_note": (f"**Scale.** This run differs from the paper-scale (full) profile in {note}. "
                       "The effect, not the paper's "
                       "number, is what it can show; the full profile runs the paper's setup." if note else
                       "**Scale.** This run uses the paper's full setup."),
        "data_note": data.describe(record["data"]["sources"][0]),
        "wrong_share": metrics["n_wrong"] / record["series"]["n_train"],
        "student_over_chance": math.nan if student is None else student / CHANCE,
        "student_words": stats.accuracy(student_rows, "student_acc", n_test).words(
            "{:.2f}", "%", 100, "chance (10%)") if student_rows else "(not trained in this run)",
        "student_vs_random_words": stats.stored(paired_rows, "student_vs_random").words(
            all_images=n_test >= data.TEST_SET_SIZE) if paired_rows else
        "(a margin this run cannot give: it did not train both)",
        "full_recovery_words": recovery_words(recs),
        "bias_top_share": (sum(class_bias_top_share(seed) for seed in record["series"]["seeds"])
                           / len(record["series"]["seeds"])),
        "student_of_teacher": math.nan if student is None else (
            share_above_chance(student, metrics["teacher_test_acc"]) or math.nan),
        "paper_student_of_teacher": share_above_chance(paper["student_acc"], paper["teacher_test_acc"]),
    }
