"""The claims of the book: each one's notebook, parameters, profiles and the paper's numbers.

This module imports no torch, so the `leaklab` command can check parameters in a
fraction of a second, before any kernel starts or any training runs. Notebooks
call `records.notebook_params` in the cell after their `parameters` cell, so a run of
plain `papermill -p` is checked by the same rules.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

from . import errors, stats

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ("quick", "full")
ParameterError, RunError = errors.ParameterError, errors.RunError  # their names where parameters are checked


@dataclass(frozen=True)
class Param:
    kind: type  # int, float or str
    help: str
    lo: float | None = None
    hi: float | None = None
    choices: tuple = ()
    subset_of: tuple = ()  # a str parameter naming some of these, comma-separated ("all": every one)

    def allowed(self):
        if self.subset_of:
            return "'all' or some of " + ", ".join(self.subset_of) + ", comma-separated"
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        kind = "an integer" if self.kind is int else "a number"
        return f"{kind} from {self.lo} to {self.hi}"


    def check(self, name, value):
        """The value converted to this parameter's type, or ParameterError."""
        if isinstance(value, str) and self.kind is not str:
            try:
                value = self.kind(value)
            except ValueError:
                raise ParameterError(f"{name}={value!r} is not {self.allowed()}: {self.help}") from None
        if self.kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        ok_type = {int: (int,), float: (int, float), str: (str,)}[self.kind]
        if isinstance(value, bool) or not isinstance(value, ok_type):
            raise ParameterError(f"{name}={value!r} has the wrong type: expected {self.allowed()} ({self.help})")
        if self.choices and value not in self.choices:
            raise ParameterError(f"{name}={value!r} is not allowed: expected {self.allowed()} ({self.help})")
        if self.subset_of:
            return ",".join(self.members(name, value))
        if not self.choices and not (self.lo <= value <= self.hi):
            raise ParameterError(f"{name}={value!r} is out of range: expected {self.allowed()} ({self.help})")
        return self.kind(value)

    def members(self, name, value):
        """The names a subset parameter's value picks, in this parameter's own order, or ParameterError."""
        picked = [v.strip() for v in value.split(",") if v.strip()]
        if picked == ["all"]:
            return list(self.subset_of)
        unknown = [v for v in picked if v not in self.subset_of]
        if unknown or not picked:
            raise ParameterError(f"{name}={value!r} is not allowed: expected {self.allowed()} ({self.help})")
        return [v for v in self.subset_of if v in picked]


def picked(value):
    """The names a resolved subset parameter holds (its value is already checked and ordered)."""
    return value.split(",")


def training_eps(largest, points):
    """`points` training eps evenly spaced up to `largest` (0-255 scale), zero left out: leak_conditions' map and
    difficulty cells."""
    return [round(largest * (i + 1) / points, 4) for i in range(points)]


def leak_conditions_grid(p):
    """{axis: values} of the cells a leak_conditions run trains beside its page's seeds (`p`: its parameters): the
    map's training eps and widths, the difficulty cells' training eps; no axis for a part the run leaves out."""
    grid = {}
    if p["map_eps_points"] > 0:
        grid["map eps"] = training_eps(p["map_eps_max"], p["map_eps_points"])
        grid["map widths"] = [p["map_width_min"] * 2 ** k for k in range(p["map_widths"])]
    if p["cells_seeds"] > 0:
        grid["cell eps"] = training_eps(p["cells_eps_max"], p["cells_eps_points"])
    return grid


DEVICE = Param(str, "where to train: auto picks CUDA when there is a GPU", choices=("auto", "cpu", "cuda"))


KINDS = {  # what a metric is, which decides where its standard error comes from
    "accuracy": "a share of the test images (right, or agreeing): binomial error on the test images",
    "difference": "accuracy minus accuracy on the same test images: its error stored beside it as KEY_se",
    "loss": "a mean loss or a difference of mean losses: its error stored beside it as KEY_se",
    "score": "points right out of a fixed set (the toy's 32): no sampling error, the spread over seeds only",
    "count": "a count (images, points): the spread over seeds only",
    "share": "a share of seeds, pixels or labels: described, never judged",
    "value": "any other number: described, never judged",
    "spread": "a standard deviation over seeds",
}


@dataclass(frozen=True)
class Metric:
    label: str
    paper: float | None = None  # the source's number, when it gives one
    chance: float | None = None
    kind: str = "value"  # one of KINDS
    fmt: str = "{:.2f}"
    seed_key: str | None = None  # the per-seed value this metric summarizes, when not under its own name
    of: tuple = ()  # a difference computed seed by seed: (a, b) names the per-seed values of a - b
    short: str = ""  # a few words for the scorecard (the label is its footnote)
    setup: bool = False  # describes the setup (a teacher's accuracy): judged "matches/differs", never "effect"
    read_off: float = 0.0  # uncertainty of the paper's number itself (a value read off a figure)
    paper_parts: tuple = ()  # for a difference: the paper's two accuracies, whose binomial errors its number carries
    out_of: str = ""  # for a count: the parameter it is a count out of (the wrong set: of n_train training images)
    source: str = ""  # a word for where `paper` comes from when not the papers (a reference run; the label names it)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"unknown metric kind {self.kind!r}: one of {', '.join(KINDS)}")

    @property
    def in_percent(self):
        return self.kind in ("accuracy", "difference", "share")

    def plain(self, value):
        """A number as a reader would write it: accuracies as percentages, differences in points, counts with
        thousands separators, other values as given."""
        if self.kind == "difference":
            return f"{round(value * 100, 6):+g} points"
        if self.kind == "count":
            return f"{value:,g}"
        return f"{round(value * 100, 6):g}%" if self.in_percent else f"{value:g}"

    def plain_diff(self, value):
        return f"{value * 100:g} percentage points" if self.in_percent else f"{value:g}"

    def paper_se(self, n_test):
        """The sampling error of the paper's own number, on as many test images as ours (it reports one run):
        binomial for an accuracy, both accuracies' for a difference whose parts it gives, else none."""
        if not n_test:
            return 0.0
        if self.kind == "accuracy":
            return stats.binomial_se(self.paper, n_test)
        if self.kind == "difference" and self.paper_parts:
            return stats.gap_se(*self.paper_parts, n_test)
        return 0.0


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    claim: str
    params: dict
    profiles: dict
    metrics: dict
    headline: str  # the metric the scorecard shows
    spread: str | None = None  # a metric holding the headline's spread over seeds within one run
    also: tuple = ()  # more metrics with a paper number that get their own scorecard row ("KEY_sd": spread)
    datasets: tuple = ()  # (name, split) pairs the notebook loads, checked before it starts
    dataset_param: str | None = None  # a parameter that picks the data instead: its train and test splits
    data_sizes: dict = field(default_factory=dict)  # {size parameter: {dataset: its largest value}}
    # (subset parameter naming datasets, count parameter): those datasets are loaded too when the count is above 0
    also_datasets: tuple = ()
    source: str = ""
    full_cost: str = ""  # what one `leaklab compute NAME --profile full` costs, on a GPU and on a 2-core CPU
    # {subset parameter: a member the notebook's page draws} or {count parameter: the least the page draws}
    page_needs: dict = field(default_factory=dict)
    # count parameters of which a run needs one above 0 (each 0 turns a part off; with all of them 0 nothing is left)
    any_of: tuple = ()
    needs_gpu: bool = False  # its full profile is meant for a GPU (hours to days on a CPU)
    # parameters that make another experiment rather than another run of this one: a full record made with other
    # values of these (leak_conditions on CIFAR-10) is a variant, which its page may show but no pooled number counts
    setting: tuple = ()
    # parameters that pick which parts of the full profile a run computes (one sitting's share on a CPU): a full
    # record holding fewer parts is still paper scale for the parts it holds (records.off_profile)
    parts: tuple = ()
    # params -> {axis: values} of the cells the parts train (leak_conditions' map and difficulty cells): a part
    # may pick cells of the full profile's grid, not add cells off it
    grid: object = None
    notebook: Path = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "notebook", ROOT / "notebooks" / f"{self.name}.ipynb")


