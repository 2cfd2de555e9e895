"""The mnist_from_fashion page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.mnist_from_fashion`."""

from .. import data, experiments, records, stats
from ..mnist_from_fashion import NETS
from . import figures, sample_sweep


NORM_OF = {"teacher": "MNIST's", "own": "Fashion's own", "mnist": "MNIST's", "control": "MNIST's"}


ACC_KEY = {"teacher": "teacher_acc", "own": "student_acc", "mnist": "student_mnistnorm_acc", "control": "control_acc"}


AGREE_KEY = {"own": "agreement", "mnist": "agreement_mnistnorm"}


def accuracy_table(recs):
    """The students' table (MyST markdown): each net's accuracy over all the records' seeds."""
    if not recs:
        return None
    paper = recs[0]["paper"]
    lines = ["| net | training inputs normalized with | MNIST test accuracy (mean ± sd over seeds) | paper "
             "| agrees with the teacher on MNIST test (mean) |", "|---|---|---|---|---|"]
    for net, key in ACC_KEY.items():
        agree = records.mean_sd(records.seed_values(recs, AGREE_KEY[net]))[0] if net in AGREE_KEY else None
        lines.append(f"| {NETS[net]} | {NORM_OF[net]} | {records.mean_sd_text(records.seed_values(recs, key))} "
                     f"| {'' if key not in paper else f'{paper[key]:.2%}'} "
                     f"| {'' if agree is None else f'{agree:.2%}'} |")
    return figures.Table("\n".join(lines))


def accuracy_figure(recs):
    if not recs:
        return None
    keys = list(ACC_KEY.values())
    return figures.accuracy_bars([NETS[k] for k in ACC_KEY], [records.seed_values(recs, key) for key in keys],
                                 f"MNIST test accuracy ({stats.seeds_text(sum(len(r['per_seed']) for r in recs))})",
                                 paper=[recs[0]["paper"].get(key) for key in keys], paper_label="paper")


def examples_figure(record, fashion_images=None):
    """One Fashion-MNIST image of each class with the digit the first seed's teacher gave it, under
    both normalizations (Wallace's figure)."""
    if fashion_images is None:
        fashion_images = data.load("fashion_mnist", "train").images
    first, picks = record["series"]["seeds"][0], record["series"]["example_index"]
    fig = figures.image_grid(
        [[fashion_images[i, 0].numpy() for i in picks]] * 2,  # [1, H, W]: the one channel
        ["teacher's digit,\nFashion's own\nnormalization", "teacher's digit,\nMNIST's\nnormalization"],
        f"Fashion-MNIST training images labelled by the MNIST teacher (seed {first['seed']})",
        titles=[[str(d) for d in first["example_labels"][k]] for k in ("own", "mnist")])
    for ax, name in zip(fig.axes[10:], data.CLASSES["fashion_mnist"]):
        ax.set_xlabel(name, fontsize=8)
    return fig


def labels_histogram(recs):
    """The digits the first seed's teacher gave the Fashion images, under both normalizations."""
    if not recs:
        return None
    first = recs[0]["series"]["seeds"][0]
    counts = [first["label_counts"][k] for k in ("own", "mnist")]
    return figures.label_histograms(counts, ["Fashion's own normalization", "MNIST's normalization"],
                                    f"Digits the teacher gave the {recs[0]['series']['n_fashion']:,} Fashion "
                                    f"training images (seed {first['seed']})")


def labels_heatmap(recs):
    """Which digit each kind of clothing became (the first seed's teacher, Fashion's own normalization)."""
    if not recs:
        return None
    first = recs[0]["series"]["seeds"][0]
    return figures.heatmap(first["label_shares"]["own"], data.CLASSES["fashion_mnist"], [str(d) for d in range(10)],
                           f"Which digit each kind of clothing became (seed {first['seed']}, Fashion's own "
                           "normalization)", xlabel="digit the teacher gave", ylabel="Fashion-MNIST class")


ACC = dict(num="{:.2f}", unit="%", scale=100, null_name="chance (10%)")


