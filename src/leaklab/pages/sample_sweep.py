"""The sample sweep of the distillation chapters (mnist_from_fashion, cifar_mislabeled): a student refitted on
only the first n/2, n/4, ... of its teacher-labelled training images, each for the student's own number of steps
(`training.cycled_first`), so the sizes differ only in how many distinct images the student saw. Its slider, and
the words its notebook glues, drawn from records (`training.sweep_summary` keeps each seed's sweep)."""

from dataclasses import dataclass

from .. import records, stats
from . import figures, widgets


@dataclass(frozen=True)
class Wording:
    """How a chapter names the pieces of its sweep."""
    experiment: str
    items: str  # the training images, plural: "teacher-labelled clothes"
    test_items: str  # "test digits"
    test_name: str  # the test set: "MNIST test"
    teacher_key: str  # the per-seed row's teacher test accuracy
    class_names: list
    answer: str  # the confusion's columns: "digit the student gives"
    truth: str  # its rows: "true digit"
    student: str  # the net refitted: "the student (Fashion's own normalization)"
    xlabel: str
    slider_label: str


def all_sweeps(recs):
    """The sample sweeps of the records' seeds ([] for records made before the sweep existed, or without the
    student it refits)."""
    return [s["sweep"] for r in recs for s in r["series"]["seeds"] if s.get("sweep")]


def sweeps(recs):
    """The sample sweeps of the records' seeds with as many sizes as the first one's. A sweep's k-th size is its
    own whole set halved k times, so they pool size by size even where the whole sets differ by seed
    (cifar_mislabeled's: each teacher's own wrong set)."""
    found = all_sweeps(recs)
    return [s for s in found if len(s["n_images"]) == len(found[0]["n_images"])]


def size_text(sizes):
    """One size of the sweep over its seeds: '4,690', or '4,612-4,733' where their whole sets differ."""
    low, high = min(sizes), max(sizes)
    return f"{low:,}" if low == high else f"{low:,}-{high:,}"


def estimates(recs):
    """Per size of the records' sample sweep, the whole set first: (its sizes over the seeds, its accuracy, its
    accuracy minus the whole set's student's, paired on the same test images), each over the seeds."""
    seeds, n_test = sweeps(recs), recs[0]["series"]["n_test"]
    out = []
    for k in range(len(seeds[0]["n_images"])):
        rows = [{"acc": s["acc"][k], "minus_all": s["acc"][k] - s["acc"][0], "minus_all_se": s["minus_all_se"][k]}
                for s in seeds]
        out.append(([s["n_images"][k] for s in seeds], stats.accuracy(rows, "acc", n_test),
                    stats.stored(rows, "minus_all")))
    return out


def sizes_text(sizes):
    """'1,250, 625 and 312', each size over its seeds (`size_text`)."""
    return stats.listed(size_text(n) for n in sizes)


def verdict(recs, wording):
    """What the sample sweep shows, by the noise rule: the smallest set's student against chance and against the
    whole set's, and which sizes differ from the whole set's beyond noise."""
    sizes = estimates(recs)
    if len(sizes) < 2:
        return "This run has no sample sweep (`sweep_points` = 1)."
    (whole, _, _), (fewest, acc, minus) = sizes[0], sizes[-1]
    whole, fewest = size_text(whole), size_text(fewest)
    between = sizes[1:-1]  # the sizes between the whole set and the smallest, which the first sentence gives
    short = [n for n, _, d in between if d.is_effect and d.value < 0]
    better = [n for n, _, d in between if d.is_effect and d.value > 0]
    same = [n for n, _, d in between if not d.is_effect]
    against_chance = ("cannot be told apart from chance (10%)" if not acc.is_effect else
                      "is above chance (10%) beyond noise" if acc.value > acc.null else
                      "is below chance (10%) beyond noise")
    parts = [f"Refitted on the first {fewest} of the {whole} {wording.items}, for the same number of steps, "
             f"{wording.student} scores {acc.text('{:.2f}', '%')}, which {against_chance}; minus the same student "
             f"on all {whole}, it is {minus.words()}."]
    if short:
        parts.append(f"With {sizes_text(short)} distinct {wording.items} it falls short of the whole set's beyond "
                     "noise.")
    if better:
        parts.append(f"With {sizes_text(better)} it does better than the whole set's, beyond noise. Why these "
                     "smaller sets' students scored higher, this run cannot tell: with the steps fixed, a smaller set "
                     "is seen more times over, which may suit a short training; more seeds and longer training (the "
                     "full profile) would test it.")
    if same:
        parts.append(f"With {sizes_text(same)} the difference from the whole set's cannot be told apart from zero "
                     "at this scale.")
    n_seeds = len(sweeps(recs))
    n_other = len(all_sweeps(recs)) - n_seeds
    over = "" if n_seeds == 1 else f", over {stats.seeds_text(n_seeds)}"
    parts.append(f"(Differences paired on the same {recs[0]['series']['n_test']:,} {wording.test_items}{over}.)")
    if n_other:
        parts.append(f"{stats.seeds_text(n_other).capitalize()} whose sweep has another number of sizes "
                     f"(`sweep_points`) {'is' if n_other == 1 else 'are'} left out.")
    if n_seeds == 1:
        parts.append("One seed: each size is one trained student, and its noise line counts the test images only, "
                     "so this speaks for these nets, not for the training procedure; more seeds (`n_seeds`) would "
                     "tell whether the pattern holds.")
    return " ".join(parts)


