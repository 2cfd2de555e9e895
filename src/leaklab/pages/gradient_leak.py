"""The gradient_leak page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.gradient_leak`."""

from .. import data, experiments, records, stats
from ..gradient_leak import FEATURES, TEMPLATE_ROWS, metric_key
from . import figures


def accuracy_table(recs):
    if not recs:
        return None
    lines = ["| features of the linear classifier | MNIST test accuracy (mean ± sd over seeds) |", "|---|---|"]
    lines += [f"| {name} | {records.mean_sd_text(records.seed_values(recs, metric_key(k)))} |"
              for k, name in FEATURES.items()]
    return figures.Table("\n".join(lines))


def accuracy_figure(recs):
    if not recs:
        return None
    values = [records.seed_values(recs, metric_key(k)) for k in FEATURES]
    return figures.accuracy_bars(list(FEATURES.values()), values,
                                 "Linear classifiers on gradient-sign features of an untrained MLP",
                                 paper=recs[0]["paper"]["leak_true_acc"], paper_label="paper, true label")


def templates_figure(recs):
    """The mean feature image of each test class for the first record's first MLP, one row per label."""
    if not recs:
        return None
    record = recs[0]
    means = records.arrays(record)["class_means"][0].astype("float32")
    return figures.image_grid([[means[r, c] for c in range(10)] for r in range(len(TEMPLATE_ROWS))],
                              [f"{t.replace('_', '-')} label" for t in TEMPLATE_ROWS],
                              f"Mean gradient-sign feature of each MNIST test class (MLP seed "
                              f"{record['per_seed'][0]['seed']})",
                              col_labels=[f"digit {c}" for c in range(10)], cmap="RdBu_r", vmin=0, vmax=1)


LABELS = {"predicted": "predicted", "least_likely": "least-likely", "random": "random"}  # the controls


def side(est):
    """'above' or 'below' zero where a difference is beyond its critical line (Estimate.is_effect), else
    'unclear'."""
    return ("above" if est.value > 0 else "below") if est.is_effect else "unclear"


VERSUS_PIXELS = {"below": "give a linear model less than the pixels themselves",
                 "above": "give a linear model more than the pixels themselves",
                 "unclear": "cannot be told apart from the pixels themselves at this scale"}


def own_label_words(gaps, whole):
    """The predicted and the least-likely label's features against the raw pixels, and what that says."""
    p, q = side(gaps["predicted"]), side(gaps["least_likely"])
    said = (f"with both labels the features {VERSUS_PIXELS[p]}" if p == q else
            f"with the predicted label the features {VERSUS_PIXELS[p]}, and with the least-likely label they "
            f"{VERSUS_PIXELS[q]}")
    return (f"their linear models' accuracy minus the pixels' is {gaps['predicted'].words(all_images=whole)} "
            f"(predicted) and {gaps['least_likely'].words(all_images=whole)} (least-likely): {said}.")


def only_true_words(gaps):
    """Whether the true label alone, of the four, makes the features better than the image."""
    true, others = side(gaps["true"]), {k: side(gaps[k]) for k in LABELS}
    better = [LABELS[k] for k, s in others.items() if s == "above"]
    if true == "unclear":
        return ("Whether even the true label makes the features better than the image itself cannot be told apart "
                "at this scale.")
    if true == "below":
        return "Here not even the true label makes the features better than the image itself."
    if better:
        return (f"The true label is not alone in making the features better than the image itself beyond noise: so "
                f"does the {' and the '.join(better)} label, which cannot write the true label in, so part of the gain "
                "is the random net's features of the image, not the label.")
    rest = ("do worse than the pixels" if all(s == "below" for s in others.values()) else
            "are not better than the pixels beyond noise")
    return ("Of the four labels, only the true one makes the features better than the image itself beyond noise: "
            f"through the same random net, with a label the image alone decides or a random one, the features {rest}, "
            "so the extra comes from the true label.")


def over_pixels_reading(gaps):
    """What the true label's features against the raw pixels say, before the controls are shown."""
    return {"above": "Features built from a net that knows nothing about digits are *more* informative to a linear "
                     "model than the image itself; the other labels below show where the extra comes from.",
            "below": "Here they are *less* informative to a linear model than the image itself.",
            "unclear": "Whether they are more informative to a linear model than the image itself cannot be told "
                       "apart at this scale."}[side(gaps["true"])]


def least_likely_reading(gaps, whole):
    """The least-likely label's features against the raw pixels, for the blog's expectation that it leaks."""
    s = side(gaps["least_likely"])
    said = {"below": "give a linear model less than the image itself",
            "above": "give a linear model more than the raw pixels, though the label is a function of the image "
                     "alone: that gain is the random net's features of the image, not a label written in",
            "unclear": "cannot be told apart from the image itself at this scale"}[s]
    return (f"here, for an untrained net, its features {said} (their accuracy minus the pixels': "
            f"{gaps['least_likely'].text()}).")


def words(p, record):
    """{glue name: value or Markdown text} for the prose about this run."""
    rows, n_test = record["per_seed"], record["series"]["n_test"]
    whole = n_test >= data.TEST_SET_SIZE
    paper = experiments.get("gradient_leak").metrics["leak_true_acc"].paper
    leak = stats.accuracy(rows, "leak_true_acc", n_test)
    close = stats.matches(leak, paper, stats.binomial_se(paper, n_test))
    case = "consistent" if close else "higher" if leak.value > paper else "lower"
    gaps = {k: stats.accuracy_gap(rows, metric_key(k), "raw_pixels_acc", n_test) for k in ("true", *LABELS)}
    random = stats.accuracy(rows, "leak_random_acc", n_test)
    return {"paper_acc": paper,
            "versus_paper": {"consistent": "consistent with", "higher": "higher than", "lower": "lower than"}[case],
            "versus_paper_case": case,
            "leak_words": leak.words("{:.2f}", "%", 100, "chance (10%)"),
            "over_pixels_words": gaps["true"].words(all_images=whole),
            "over_pixels_reading": over_pixels_reading(gaps),
            "own_label_words": own_label_words(gaps, whole),
            "random_words": random.words("{:.2f}", "%", 100, "chance (10%)"),
            "only_true_words": only_true_words(gaps),
            "least_likely_reading": least_likely_reading(gaps, whole)}