SWEEP = sample_sweep.Wording(
    experiment="mnist_from_fashion", items="teacher-labelled clothes", test_items="test digits",
    test_name="MNIST test", teacher_key="teacher_acc", class_names=[str(d) for d in range(10)],
    answer="digit the student gives", truth="true digit", student="the student (Fashion's own normalization)",
    xlabel="distinct teacher-labelled Fashion images it trained on", slider_label="labelled clothes")


def sample_slider(recs, record):
    """Show the slider over the sample sweep's sizes and glue its words (`sample_sweep.slider`)."""
    sample_sweep.slider(recs, record, SWEEP)


def norm_gain_error(recs):
    """Which error the gain of these records carries, in words."""
    if experiments.stores_paired_error("normalization_gain", [row for r in recs for row in r["per_seed"]]):
        return "its error is paired: both students on the same test digits, image by image"
    return ("its error is unpaired, the larger one: these records predate keeping each student's answer per test "
            "digit")


def norm_gain(recs):
    """MNIST-normalization student minus own-normalization student, seed by seed, with its standard error (paired
    on the same test digits where the records keep it: `experiments.estimate`)."""
    rows = [row for r in recs for row in r["per_seed"]]
    return experiments.estimate("mnist_from_fashion", "normalization_gain", rows, recs[0]["series"]["n_test"])


def answered_digits(confusion):
    """How many different digits a net gives across the test set (the columns of its confusion holding any)."""
    return sum(any(row[d] for row in confusion) for d in range(len(confusion[0])))


def seed_gains(recs):
    """' (seed by seed: +1.02 seed 0, ...)': each seed's gain, so one seed far from the others can be seen ('' for
    one seed)."""
    rows = [row for r in recs for row in r["per_seed"]]
    gains = [(row["seed"], experiments.seed_value("mnist_from_fashion", "normalization_gain", row)) for row in rows]
    return ("" if len(gains) < 2 else
            " (seed by seed: " + ", ".join(f"{100 * g:+.2f} seed {n}" for n, g in gains if g is not None) + ")")


def control_verdict(rows, n_test, seeds=()):
    """The sentence on what the random-digit control shows, by the noise rule against chance (10%), and whether it
    collapsed to one answer (`seeds`: the record's per-seed series, with each net's confusion on the test digits)."""
    control = stats.accuracy(rows, "control_acc", n_test)
    scope = (" (one seed: this one trained control)" if control.one_model else
             f" ({stats.seeds_text(control.n_seeds)})")
    confusions = [s["confusion"]["control"] for s in seeds if "control" in s.get("confusion", {})]
    collapsed = sum(answered_digits(c) == 1 for c in confusions)
    # random digits hold nothing to fit, so one answer for everything is a net that found that out, not a failure
    collapse = ("" if not collapsed else
                " It gives one digit to every test image"
                + ("" if len(confusions) == 1 else f" in {collapsed} of its {len(confusions)} seeds")
                + ": labels that carry nothing about the clothes leave it no better answer than a constant one.")
    if not control.is_effect:
        return (f"The control stays at chance{scope}: without the teacher's labels the clothes teach nothing about "
                "digits that this run can detect." + collapse)
    if control.value > control.null:
        return (f"The control scores above chance, beyond its error{scope}: the clothes with random digits taught "
                "it something about real digits, so not everything the students know need come from the "
                "teacher's labels.")
    return (f"The control scores below chance, beyond its error{scope}: random digits taught it nothing that "
            "helps on real digits, and it guesses worse than a uniform guess would.")