def slider(recs, record, wording):
    """Show the static slider over the sweep's sizes (the committed paper-scale records `recs` when they hold a
    sweep, else this run's `record`) and glue the prose's words about it: `sweep_source`, `sweep_verdict`."""
    from IPython.display import display

    use = [r for r in recs if sweeps([r])] or [record]
    seeds = sweeps(use)
    if not seeds:  # e.g. a run without the student the sweep refits
        records.glue_words({"sweep_source": "This run has no sample sweep, so there is nothing to move.",
                            "sweep_verdict": ""})
        return
    per_size = estimates(use)  # the whole set first
    order = range(len(per_size) - 1, -1, -1)  # fewest images first, as the slider runs
    # each size's mean over the seeds places it on the axis; the captions give its range where the seeds' differ
    sizes = [round(sum(per_size[i][0]) / len(per_size[i][0])) for i in order]
    whole = size_text(per_size[0][0])
    teacher = records.mean_sd(records.seed_values(use, wording.teacher_key))[0]
    per_seed = [[s["acc"][i] for s in seeds] for i in order]
    first_seed = next(s["seed"] for r in use for s in r["series"]["seeds"] if s.get("sweep"))
    source = "the paper-scale records" if use[0] is not record else "this build's run"
    frames = []
    for k, i in enumerate(order):
        seed_sizes, acc, minus = per_size[i]
        size = size_text(seed_sizes)
        fig = figures.sample_sweep(
            sizes, per_seed, k, [[c / max(1, sum(row)) for c in row] for row in seeds[0]["confusion"][i]],
            {"teacher": teacher, "chance": 0.1}, title=f"The student refitted on fewer images, same steps ({source})",
            xlabel=wording.xlabel, ylabel=f"{wording.test_name} accuracy", class_names=wording.class_names,
            matrix_xlabel=wording.answer, matrix_ylabel=wording.truth,
            matrix_title=f"Its answers on the {wording.test_items} ({seed_sizes[0]:,} images, seed {first_seed})")
        against = ("the student itself" if i == 0 else
                   f"against all {whole}: {minus.text()} ({'beyond' if minus.is_effect else 'within'} its noise "
                   f"line, paired on the same {wording.test_items})")
        frames.append({"value": size, "png": figures.png_bytes(fig),
                       "caption": f"the first <b>{size}</b> of {whole} {wording.items}: <b>{acc.value:.2%}</b> "
                                  f"on the {wording.test_name} images ({stats.seeds_text(len(seeds))}; the teacher "
                                  f"{teacher:.2%}, chance 10%); {against}"})
    whose = ("The frames come from the committed paper-scale records." if use[0] is not record else
             "The committed paper-scale records were made before the sweep existed, so the frames come from this "
             f"build's run; `leaklab compute {wording.experiment} --profile full` adds the sweep at paper scale."
             if recs else "No paper-scale record is committed yet, so the frames come from this build's run.")
    records.glue_words({"sweep_source": whose, "sweep_verdict": verdict(use, wording)})
    display(widgets.frame_slider(frames, wording.slider_label, initial=len(frames) - 1))