# He et al. (2016), Table 6: their CIFAR-10 ResNet-110, trained without adversarial images for 64,000 iterations of
# batch 128 from a learning rate of 0.1 (divided by 10 at 32,000 and 48,000): the clean accuracy a ResNet-110
# reaches with a long schedule, beside which the blog's 92.12% and ours are read (pages.fgsm_leak)
HE_RESNET110 = {"clean_acc_mean": 0.9339, "clean_acc_best": 0.9357, "iterations": 64_000, "batch_size": 128}

EXPERIMENTS = {
    "toy2d": Experiment(
        name="toy2d",
        title="The 2D toy: distilling a net from its mislabeled adversarial points",
        claim="a net trained only on another net's flipped adversarial points, with their wrong labels, "
        "recovers much of its decision boundary",
        source="Wallace (2019), two-dimensional illustration",
        full_cost=("about 2 minutes per record of 1,000 seeds on a 2-core CPU (the toy is too small to gain "
                   "from a GPU); the committed records are three such runs, `-p seed=0`, `1000` and `2000`"),
        params={
            "seed": Param(int, "first seed; seed k of the population is seed + k", 0, 2**31 - 1 - 100_000),
            "n_points": Param(int, "random points per seed (the claim uses 32)", 4, 32),
            "eps": Param(float, "l_inf radius of the attack", 0.0, 0.5),
            "attack": Param(str, "the attack that makes the adversarial points", choices=("pgd", "fgsm")),
            "attack_steps": Param(int, "PGD steps", 1, 1000),
            "hidden": Param(int, "width of each hidden layer", 4, 512),
            "depth": Param(int, "number of hidden layers", 1, 4),
            "steps": Param(int, "full-batch Adam steps for the original net", 1, 100_000),
            "student_steps": Param(int, "full-batch Adam steps for the new net", 1, 100_000),
            "lr": Param(float, "Adam learning rate", 1e-5, 1.0),
            "n_seeds": Param(int, "seeds in the population at eps", 1, 100_000),
            "sweep_seeds": Param(int, "seeds per radius in the eps sweep", 1, 10_000),
            "sweep_eps_max": Param(float, "largest radius of the sweep and of the book's slider", 0.01, 0.5),
            "sweep_points": Param(int, "radii in the sweep, evenly spaced from 0", 2, 101),
        },
        profiles={
            # the quick build's seeds lie outside the committed full records' (0 to 2999): its figure is another net
            "quick": dict(seed=10_000, n_points=32, eps=0.12, attack="pgd", attack_steps=20, hidden=32, depth=2,
                          steps=1500, student_steps=1000, lr=0.01, n_seeds=200, sweep_seeds=50,
                          sweep_eps_max=0.3, sweep_points=16),
            "full": dict(seed=0, n_points=32, eps=0.12, attack="pgd", attack_steps=20, hidden=32, depth=2,
                         steps=1500, student_steps=1000, lr=0.01, n_seeds=1000, sweep_seeds=200,
                         sweep_eps_max=0.3, sweep_points=31),
        },
        metrics={
            "student_correct_mean": Metric("new net's score on the 32 original points, mean over seeds",
                                           paper=23, chance=16, kind="score", fmt="{:.1f}", seed_key="student_correct",
                                           short="new net's score on the 32 points"),
            "student_correct_median": Metric("new net's score, median over seeds", paper=23, chance=16,
                                             kind="score", fmt="{:.0f}"),
            "student_correct_sd": Metric("new net's score, standard deviation over seeds", kind="spread", fmt="{:.1f}"),
            "student_above_chance": Metric("share of seeds where the new net beats chance (16/32)",
                                           kind="share", fmt="{:.0%}"),
            "student_correct_seed": Metric("new net's score for the figure's seed", paper=23, chance=16,
                                           kind="score", fmt="{:.0f}"),
            "original_fit_rate": Metric("share of seeds whose original net fits all its points", paper=1.0, setup=True,
                                        kind="share", fmt="{:.1%}"),
            "flipped_mean": Metric("flipped points per seed, mean", paper=15.5, kind="count", fmt="{:.1f}", setup=True),
            "control_correct_mean": Metric("control: flipped points with random labels, mean score",
                                           chance=16, kind="score", fmt="{:.1f}"),
            # our nets flip 26 of 32 points at eps 0.12 where the paper's figure shows 15-16: the same claim,
            # judged where the flip counts match (the sweep's seeds, at the radius nearest 15.5 flips)
            "student_correct_matched": Metric("new net's score where its attack flips as many points as the "
                                              "paper's figure (15.5), mean over the sweep's seeds", paper=23,
                                              chance=16, kind="score", fmt="{:.1f}",
                                              short="new net's score where the flips match the paper's"),
            "student_correct_matched_sd": Metric("that score, standard deviation over seeds", kind="spread",
                                                 fmt="{:.1f}"),
        },
        headline="student_correct_mean",
        spread="student_correct_sd",
        also=("student_correct_matched",),
        parts=("sweep_seeds",),  # more sweep seeds, like more seeds, measure the same sweep more finely
    ),
    "mnist_from_fashion": Experiment(
        name="mnist_from_fashion",
        title="MNIST learned from Fashion-MNIST: distillation through out-of-domain images",
        claim="a CNN trained only on Fashion-MNIST images labelled with an MNIST CNN's digits classifies real "
        "MNIST digits",
        source="Wallace (2019), out-of-domain section",
        full_cost=("under an hour on a 2-core CPU for the 3 seeds without the page's sample sweep (47 minutes for "
                   "an earlier record; the committed one took 64, sharing the CPU with other work); the sweep's 7 "
                   "refitted students per seed add about two hours (extrapolated from those records' pace; "
                   "`-p sweep_points=1` leaves the sweep out)"),
        params={
            "seed": Param(int, "first seed; seed k of the run is seed + 10 k", 0, 2**31 - 1 - 1000),
            "n_seeds": Param(int, "independent teacher-and-students runs", 1, 20),
            "n_train": Param(int, "images used from each training set (60000 = all)", 1000, 60000),
            "teacher_epochs": Param(int, "epochs of the MNIST teacher", 1, 100),
            "epochs": Param(int, "epochs of each student", 1, 100),
            "control_epochs": Param(int, "epochs of the random-digit control student", 1, 100),
            "batch_size": Param(int, "minibatch size", 8, 4096),
            "lr": Param(float, "peak Adam learning rate (decayed linearly to zero)", 1e-5, 0.1),
            "sweep_points": Param(int, "sizes of the page's sample sweep: the own-normalization student refitted "
                                  "on the first n_train, n_train/2, n_train/4, ... teacher-labelled Fashion images, "
                                  "each for as many steps as the student itself (1: no sweep)", 1, 10),
        },
        profiles={
            "quick": dict(seed=0, n_seeds=1, n_train=10000, teacher_epochs=2, epochs=2, control_epochs=1,
                          batch_size=128, lr=2e-3, sweep_points=6),
            "full": dict(seed=0, n_seeds=3, n_train=60000, teacher_epochs=3, epochs=6, control_epochs=2,
                         batch_size=128, lr=2e-3, sweep_points=8),
        },
        metrics={
            "teacher_acc": Metric("MNIST teacher, MNIST test accuracy", paper=0.991, kind="accuracy", fmt="{:.2%}",
                                  short="the MNIST teacher", setup=True),
            "teacher_acc_sd": Metric("teacher accuracy, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "student_acc": Metric("student trained on Fashion (own normalization), MNIST test accuracy",
                                  paper=0.9104, chance=0.1,
                                  kind="accuracy", fmt="{:.2%}", short="student on Fashion labels"),
            "student_acc_sd": Metric("that student, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "student_mnistnorm_acc": Metric("student trained on Fashion in MNIST's normalization, MNIST test "
                                            "accuracy", paper=0.945, chance=0.1, kind="accuracy", fmt="{:.2%}",
                                            short="the same, MNIST's normalization"),
            "student_mnistnorm_acc_sd": Metric("that student, standard deviation over seeds",
                                               kind="spread", fmt="{:.2%}"),
            "normalization_gain": Metric("MNIST-normalization student minus own-normalization student, seed by "
                                         "seed (MNIST test accuracy)", paper=0.945 - 0.9104, chance=0.0,
                                         kind="difference", fmt="{:+.2%}", of=("student_mnistnorm_acc", "student_acc"),
                                         paper_parts=(0.945, 0.9104), short="gain from MNIST's normalization"),
            "normalization_gain_sd": Metric("that gain, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "agreement": Metric("student (own normalization) agrees with the teacher on MNIST test",
                                kind="accuracy", fmt="{:.2%}"),
            "agreement_mnistnorm": Metric("student (MNIST normalization) agrees with the teacher on MNIST test",
                                          kind="accuracy", fmt="{:.2%}"),
            "control_acc": Metric("control: student on Fashion with random digits, MNIST test accuracy",
                                  chance=0.1, kind="accuracy", fmt="{:.2%}"),
            "labels_same_both_norms": Metric("Fashion images the teacher gives the same digit under both "
                                             "normalizations", kind="share", fmt="{:.1%}"),
        },
        headline="student_acc",
        also=("normalization_gain", "teacher_acc"),
        datasets=(("mnist", "train"), ("mnist", "test"), ("fashion_mnist", "train")),
        spread="student_acc_sd",
        # fewer sweep points, or none, leave the student paper scale (the page draws the sweeps of one length)
        parts=("sweep_points",),
    ),
    "gradient_leak": Experiment(
        name="gradient_leak",
        title="The gradient-sign label leak: an untrained net's input gradient carries the label",
        claim="the sign of the input gradient of an untrained MLP, computed with the true label, lets a linear "
        "model read the label",
        source="Label Leaking in Adversarial Training (2017), MNIST experiment",
        full_cost=("1 to 3 minutes on a 2-core CPU (5 seeds; 39 s and 177 s measured on two such machines); each "
                   "logit scale of the page's hypothesis test costs as much again"),
        params={
            "seed": Param(int, "first seed; seed k of the run is seed + k", 0, 2**31 - 1 - 1000),
            "n_seeds": Param(int, "untrained MLPs (each with its own linear classifiers)", 1, 50),
            "n_train": Param(int, "MNIST training images used (60000 = all)", 1000, 60000),
            "hidden": Param(int, "width of the MLP's two hidden layers", 8, 4096),
            "epochs": Param(int, "SGD epochs of each linear classifier", 1, 100),
            "lr": Param(float, "SGD learning rate (constant, no momentum)", 1e-5, 10.0),
            "batch_size": Param(int, "SGD minibatch size", 1, 4096),
            "logit_scale": Param(float, "multiplies the untrained MLP's last layer, so its logits: larger makes its "
                                 "softmax peakier (1: PyTorch's default initialization)", 0.01, 1000.0),
        },
        profiles={
            "quick": dict(seed=0, n_seeds=2, n_train=20000, hidden=256, epochs=2, lr=0.01, batch_size=64,
                          logit_scale=1.0),
            "full": dict(seed=0, n_seeds=5, n_train=60000, hidden=256, epochs=5, lr=0.01, batch_size=64,
                         logit_scale=1.0),
        },
        metrics={
            "leak_true_acc": Metric("linear model on gradient signs (true label), MNIST test accuracy",
                                    paper=0.96, chance=0.1,
                                    kind="accuracy", fmt="{:.2%}", short="label read off gradient signs"),
            "leak_true_acc_sd": Metric("that accuracy, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "leak_predicted_acc": Metric("the same with the net's predicted label", chance=0.1,
                                         kind="accuracy", fmt="{:.2%}"),
            "leak_least_likely_acc": Metric("the same with the net's least-likely label", chance=0.1,
                                            kind="accuracy", fmt="{:.2%}"),
            "leak_random_acc": Metric("the same with a uniformly random label", chance=0.1,
                                      kind="accuracy", fmt="{:.2%}"),
            "raw_pixels_acc": Metric("linear model on raw pixels", chance=0.1, kind="accuracy", fmt="{:.2%}"),
            "p_true": Metric("untrained net's mean softmax probability of the true class", kind="value", fmt="{:.3f}"),
            "p_max": Metric("untrained net's mean largest softmax probability (how peaked, whatever the class)",
                            kind="value", fmt="{:.3f}"),
            "follows_true_logit": Metric("pixels whose gradient sign is that of -dz_true/dx",
                                         kind="share", fmt="{:.1%}"),
            "class_template": Metric("feature bits equal to their class's majority bit", kind="share", fmt="{:.1%}"),
        },
        headline="leak_true_acc",
        datasets=(("mnist", "train"), ("mnist", "test")),
        spread="leak_true_acc_sd",
        setting=("logit_scale",),  # a record at another logit scale tests the page's hypothesis, beside the paper's
    ),
    "cifar_mislabeled": Experiment(
        name="cifar_mislabeled",
        title="Training only on a model's mistakes: CIFAR-10 relabelled by a 2-epoch ResNet-18",
        claim="a fresh ResNet-18 trained only on the training images a 2-epoch ResNet-18 gets wrong, with its "
        "wrong labels, classifies the real test set far above chance",
        source="Wallace (2019), CIFAR-10 section",
        full_cost=("on one H200, 4.3 to 5.6 minutes per seed with both controls (measured: the three committed "
                   "records). On this project's "
                   "2-core AVX2 CPU (no bf16 units), about 12 hours of training per seed for the teacher and the "
                   "paper's student (`-p students=teacher_labels`) and 33 hours with both controls (extrapolated "
                   "from `benchmarks/bench_cifar.py`: 24 images/s); on 2-core CPUs with bf16 units, 1.5 to 2.8 "
                   "hours and 4 to 8 (101 to 190 images/s, measured on two such machines). A CPU run goes over "
                   "several sittings, one seed per command, resuming from its checkpoints (the README's \"On a "
                   "CPU, over several sittings\"). The committed records were made before the page's sample sweep "
                   "existed: its 4 refitted students per seed (`-p sweep_points=1` leaves them out) take about "
                   "twice the two controls' time again"),
        params={
            "seed": Param(int, "first seed; seed k of the run is seed + 10 k", 0, 2**31 - 1 - 1000),
            "n_seeds": Param(int, "independent teacher-and-students runs", 1, 10),
            "n_train": Param(int, "CIFAR-10 training images used (50000 = all)", 1000, 50000),
            "width": Param(int, "ResNet-18 width: channels of the first stage (64 = the standard net)", 4, 128),
            "teacher_epochs": Param(int, "epochs of the teacher (the paper: 2)", 1, 200),
            "epochs": Param(int, "epochs of each student (the paper: 50)", 1, 500),
            "batch_size": Param(int, "SGD minibatch size", 16, 4096),
            "lr": Param(float, "peak SGD learning rate of the students (momentum 0.9, weight decay 5e-4, linear "
                        "decay to zero)", 1e-4, 2.0),
            "teacher_lr": Param(float, "constant SGD learning rate of the teacher (the paper gives none; see "
                                "results/cifar_mislabeled_teacher_trials.md)", 1e-4, 2.0),
            "students": Param(str, "which students to train on the wrong set: the paper's (teacher_labels) and "
                              "the controls", subset_of=("teacher_labels", "random_wrong", "true_labels")),
            "sweep_points": Param(int, "sizes of the page's sample sweep: the paper's student refitted on the first "
                                  "half, quarter, ... of the wrong set, each for as many steps as the student itself "
                                  "(1: no sweep)", 1, 10),
            "device": DEVICE,
        },
        profiles={
            "quick": dict(seed=0, n_seeds=1, n_train=10000, width=8, teacher_epochs=2, epochs=3,
                          batch_size=128, lr=0.1, teacher_lr=0.1, students="all", sweep_points=5, device="auto"),
            "full": dict(seed=0, n_seeds=3, n_train=50000, width=64, teacher_epochs=2, epochs=50,
                         batch_size=128, lr=0.1, teacher_lr=0.05, students="all", sweep_points=5, device="auto"),
        },
        metrics={
            "student_acc": Metric("new ResNet-18 trained only on the wrong set, CIFAR-10 test accuracy",
                                  paper=0.497, chance=0.1,
                                  kind="accuracy", fmt="{:.2%}", short="student on the wrong set"),
            "student_acc_sd": Metric("that accuracy, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "teacher_test_acc": Metric("2-epoch ResNet-18, CIFAR-10 test accuracy", paper=0.631, chance=0.1,
                                       kind="accuracy", fmt="{:.2%}", short="teacher, test images", setup=True),
            "teacher_test_acc_sd": Metric("teacher test accuracy, standard deviation over seeds",
                                          kind="spread", fmt="{:.2%}"),
            "teacher_train_acc": Metric("2-epoch ResNet-18, accuracy on the training images", paper=0.625,
                                        chance=0.1,
                                        kind="accuracy", fmt="{:.2%}", short="teacher, training images", setup=True),
            "teacher_train_acc_sd": Metric("teacher training accuracy, standard deviation over seeds",
                                           kind="spread", fmt="{:.2%}"),
            "n_wrong": Metric("training images the teacher gets wrong (the wrong set)", paper=18768,
                              kind="count", fmt="{:,.0f}", short="size of the wrong set", setup=True, out_of="n_train"),
            "n_wrong_sd": Metric("size of the wrong set, standard deviation over seeds", kind="spread", fmt="{:,.0f}"),
            "student_agreement": Metric("new net agrees with the teacher on the test set",
                                        kind="accuracy", fmt="{:.2%}"),
            "random_wrong_acc": Metric("control: the wrong set with uniformly random wrong labels, test accuracy",
                                       chance=0.1, kind="accuracy", fmt="{:.2%}"),
            "true_labels_acc": Metric("control: the wrong set with its true labels, test accuracy", chance=0.1,
                                      kind="accuracy", fmt="{:.2%}"),
        },
        headline="student_acc",
        spread="student_acc_sd",
        also=("teacher_test_acc", "teacher_train_acc", "n_wrong"),
        needs_gpu=True,
        datasets=(("cifar10", "train"), ("cifar10", "test")),
        parts=("sweep_points",),  # as mnist_from_fashion's
    ),
    "fgsm_leak": Experiment(
        name="fgsm_leak",
        title="Label leaking in FGSM adversarial training: adversarial images easier than clean ones",
        claim="a ResNet-110 adversarially trained with true-label FGSM is more accurate on FGSM images "
        "(eps = 6) than on clean ones, and its loss along the FGSM direction rises, peaks and falls",
        source="Label Leaking in Adversarial Training (2017), CIFAR-10 experiment and loss figure",
        full_cost=("on one H200, about 30 minutes per attack label and seed (measured: 1,300 to 1,850 "
                   "images/s, the ResNet-110's step bound by kernel launches rather than arithmetic; "
                   "`benchmarks/README.md`), 2 hours for the four labels of one seed and 6 hours for the full "
                   "profile's three seeds. On this project's 2-core AVX2 CPU (no bf16 units), about 24 hours of "
                   "training per attack label and seed (`-p labels=true`), 4 days for the four labels of one seed "
                   "and 12 days for three (extrapolated from `benchmarks/bench_cifar.py`: 34 images/s); on 2-core "
                   "CPUs with bf16 units, 4 to 9 hours per label and seed (96 to 234 images/s, measured on two "
                   "such machines). A "
                   "CPU run goes over many sittings, resuming from its checkpoints (the README's \"On a CPU, over "
                   "several sittings\")"),
        params={
            "seed": Param(int, "first seed; seed k of the run is seed + 10 k", 0, 2**31 - 1 - 1000),
            "n_seeds": Param(int, "independent trainings of each attack label", 1, 10),
            "n_train": Param(int, "CIFAR-10 training images used (50000 = all)", 1000, 50000),
            "depth_n": Param(int, "blocks per stage: depth 6n + 2 (18 = ResNet-110, 3 = ResNet-20)", 1, 18),
            "width": Param(int, "channels of the first stage (16 = He et al.'s)", 4, 64),
            "epochs": Param(int, "training epochs", 1, 500),
            "batch_size": Param(int, "SGD minibatch size", 16, 4096),
            "lr": Param(float, "peak SGD learning rate (momentum 0.9, weight decay 5e-4)", 1e-4, 2.0),
            "adv_share": Param(float, "share of every training batch replaced by FGSM images (the blog: 0.5)",
                               0.05, 1.0),
            "sigma": Param(float, "training eps ~ |N(0, sigma)| on the 0-255 scale", 0.0, 64.0),
            "train_eps": Param(float, "one eps for every attacked training image, 0-255 scale; 0 draws each "
                               "from |N(0, sigma)| instead, as the blog does", 0.0, 64.0),
            "eval_eps": Param(float, "eps of the FGSM evaluation, 0-255 scale (the blog: 6)", 0.0, 64.0),
            "eps_max": Param(float, "largest eps of the loss curve and the slider, 0-255 scale", 1.0, 64.0),
            "eps_points": Param(int, "points of the loss curve, evenly spaced from 0", 3, 201),
            "n_eval": Param(int, "test images for the curves and the FGSM evaluation (10000 = all)", 100, 10000),
            "labels": Param(str, "which attack labels to train a model with",
                            subset_of=("true", "predicted", "least_likely", "random")),
            "device": DEVICE,
        },
        profiles={
            "quick": dict(seed=0, n_seeds=1, n_train=10000, depth_n=1, width=16, epochs=3,
                          batch_size=128, lr=0.1, adv_share=0.5, sigma=12.0, train_eps=0.0, eval_eps=6.0,
                          eps_max=6.0, eps_points=13, n_eval=1000, labels="all", device="auto"),
            "full": dict(seed=0, n_seeds=3, n_train=50000, depth_n=18, width=16, epochs=60,
                         batch_size=128, lr=0.1, adv_share=0.5, sigma=12.0, train_eps=0.0, eval_eps=6.0,
                         eps_max=6.0, eps_points=49, n_eval=10000, labels="all", device="auto"),
        },
        metrics={
            "leak_gap": Metric("FGSM accuracy minus clean accuracy (true-label training and attack, the step "
                               "computed in eval mode, as attack libraries compute it)",
                               paper=0.9481 - 0.9212, chance=0.0, paper_parts=(0.9481, 0.9212),
                               kind="difference", fmt="{:+.2%}", short="FGSM minus clean accuracy (eval-mode step)"),
            "leak_gap_sd": Metric("that gap, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "clean_acc": Metric("clean test accuracy of the true-label model", paper=0.9212, chance=0.1,
                                kind="accuracy", fmt="{:.2%}", short="clean accuracy", setup=True),
            "clean_acc_sd": Metric("clean accuracy, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "fgsm_acc": Metric("its accuracy on true-label FGSM test images at the evaluation eps (the blog: 6/255), "
                               "the step computed in eval mode", paper=0.9481, chance=0.1,
                               kind="accuracy", fmt="{:.2%}", short="FGSM accuracy (eval-mode step)", setup=True),
            "fgsm_acc_sd": Metric("FGSM accuracy, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            # the blog does not say how its evaluation computed the step: the same two numbers with the step computed
            # in training mode, as the training attack computes it (fgsm_leak.measured_as_trained)
            "leak_gap_as_trained": Metric("FGSM accuracy minus clean accuracy, the true-label step computed in "
                                          "training mode as the training attack computes it (BatchNorm on each "
                                          "batch's own statistics)", paper=0.9481 - 0.9212, chance=0.0,
                                          paper_parts=(0.9481, 0.9212), kind="difference", fmt="{:+.2%}",
                                          short="FGSM minus clean accuracy (step as trained)"),
            "leak_gap_as_trained_sd": Metric("that gap, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "fgsm_acc_as_trained": Metric("the true-label model's accuracy on true-label FGSM test images at the "
                                          "evaluation eps, the step computed as trained", paper=0.9481, chance=0.1,
                                          kind="accuracy", fmt="{:.2%}", short="FGSM accuracy (step as trained)",
                                          setup=True),
            "fgsm_acc_as_trained_sd": Metric("that accuracy, standard deviation over seeds", kind="spread",
                                             fmt="{:.2%}"),
            "label_advantage": Metric("that model's FGSM accuracy with the true label minus with its predicted "
                                      "label (at the evaluation eps, the step computed in eval mode)", chance=0.0,
                                      kind="difference", fmt="{:+.2%}"),
            "loss_eps0": Metric("mean test cross-entropy at eps = 0 (read off the blog's figure)", paper=0.28,
                                kind="loss", fmt="{:.3f}", setup=True, read_off=0.02),
            "loss_rise": Metric("loss curve along the eval-mode step: its peak minus its eps = 0 value (read off the "
                                "blog's figure)",
                                paper=0.05, chance=0.0, kind="loss", fmt="{:+.3f}", read_off=0.02,
                                short="loss curve (eval-mode step): rise to its peak"),
            "loss_peak_eps": Metric("loss curve: eps of its peak, 0-255 scale (read off the blog's figure)",
                                    paper=0.5, kind="value", fmt="{:.2f}", setup=True, read_off=0.5),
            "loss_drop": Metric("loss curve along the eval-mode step: value at the largest eps minus value at eps = 0 "
                                "(blog's figure)",
                                paper=0.19 - 0.28, chance=0.0, kind="loss", fmt="{:+.3f}", read_off=0.03,
                                short="loss curve (eval-mode step): end minus start"),
            "leak_gap_predicted": Metric("predicted-label training: own-attack accuracy minus clean",
                                         chance=0.0, kind="difference", fmt="{:+.2%}"),
            "leak_gap_least_likely": Metric("least-likely training: own-attack accuracy minus clean",
                                            chance=0.0, kind="difference", fmt="{:+.2%}"),
            "leak_gap_random": Metric("random-class training: own-attack accuracy minus clean", chance=0.0,
                                      kind="difference", fmt="{:+.2%}"),
        },
        headline="leak_gap",
        spread="leak_gap_sd",
        also=("clean_acc", "fgsm_acc", "leak_gap_as_trained", "fgsm_acc_as_trained", "loss_rise", "loss_drop"),
        page_needs={"labels": "true"},
        needs_gpu=True,
        datasets=(("cifar10", "train"), ("cifar10", "test")),
    ),
    "leak_conditions": Experiment(
        name="leak_conditions",
        title="When FGSM adversarial training leaks the label: a leak on a CPU, and a map of where it appears",
        claim="a small CNN adversarially trained on Fashion-MNIST with true-label FGSM at eps 0.3 scores higher on "
        "FGSM images than on clean ones, in most seeds and beyond noise, and more than the same training with the "
        "predicted label",
        source="MTandHJ/PyTorch-Robust, FGSM-AT on Fashion-MNIST (a published small-scale leak); the blog's "
        "conjecture that the leak needs a hard problem",
        full_cost=("hours on a 2-core CPU, over sittings (every network is checkpointed; the parts can also run as "
                   "separate records, which the page pools: -p n_seeds=0 and a part's count above 0, README's 'Only "
                   "what is asked'): the page's 5 seeds and the "
                   "map (34 trainings), the difficulty cells (90: 3 datasets x 3 eps x 5 seeds x 2 labels, CIFAR-10's "
                   "the slowest) and the four-label table (10 more); a Fashion-MNIST training of 7 epochs took about "
                   "2 minutes on this project's 2-core AVX2 CPU (the quick book: 1,052-1,268 s for 10), a CIFAR-10 "
                   "one at width 16 about 5.5 minutes (321 s)"),
        params={
            "seed": Param(int, "first seed; seed k of the run is seed + 10 k", 0, 2**31 - 1 - 1000),
            "n_seeds": Param(int, "independent trainings of each attack label on the page's setting (0: none, for a "
                             "record of the map, cells or four-label table alone, which the page pools with others)",
                             0, 20),
            "dataset": Param(str, "the training and test data", choices=("fashion_mnist", "mnist", "cifar10")),
            "width": Param(int, "channels of the CNN's first layer (its later layers have twice as many)", 1, 64),
            "train_eps": Param(float, "eps of every attacked training image, 0-255 scale (76.5 = 0.3)", 1.0, 255.0),
            "adv_share": Param(float, "share of every training batch replaced by FGSM images", 0.05, 1.0),
            "epochs": Param(int, "training epochs", 1, 50),
            "lr": Param(float, "peak SGD learning rate (momentum 0.9, weight decay 5e-4, linear decay)", 1e-4, 1.0),
            "batch_size": Param(int, "SGD minibatch size", 8, 4096),
            "n_train": Param(int, "training images used (59000 = all but the 1,000 validation images; 49000 on "
                             "CIFAR-10)", 1000, 59000),
            "n_eval": Param(int, "test images scored (10000 = all)", 100, 10000),
            "eval_eps": Param(float, "eps of the FGSM evaluation, 0-255 scale; 0 = the training eps", 0.0, 255.0),
            "eps_max": Param(float, "largest eps of the loss curve and the slider, 0-255 scale", 1.0, 255.0),
            "eps_points": Param(int, "points of the loss curve, evenly spaced from 0", 3, 101),
            "map_eps_points": Param(int, "training eps of the map, evenly spaced up to map_eps_max (0: no map)", 0, 8),
            "map_eps_max": Param(float, "largest training eps of the map, 0-255 scale", 1.0, 255.0),
            "map_width_min": Param(int, "narrowest CNN of the map", 1, 64),
            "map_widths": Param(int, "widths of the map, doubling from map_width_min", 1, 6),
            "map_seeds": Param(int, "seeds per cell of the map", 1, 10),
            "cells_datasets": Param(str, "datasets of the difficulty cells (the same net and recipe on each)",
                                    subset_of=("mnist", "fashion_mnist", "cifar10")),
            "cells_eps_points": Param(int, "training eps of the cells, evenly spaced up to cells_eps_max", 1, 8),
            "cells_eps_max": Param(float, "largest training eps of the cells, 0-255 scale", 1.0, 255.0),
            "cells_seeds": Param(int, "seeds per difficulty cell, each with its predicted-label control (0: no "
                                 "cells)", 0, 20),
            "cifar_width": Param(int, "width of the CNN in the CIFAR-10 cells", 1, 64),
            "label_seeds": Param(int, "seeds per attack label of the four-label table on the page's setting (0: no "
                                 "table)", 0, 20),
            "device": DEVICE,
        },
        profiles={
            "quick": dict(seed=0, n_seeds=5, dataset="fashion_mnist", width=8, train_eps=76.5, adv_share=0.5,
                          epochs=7, lr=0.05, batch_size=128, n_train=59000, n_eval=10000, eval_eps=0.0,
                          eps_max=102.0, eps_points=13, map_eps_points=0, map_eps_max=102.0, map_width_min=2,
                          map_widths=4, map_seeds=2, cells_datasets="all", cells_eps_points=3,
                          cells_eps_max=76.5, cells_seeds=0, cifar_width=16, label_seeds=0, device="auto"),
            "full": dict(seed=0, n_seeds=5, dataset="fashion_mnist", width=8, train_eps=76.5, adv_share=0.5,
                         epochs=7, lr=0.05, batch_size=128, n_train=59000, n_eval=10000, eval_eps=0.0,
                         eps_max=102.0, eps_points=13, map_eps_points=3, map_eps_max=102.0, map_width_min=2,
                         map_widths=4, map_seeds=2, cells_datasets="all", cells_eps_points=3,
                         cells_eps_max=76.5, cells_seeds=5, cifar_width=16, label_seeds=5, device="auto"),
        },
        metrics={
            "leak_gap": Metric("true-label model: FGSM minus clean test accuracy at the training eps (reference: "
                               "PyTorch-Robust's FGSM-AT, 96.34% against 91.94%)", paper=0.9634 - 0.9194, chance=0.0,
                               paper_parts=(0.9634, 0.9194), kind="difference", fmt="{:+.2%}",
                               short="FGSM minus clean (small CNN)", source="reference"),
            "leak_gap_sd": Metric("that gap, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "leaking_seeds": Metric("share of seeds whose gap exceeds twice its standard error",
                                    kind="share", fmt="{:.0%}"),
            "control_gap": Metric("the same gap for the model trained with predicted-label FGSM", chance=0.0,
                                  kind="difference", fmt="{:+.2%}"),
            "control_gap_sd": Metric("that gap, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
            "clean_acc": Metric("clean test accuracy of the true-label model",
                                kind="accuracy", fmt="{:.2%}", setup=True),
            "clean_acc_sd": Metric("clean accuracy, standard deviation over seeds", kind="spread", fmt="{:.2%}"),
        },
        headline="leak_gap",
        spread="leak_gap_sd",
        dataset_param="dataset",
        # all the training images but the validation split leak_conditions holds out (its PROBE, 1,000)
        data_sizes={"n_train": {"fashion_mnist": 59000, "mnist": 59000, "cifar10": 49000}},
        also_datasets=("cells_datasets", "cells_seeds"),
        setting=("dataset", "width", "train_eps", "adv_share", "epochs", "lr", "batch_size", "eval_eps"),
        # the page draws its seeds' models; the full profile's other parts can each be a record of their own (one
        # per sitting on a CPU), which the page pools
        page_needs={"n_seeds": 1},
        any_of=("n_seeds", "map_eps_points", "cells_seeds", "label_seeds"),
        parts=("map_eps_points", "map_eps_max", "map_width_min", "map_widths", "map_seeds", "cells_datasets",
               "cells_eps_points", "cells_eps_max", "cells_seeds", "label_seeds"),
        grid=leak_conditions_grid,
    ),
}


def get(name):
    if name not in EXPERIMENTS:
        raise ParameterError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    return EXPERIMENTS[name]


def resolve(name, profile="quick", overrides=None):
    """Every parameter of `name`: the profile's values, then the overrides, all checked.

    Overrides set to None keep the profile's value (that is how the notebooks'
    parameters cells say "the profile decides").
    """
    exp = get(name)
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    unknown = sorted(set(overrides) - set(exp.params))
    if unknown:
        raise ParameterError(f"unknown parameter {unknown[0]!r} for {name}; its parameters are: "
                             + ", ".join(exp.params))
    values = {**exp.profiles[profile], **overrides}
    checked = {k: exp.params[k].check(k, values[k]) for k in exp.params}
    for key, largest in exp.data_sizes.items():
        most = largest[checked[exp.dataset_param]]
        if checked[key] > most and key not in overrides:  # the profile's "all of it", on a smaller dataset
            checked[key] = most
        if checked[key] > most:
            raise ParameterError(f"{key}={checked[key]}: {checked[exp.dataset_param]} has {most} images there; "
                                 f"choose at most {most}")
    if exp.any_of and not any(checked[k] > 0 for k in exp.any_of):
        raise ParameterError(", ".join(f"{k}=0" for k in exp.any_of) + f": that leaves {name} nothing to compute; "
                             "set one of them above 0")
    return {"profile": profile, **checked}


def data_needed(name, params):
    """The (dataset, split) pairs a run of `name` with these parameters loads."""
    exp = get(name)
    if not exp.dataset_param:
        return exp.datasets
    names = [params[exp.dataset_param]]
    if exp.also_datasets and params[exp.also_datasets[1]] > 0:
        names += [n for n in picked(params[exp.also_datasets[0]]) if n not in names]
    return tuple((n, split) for n in names for split in ("train", "test"))


def check_page(name, params):
    """The notebook's page draws some networks (fgsm_leak's true-label model): a run through the notebook must
    train them. `leaklab compute` trains any subset."""
    for key, member in get(name).page_needs.items():
        if isinstance(member, int) and not isinstance(member, bool):
            if params[key] < member:
                raise ParameterError(f"{key}={params[key]}: the {name} page draws the models of at least {member} "
                                     f"seed, so a notebook run needs {key} >= {member} (leaklab compute runs the "
                                     "other parts alone)")
            continue
        if member not in picked(params[key]):
            raise ParameterError(f"{key}={params[key]!r}: the {name} page draws the {member!r} model, so a "
                                 f"notebook run must include it (leaklab compute runs any subset)")


# which seeds and which device a run uses (and, through the subset parameters, which networks or datasets it
# trains) do not change the scale of any one of them
PICKING = ("seed", "n_seeds", "device")


def departures(name, params, beside=()):
    """{parameter: (the run's value, the full profile's)} for each parameter, but those that only pick (PICKING,
    the subset parameters) and those `beside`, in which a run of `name` differs from the full profile on the
    run's own dataset (its data_sizes). A parameter missing from `params` (a record that predates it) counts as
    the full profile's. Where the experiment's parts are beside, {axis: (values, full's)} for the cells they
    train off the full profile's grid (`off_grid`)."""
    exp = get(name)
    given = dict(vars(params)) if not isinstance(params, dict) else params
    free = {*PICKING, *beside, *(k for k, spec in exp.params.items() if spec.subset_of)}
    full = dict(exp.profiles["full"])
    if exp.dataset_param in given:  # the largest sizes on the run's own dataset (data_sizes), the dataset the profile's
        try:
            full.update({k: v for k, v in resolve(name, "full", {exp.dataset_param: given[exp.dataset_param]}).items()
                         if k != exp.dataset_param})
        except ParameterError:  # a dataset no run can now have: it departs, and so may its sizes
            pass
    found = {k: (given[k], full[k]) for k in exp.params if k not in free and k in given and given[k] != full[k]}
    if exp.grid and set(exp.parts) & set(beside):  # parts pick cells of the full profile's grid, never new ones
        found.update(off_grid(exp.grid({**full, **given}), exp.grid(full)))
    return found


def off_grid(mine, full):
    """{axis: (a run's values on it, the full profile's)} for each axis of a run's grid (`Experiment.grid`) that
    holds a value the full profile's lacks."""
    def listed(values):
        return ", ".join(f"{v:g}" for v in values) or "none"
    return {axis: (listed(values), listed(full.get(axis, ()))) for axis, values in mine.items()
            if not set(values) <= set(full.get(axis, ()))}


def departures_text(found):
    """`departures` in words: 'name value (full: value), ...', or ''."""
    return ", ".join(f"{k} {mine} (full: {full})" for k, (mine, full) in found.items())


def scale_note(name, params):
    """The parameters of a run that differ from the full profile, as 'name value (full: value)', or ''."""
    return departures_text(departures(name, params))


def scorecard_rows(name):
    """(metric key, key of its spread over seeds or None) for each scorecard row of `name`."""
    exp = get(name)
    rows = [(exp.headline, exp.spread)]
    return rows + [(k, f"{k}_sd" if f"{k}_sd" in exp.metrics else None) for k in exp.also]


def seed_value(name, key, row):
    """One seed's value of a metric (None where the seed did not measure it)."""
    metric = get(name).metrics[key]
    if metric.of:
        a, b = (row.get(k) for k in metric.of)
        return None if a is None or b is None else a - b
    return row.get(metric.seed_key or key)


def stores_paired_error(key, rows):
    """Whether every row keeps a difference `key` with its paired error (KEY_se), from its two nets' right-or-wrong
    on the same test images."""
    return bool(rows) and all(r.get(key) is not None and r.get(f"{key}_se") is not None for r in rows)


def estimate(name, key, rows, n_test=None):
    """A metric's mean over the per-seed `rows` with its standard error (leaklab.stats): binomial on the
    n_test images for an accuracy, the error the experiment stored beside a value as KEY_se otherwise (for a
    difference of two accuracies, the paired error where every row stores one, else both binomial errors),
    and the spread over seeds for both. None when no row holds the metric."""
    metric = get(name).metrics[key]
    seed_key = metric.seed_key or key
    needed = metric.of or (seed_key,)
    rows = [r for r in rows if all(r.get(k) is not None for k in needed)]
    if not rows:
        return None
    null = metric.chance if metric.chance is not None else 0.0
    if metric.of:  # two accuracies on the same test images, differenced seed by seed
        if stores_paired_error(key, rows):
            return stats.stored(rows, key)  # each seed's paired error, from its nets' right-or-wrong per image
        return stats.accuracy_gap(rows, *metric.of, n_test)  # records without it: the unpaired, larger error
    if metric.kind == "accuracy" and n_test:
        return stats.accuracy(rows, seed_key, n_test, chance=null)
    return stats.stored(rows, seed_key, null=null)


# which way a claim is not reproduced, by how `verdict`'s reason begins: the scorecard's cell gives the way, its
# footnote the reason
NOT_REPRODUCED_WAYS = {"an effect, but stronger": "stronger", "an effect, but weaker": "weaker",
                       "the opposite": "the opposite effect", "cannot be told": "no effect"}


def verdict(name, key, est, n_test=None):
    """The scorecard's word on one measured metric, the paper's claim judged as a claim: its effect tested
    against its null by the noise rule (Student's t for its seeds), then its size against the paper's number
    (within the line of a prediction for one new run, since the paper reports one). Three outcomes:
    - reproduced: the effect is there, and the paper's number is consistent with our runs;
    - not reproduced: the effect is absent (our runs exclude the paper's number and cannot be told from the
      null), points the other way, or is there but of a size our runs exclude;
    - inconclusive: too few seeds or test images to tell, with how many seeds would tell at 80% power.
    Setup numbers only match or differ; one seed never gives a verdict on the procedure."""
    if est is None:
        return "not run"
    metric = get(name).metrics[key]
    close = stats.matches(est, metric.paper, math.hypot(metric.read_off, metric.paper_se(n_test)))
    if metric.setup:
        return "matches the paper" if close else "differs from the paper"
    if est.one_model:
        return "one seed: spread unknown"
    null_name = "zero" if est.null == 0 else "chance"
    if est.is_effect and (est.value - est.null) * (metric.paper - est.null) < 0:
        return "not reproduced: the opposite of the paper's effect"
    if est.is_effect:
        if close:
            return "reproduced"
        weaker = abs(est.value - est.null) < abs(metric.paper - est.null)
        return f"not reproduced: an effect, but {'weaker' if weaker else 'stronger'} than the paper's"
    if not close:
        return f"not reproduced: cannot be told from {null_name}, and our runs exclude the paper's number"
    seeds = stats.seeds_to_tell(est, metric.paper - est.null)
    more = (f"about {seeds} seeds would tell the paper's effect at 80% power" if seeds else
            "more test images than these would be needed")
    return f"inconclusive: cannot be told from {null_name} at {est.n_seeds} seeds; {more}"