def shared_mistakes(rows):
    """The sentence on the teacher's mistakes the students repeat. On the test digits, agreement with the teacher
    is at most the student's accuracy plus the share where student and teacher give the same wrong digit (where
    the student is right and agrees, the teacher is right too), so that share is at least agreement minus
    accuracy: exact for each seed's models on these test digits, a lower bound (taken as zero where negative)."""
    bounds = {net: sum(max(0.0, r[AGREE_KEY[net]] - r[ACC_KEY[net]]) for r in rows) / len(rows)
              for net in ("own", "mnist")}
    over = f"mean over {stats.seeds_text(len(rows))}" if len(rows) > 1 else "one seed: these students only"
    copied = [net for net in bounds if bounds[net] > 0]
    if not copied:
        return ("Neither student's agreement with the teacher exceeds its accuracy, so the record cannot show that "
                "they copied any of the teacher's mistakes.")
    shares = [f"{bounds[net]:.2%} of the test digits ({NORM_OF[net]} normalization)" if not k else
              f"{bounds[net]:.2%} ({NORM_OF[net]})" for k, net in enumerate(copied)]
    rest = "".join(f" For the student with {NORM_OF[net]} normalization agreement does not exceed accuracy, so the "
                   "record cannot show copied mistakes there." for net in bounds if net not in copied)
    who = "the students" if len(copied) > 1 else "that student"
    teacher_wrong = 1 - sum(r["teacher_acc"] for r in rows) / len(rows)
    return ("Agreement exceeds accuracy, and where a student is right and agrees with the teacher, the teacher is "
            f"right too; so on at least {' and '.join(shares)} student and teacher give the same wrong digit "
            f"({over}; the teacher gets {teacher_wrong:.2%} wrong): {who} copied the teacher, some of its mistakes "
            f"included.{rest}")


def direction_scope(gain, recs, full_words):
    """What this build's verdict on the normalization's direction speaks for: with one seed, one pair of students,
    pointing to the paper-scale records' pooled gain (`full_words`); with several, the procedure over its seeds."""
    if not gain.one_model:
        return (f"The verdict pools this run's {stats.seeds_text(gain.n_seeds)}, so it speaks for the training "
                "procedure with this run's parameters, not only for one pair of students.")
    full = ("no paper-scale record is committed yet to speak for it" if not recs else
            f"the paper-scale section above pools {stats.seeds_text(sum(len(r['per_seed']) for r in recs))} and "
            f"finds a change of {full_words}")
    return ("This run has one seed, so this holds for this one pair of students, not for the training procedure, "
            f"which one seed cannot speak for; for the procedure, {full}.")


def versus_paper(gain, paper_gain):
    """Our normalization gain against the paper's, by the scorecard's rule (`stats.matches`): "one_seed" when the
    gain is one pair of students, since the paper's number is one run of its procedure and comparing two runs needs
    the spread over seeds, which one seed cannot estimate; else "consistent", "smaller" or "larger"."""
    if gain.one_model:
        return "one_seed"
    return ("consistent" if stats.matches(gain, paper_gain) else "smaller" if gain.value < paper_gain else
            "larger")


# completes "Against the paper's gain, it is ..."
FULL_VERSUS_PAPER = {
    "one_seed": "one seed, not comparable with the paper's one run (that needs the gain's spread over seeds)",
    "consistent": "within the line its spread over seeds draws: the two cannot be told apart",
    "smaller": "smaller beyond the line its spread over seeds draws",
    "larger": "larger beyond the line its spread over seeds draws"}


def words(p, record, recs=()):
    """{glue name: value or Markdown text} for the prose about this run (and the paper-scale records)."""
    exp = experiments.get("mnist_from_fashion")
    paper = {k: m.paper for k, m in exp.metrics.items() if m.paper is not None}
    rows, n_test = record["per_seed"], record["series"]["n_test"]
    norms = record["series"]["norms"]
    out = {f"paper_{k}": v for k, v in paper.items()}
    for name, (mean, std) in norms.items():
        out[f"{name}_mean"], out[f"{name}_std"] = mean, std
    out["bg_mnist"] = -norms["mnist"][0] / norms["mnist"][1]
    out["bg_fashion"] = -norms["fashion"][0] / norms["fashion"][1]
    paper_gain = paper["student_mnistnorm_acc"] - paper["student_acc"]
    out["paper_norm_gain_points"] = 100 * paper_gain
    out["student_words"] = stats.accuracy(rows, "student_acc", n_test).words(**ACC)
    out["student_mnistnorm_words"] = stats.accuracy(rows, "student_mnistnorm_acc", n_test).words(**ACC)
    # random digits, built to sit at chance: nothing for more data to settle
    out["control_words"] = stats.accuracy(rows, "control_acc", n_test).words(**ACC, settle=False)
    out["seeds_text"] = stats.seeds_text(p.n_seeds)
    out["over_seeds"] = "one seed" if p.n_seeds == 1 else f"mean over {stats.seeds_text(p.n_seeds)}"
    out["control_verdict"] = control_verdict(rows, n_test, record["series"].get("seeds", ()))
    student = stats.accuracy(rows, "student_acc", n_test)
    teacher = stats.accuracy(rows, "teacher_acc", n_test).value
    full = [row for r in recs for row in r["per_seed"] if row.get("student_acc") is not None]
    shrunk = ("; this scaled-down run trains on fewer images for fewer epochs than the paper's" +
              ("" if full else f", whose student reached {paper['student_acc']:.2%}")
              if experiments.scale_note("mnist_from_fashion", p) else "")
    at_scale = "" if not full else (
        f"; at paper scale the committed {'student' if len(full) == 1 else 'students'} ({stats.seeds_text(len(full))}) "
        f"{'scores' if len(full) == 1 else 'score'} {records.mean_sd(row['student_acc'] for row in full)[0]:.1%}"
        f"{'' if len(full) == 1 else ' on average'}, the paper's {paper['student_acc']:.2%}")
    out["recovery_words"] = (
        f"here enough to read handwritten digits without ever seeing one (this build's student: {student.value:.1%}, "
        f"beyond chance, 10%, by the noise rule, beside its teacher's {teacher:.1%}{shrunk}{at_scale})"
        if student.is_effect and student.value > student.null else
        "though this build's student cannot be told apart from chance (10%) on the digits, so this run shows no "
        f"such recovery{f' ({at_scale[2:]})' if at_scale else ''}")
    out["shared_mistakes"] = shared_mistakes(rows)
    gain = norm_gain([record])
    out["norm_gain_words"] = gain.words(all_images=n_test >= data.TEST_SET_SIZE)
    # picks the notebook's sentence on our gain against the paper's (book.keep_holding_branches)
    case = out["gain_versus_paper_case"] = versus_paper(gain, paper_gain)
    out["gain_versus_paper"] = {"smaller": "smaller than", "larger": "larger than"}.get(case, "")
    # picks the notebook's sentence on the direction (book.keep_holding_branches)
    out["direction_case"] = ("carries_over" if gain.is_effect and gain.value > 0 else
                             "reversed" if gain.is_effect else "unclear")
    full_gain = norm_gain(recs) if recs else None
    out["norm_gain_full_versus_paper"] = (FULL_VERSUS_PAPER[versus_paper(full_gain, paper_gain)] if recs else
                                          "not measured: no paper-scale record is committed")
    out["norm_gain_full_words"] = (full_gain.words(
        all_images=recs[0]["series"]["n_test"] >= data.TEST_SET_SIZE) + seed_gains(recs) if recs else
                                   "not measured yet: no paper-scale record is committed")
    # said in full in the paper-scale section; in What it means and the direction's scope, in short
    out["normalization_meaning"] = (
        "The paper's second number, the gain from normalizing the clothes with MNIST's statistics, waits for a "
        "paper-scale record." if full_gain is None else
        f"The paper's second number, the gain from normalizing the clothes with MNIST's statistics "
        f"({100 * paper_gain:+.2f} points), is {full_gain.text()} at paper scale over "
        f"{stats.seeds_text(full_gain.n_seeds)}: "
        + ("a gain beyond noise, so how the student sees the clothes matters as well as what the teacher says."
           if full_gain.is_effect and full_gain.value > 0 else
           "a loss beyond noise, against the paper." if full_gain.is_effect else
           "it cannot be told apart from zero, so these runs neither confirm nor rule out that it matters; the "
           "scorecard says how many seeds would tell the paper's gain."))
    out["direction_scope"] = direction_scope(gain, recs, full_gain and (
        f"{full_gain.text()}, {'beyond' if full_gain.is_effect else 'within'} its noise line"))
    out["norm_gain_error"] = norm_gain_error([record])
    out["norm_gain_full_error"] = norm_gain_error(recs) if recs else "no record"
    return out
