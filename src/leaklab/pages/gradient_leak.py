"""The gradient_leak page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.gradient_leak`."""

import math
import statistics

from .. import data, experiments, records, stats
from ..gradient_leak import FEATURES, TEMPLATE_ROWS, metric_key, over_pixels_key, right_key
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
    logit_scale = record["params"].get("logit_scale", 1.0)
    scale = f", logit scale {logit_scale:g}" if logit_scale != 1.0 else ""
    return figures.image_grid([[means[r, c] for c in range(10)] for r in range(len(TEMPLATE_ROWS))],
                              [f"{t.replace('_', '-')} label" for t in TEMPLATE_ROWS],
                              f"Mean gradient-sign feature of each MNIST test class (MLP seed "
                              f"{record['per_seed'][0]['seed']}{scale})",
                              col_labels=[f"digit {c}" for c in range(10)], cmap="RdBu_r", vmin=0, vmax=1,
                              colorbar="share of images with gradient ≥ 0 (0.5: none)")


LABELS = {"predicted": "predicted", "least_likely": "least-likely", "random": "random"}  # the controls


def side(est):
    """'above' or 'below' zero where a difference is beyond its critical line (Estimate.is_effect), else
    'unclear'."""
    return ("above" if est.value > 0 else "below") if est.is_effect else "unclear"


VERSUS_PIXELS = {"below": "give a linear model less than the pixels themselves",
                 "above": "give a linear model more than the pixels themselves",
                 "unclear": "cannot be told apart from the pixels themselves at this scale"}


def models_alone(rows, one_seed, null_name):
    """Where the seeds together cannot tell an estimate from its null: how many of the seeds' models alone are
    beyond their test images' error of it, and on which side ('' for one seed, an effect, or none beyond).
    `one_seed(row)` is one seed's Estimate."""
    alone = [one_seed(row) for row in rows]
    beyond = [e for e in alone if e.is_effect]
    if len(rows) < 2 or not beyond:
        return ""
    sides = {"above" if e.value > e.null else "below" for e in beyond}
    where = f"{sides.pop()} {null_name}" if len(sides) == 1 else f"on both sides of {null_name}"
    who = (f"each of the {len(rows)} models alone is" if len(beyond) == len(rows) else
           f"{len(beyond)} of the {len(rows)} models alone {'is' if len(beyond) == 1 else 'are'}")
    return (f"{who} beyond {stats.Z:g} standard errors {where} on these test images, which "
            f"{stats.seeds_text(len(rows))} cannot say of the procedure")


def own_label_words(gaps, whole, rows, n_test):
    """The predicted and the least-likely label's features against the raw pixels, and what that says."""
    p, q = side(gaps["predicted"]), side(gaps["least_likely"])
    said = (f"with both labels the features {VERSUS_PIXELS[p]}" if p == q else
            f"with the predicted label the features {VERSUS_PIXELS[p]}, and with the least-likely label they "
            f"{VERSUS_PIXELS[q]}")

    def gap_words(kind):
        alone = "" if gaps[kind].is_effect else models_alone(rows, lambda row: over_pixels([row], kind, n_test),
                                                             "the pixels")
        return gaps[kind].words(all_images=whole) + (f"; {alone}" if alone else "")
    return (f"with the predicted label, their linear models' accuracy minus the pixels' is {gap_words('predicted')}. "
            f"With the least-likely label it is {gap_words('least_likely')}. So {said}.")


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


def over_pixels(rows, features, n_test):
    """A kind of features' accuracy minus the raw pixels', seed by seed: with each seed's error paired on the same
    test images where the record keeps it (experiments.stores_paired_error), else (records made before it was
    kept) the unpaired, larger one."""
    key = over_pixels_key(features)
    if experiments.stores_paired_error(key, rows):
        return stats.stored(rows, key)
    return stats.accuracy_gap(rows, metric_key(features), "raw_pixels_acc", n_test)


GAP_ERROR = {
    True: "Its error, like that of every difference of two accuracies on this page, is paired: both linear models "
          "are scored on the same test images, so it comes from the images on which they differ (with the spread "
          "over seeds).",
    False: "Its error, like that of every difference of two accuracies on this page, is unpaired: the sum of both "
           "accuracies' binomial variances, with the spread over seeds. Both are scored on the same test images, so "
           "the paired error would be smaller, but this record keeps no linear model's answer per test image; the "
           "unpaired error leans towards \"cannot be told apart\"."}


def random_words(rows, n_test):
    """The random label's accuracy against chance (10%), by the noise rule; where the seeds together cannot tell it
    apart, also whether each seed's model alone is beyond its test images' error (one seed: one trained model)."""
    est = stats.accuracy(rows, "leak_random_acc", n_test)
    said = est.words("{:.2f}", "%", 100, "chance (10%)", all_images=n_test >= data.TEST_SET_SIZE)
    alone = "" if est.is_effect else models_alone(
        rows, lambda row: stats.accuracy([row], "leak_random_acc", n_test), "chance")
    return f"{said}; {alone}" if alone else said


def full_controls_words(recs):
    """The paper-scale records' features against the raw pixels, label by label, and the random label's against
    chance, each by the noise rule over all their MLPs (the section's words; this build's run has its own)."""
    if not recs:
        return "No paper-scale record is committed yet."
    rows, n_test = [row for r in recs for row in r["per_seed"]], recs[0]["series"]["n_test"]
    whole = n_test >= data.TEST_SET_SIZE
    gaps = "; ".join(f"with the {LABELS.get(k, k)} label {over_pixels(rows, k, n_test).words(all_images=whole)}"
                     for k in ("true", "predicted", "least_likely"))
    random = stats.accuracy(rows, "leak_random_acc", n_test).words("{:.2f}", "%", 100, "chance (10%)",
                                                                   all_images=whole)
    return (f"Over the {len(rows)} untrained MLP{'s' if len(rows) != 1 else ''} of these records, the "
            f"gradient-sign features' accuracy minus the raw pixels' is: {gaps}. With a random label the linear "
            f"model reads the digit at {random}.")


def words(p, record, recs=()):
    """{glue name: value or Markdown text} for the prose about this run (and the paper-scale records')."""
    rows, n_test = record["per_seed"], record["series"]["n_test"]
    whole = n_test >= data.TEST_SET_SIZE
    paper = experiments.get("gradient_leak").metrics["leak_true_acc"].paper
    leak = stats.accuracy(rows, "leak_true_acc", n_test)
    close = stats.matches(leak, paper, stats.binomial_se(paper, n_test))
    case = "consistent" if close else "higher" if leak.value > paper else "lower"
    gaps = {k: over_pixels(rows, k, n_test) for k in ("true", *LABELS)}
    return {"paper_acc": paper,
            "versus_paper": {"consistent": "consistent with", "higher": "higher than", "lower": "lower than"}[case],
            "versus_paper_case": case,
            "leak_words": leak.words("{:.2f}", "%", 100, "chance (10%)"),
            "over_pixels_words": gaps["true"].words(all_images=whole),
            "over_pixels_reading": over_pixels_reading(gaps),
            "own_label_words": own_label_words(gaps, whole, rows, n_test),
            "random_words": random_words(rows, n_test),
            "gap_error": GAP_ERROR[experiments.stores_paired_error(over_pixels_key("true"), rows)],
            "only_true_words": only_true_words(gaps),
            "least_likely_reading": least_likely_reading(gaps, whole),
            "full_controls_words": full_controls_words(recs)}


# ------------------------------------------------------------------ the hypothesis: a peakier softmax leaks less

def by_scale(recs, variants):
    """{logit scale: its records}: the paper-scale records (scale 1 unless a record says otherwise) and the
    variants at other logit scales, in increasing scale."""
    groups = {}
    for r in [*recs, *variants]:
        groups.setdefault(float(r["params"].get("logit_scale", 1.0)), []).append(r)
    return dict(sorted(groups.items()))


def scale_table(recs, variants):
    """Per logit scale: how peaked the untrained net's softmax is, how often the gradient's sign follows the true
    class's logit, and the linear models' accuracies (mean ± sd over seeds); None with no variant."""
    groups = by_scale(recs, variants)
    if len(groups) < 2:
        return None
    keys = ("true", "predicted", "raw pixels")
    lines = ["| logit scale | seeds | largest softmax probability | sign follows the true logit | "
             + " | ".join(f"{FEATURES[k]}" for k in keys) + " |", "|---" * (4 + len(keys)) + "|"]
    for scale, rs in groups.items():
        p_max = records.seed_values(rs, "p_max")
        lines.append(f"| {scale:g} | {len(records.seed_values(rs, 'leak_true_acc'))} | "
                     f"{records.mean_sd_text(p_max, '{:.3f}') if p_max else 'not recorded'} | "
                     f"{records.mean_sd_text(records.seed_values(rs, 'follows_true_logit'), '{:.1%}')} | "
                     + " | ".join(records.mean_sd_text(records.seed_values(rs, metric_key(k))) for k in keys) + " |")
    return figures.Table("\n".join(lines))


def scale_figure(recs, variants):
    """The linear models' accuracy against the logit scale, one line per label (mean ± sd over seeds), with the
    blog's number; None with no variant."""
    import matplotlib.pyplot as plt

    groups = by_scale(recs, variants)
    if len(groups) < 2:
        return None
    scales = list(groups)
    fig, ax = plt.subplots(figsize=(10, 5), facecolor="white")
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#7f7f7f"]  # no red: red is the blog's line
    for (k, name), colour in zip(FEATURES.items(), colours):
        stats_ = [records.mean_sd(records.seed_values(rs, metric_key(k))) for rs in groups.values()]
        means = [100 * m for m, _ in stats_]
        sds = [0.0 if math.isnan(sd) else 100 * sd for _, sd in stats_]  # one seed: no spread to draw
        ax.errorbar(scales, means, yerr=sds, marker="o", capsize=3, color=colour, label=name)
    ax.axhline(100 * recs[0]["paper"]["leak_true_acc"], color=figures.PAPER_COLOR, ls="--",
               label="the blog, true label")
    ax.set_xscale("log")
    ax.set_xticks(scales, [f"{x:g}" for x in scales])
    ax.minorticks_off()
    ax.set_xlabel("logit scale of the untrained MLP (1: PyTorch's default; larger: a peakier softmax)")
    ax.set_ylabel("MNIST test accuracy of the linear model (%)")
    ax.set_title("Does a peakier softmax weaken the leak? Linear models on gradient-sign features, by logit scale\n"
                 "(mean ± sd over seeds; the same seeds, so the same initial weights up to the scale)", fontsize=11)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9)
    fig.tight_layout()
    return fig


def scale_words(recs, variants):
    """{glue name: Markdown} on the hypothesis: from the default logit scale to the largest, seed by seed (the same
    seeds: the same weights up to the scale), how much less the gradient's sign follows the true class's logit (the
    mechanism, and how far images keep to their class's template) and how the true-label features' accuracy changes
    (the leak), each by the noise rule. An accuracy that cannot be told apart from 100% at the default can show a
    fall but not its absence (a weaker leak may still read perfectly): then the verdict says it cannot test the
    hypothesis, and what would."""
    groups = by_scale(recs, variants)
    if len(groups) < 2 or 1.0 not in groups:
        return {"scale_verdict": "No record at another logit scale is committed, so this page cannot test it yet: "
                                 "`leaklab compute gradient_leak --profile full -p logit_scale=30` makes one."}
    top = max(groups)
    base = {row["seed"]: (row, r) for r in groups[1.0] for row in r["per_seed"]}
    matched = [(base[row["seed"]], (row, r)) for r in groups[top] for row in r["per_seed"] if row["seed"] in base]
    if not matched:
        return {"scale_verdict": "The records at other logit scales share no seed with the default's, so no "
                                 "paired comparison can be made."}
    pairs = [(b, t) for (b, _), (t, _) in matched]
    n_test = groups[top][0]["series"]["n_test"]
    whole = n_test >= data.TEST_SET_SIZE
    change, paired = accuracy_change(matched, n_test)
    # the default's accuracy within noise of 100%: a weaker leak can leave it there, so it cannot show one
    ceiling = not stats.accuracy([b for b, _ in pairs], "leak_true_acc", n_test, chance=1.0).is_effect
    mean = lambda rows, key: statistics.fmean(r[key] for r in rows)  # noqa: E731
    bases, tops = [b for b, _ in pairs], [t for _, t in pairs]
    peak = (f" (the largest softmax probability {mean(bases, 'p_max'):.3f} at the default, "
            f"{mean(tops, 'p_max'):.3f} at {top:g})" if all("p_max" in r for r in bases + tops) else "")
    measures = [(key, what, falls) for key, what, falls in MECHANISM if all(key in r for r in bases + tops)]
    mechanism = [mechanism_words(pairs, key, what, top, falls) for key, what, falls in measures]
    n_fall = sum(verdict == "falls" for verdict, _ in mechanism)
    error = ("its error paired on the same test images" if paired else
             "its error unpaired: these records keep no linear model's answer per test image")
    accuracy = f"The true-label features' accuracy ({error}) changes by {change.words(all_images=whole)}"
    loss = (stats.estimate([t["leak_true_loss"] - b["leak_true_loss"] for b, t in pairs])
            if all("leak_true_loss" in r for r in bases + tops) else None)
    if change.is_effect:
        said = ("the leak a linear model reads weakens as the softmax peaks, as the hypothesis predicts"
                if change.value < 0 else "the leak a linear model reads grows as the softmax peaks, against the "
                "hypothesis")
    elif ceiling and loss is not None:
        read = ("rises, the direction the hypothesis predicts: the linear model reads the label less surely as the "
                "softmax peaks" if loss.is_effect and loss.value > 0 else
                "falls, against the hypothesis: the linear model reads the label more surely as the softmax peaks"
                if loss.is_effect else "cannot be told apart from no change, so these runs find no weakening of "
                "the leak a linear model reads")
        said = (AT_CEILING + "The linear model's mean test "
                f"cross-entropy, which keeps moving when the accuracy is at 100%, goes from "
                f"{mean(bases, 'leak_true_loss'):.4f} to {mean(tops, 'leak_true_loss'):.4f}, a change of "
                f"{loss.words('{:+.4f}', '', 1)} (its error the spread over the seeds). It {read}")
    elif ceiling:
        shown = ("What these runs do show is the mechanism weakening beyond noise, as the hypothesis predicts"
                 if mechanism and n_fall == len(mechanism) else
                 "What these runs show of the mechanism is mixed (above)" if n_fall else
                 "Nor does the mechanism weaken beyond noise here")
        said = (AT_CEILING + shown + "; whether the leak a "
                "linear model reads weakens needs a measure without a ceiling, the linear model's test loss or "
                "its margin on the true label, which the records do not keep (`leaklab.gradient_leak` would have "
                "to record them, and these runs be made again)")
    else:
        said = "the leak does not weaken beyond noise, so these runs do not support the hypothesis"
    blog = recs[0]["paper"]["leak_true_acc"]
    means = {s: records.mean_sd(records.seed_values(rs, "leak_true_acc"))[0] for s, rs in groups.items()}
    reach = [s for s, m in means.items() if m <= blog]
    where = (f" The mean true-label accuracy comes down to the blog's {blog:.0%} or below at logit scale "
             f"{min(reach):g}." if reach else " At no scale tried does the mean true-label accuracy come down to the "
             f"blog's {blog:.0%}, so the initialization's scale, at least over the scales tried, does not explain the "
             "difference from the blog's number.")
    shares = ", and ".join(words for _, words in mechanism) or "the records keep no share of pixels to compare"
    return {"scale_verdict": (f"Over {stats.seeds_text(len(pairs))} paired by seed, from logit scale 1 to {top:g}"
                              f"{peak}: {shares}. {accuracy}{'. ' if said.startswith('Yet') else ': '}{said}.{where}"
                              + random_label_words(pairs, top))}


def random_label_words(pairs, top):
    """The random label's features from the default logit scale to `top`, seed by seed: by the argument, a peakier
    softmax gives the predicted class, which the image alone decides, more of the gradient's weight whatever the
    label, so a linear model could read the digit off any label's features; the random label's test that."""
    if not all("leak_random_acc" in r for pair in pairs for r in pair):
        return ""
    change = stats.estimate([t["leak_random_acc"] - b["leak_random_acc"] for b, t in pairs])
    means = [statistics.fmean(pair[k]["leak_random_acc"] for pair in pairs) for k in (0, 1)]
    read = ("rises beyond noise, as that predicts" if change.is_effect and change.value > 0 else
            "falls beyond noise, against it" if change.is_effect else "cannot be told apart from no change")
    return (f" By the same argument a peakier softmax gives the predicted class, which the image alone decides, more "
            f"of the gradient's weight whatever the label, so a linear model could read the digit off any label's "
            f"features: the random label's go from {means[0]:.1%} to {means[1]:.1%} at logit scale {top:g}, a "
            f"change of {change.words()} (its error the spread over the seeds): it {read}.")


# the scale verdict's words where the default's accuracy cannot be told apart from 100%
AT_CEILING = ("Yet at logit scale 1 it cannot be told apart from 100%, its ceiling, where a weaker leak could leave it "
              "too, so the accuracy cannot test the hypothesis. ")


def accuracy_change(matched, n_test):
    """The true-label features' accuracy at the larger logit scale minus the default's, seed by seed: (its
    Estimate, whether its error is paired). Paired on the same test images where both records keep each
    classifier's answer per image (gradient_leak.right_key), else the unpaired error of records made before."""
    # each record's .npz read once, not once per seed
    arrays = {id(rec): records.kept_arrays(rec) for pair in matched for _, rec in pair}
    rows = []
    for (b, b_rec), (t, t_rec) in matched:
        rights = [arrays[id(rec)].get(right_key(row["seed"], "true")) for row, rec in ((b, b_rec), (t, t_rec))]
        rows.append({"change": t["leak_true_acc"] - b["leak_true_acc"], "base": b["leak_true_acc"],
                     "scaled": t["leak_true_acc"],
                     **({} if any(r is None for r in rights) else {"change_se": stats.paired_gap_se(
                         *(records.unpacked_bits(r, n_test) for r in reversed(rights)))})})
    if experiments.stores_paired_error("change", rows):
        return stats.stored(rows, "change"), True
    return stats.accuracy_gap(rows, "scaled", "base", n_test), False


# the mechanism's measures a record keeps (gradient_leak.anatomy): key, what it measures, and what a fall means
MECHANISM = (("follows_true_logit", "the gradient's sign follows the true class's logit", "as the argument says"),
             ("class_template", "an image's feature bits agree with its class's majority bit",
              "so the class templates fade"))


def mechanism_words(pairs, key, what, top, falls):
    """(verdict, words) for a per-image share the records keep at both scales (`key`), from the default logit scale
    to `top`, seed by seed, by the noise rule: verdict 'falls', 'rises' or 'unclear'. The share is averaged over all
    the test images, the same at both scales, so its spread over seeds is its error."""
    est = stats.estimate([t[key] - b[key] for b, t in pairs])
    verdict = ("falls" if est.value < 0 else "rises") if est.is_effect else "unclear"
    mean = lambda rows: statistics.fmean(r[key] for r in rows)  # noqa: E731
    level = (f"at {mean([b for b, _ in pairs]):.1%} of the pixels at the default, "
             f"{mean([t for _, t in pairs]):.1%} at {top:g}: {est.words('{:+.1f}', ' points', 100)}")
    return verdict, {"falls": f"{what} less, {falls} ({level})",
                     "rises": f"{what} more, against the argument ({level})",
                     "unclear": f"the share of pixels where {what} changes ({level})"}[verdict]


def scale_slider(recs, variants):
    """A static slider over the committed logit scales: the class templates of each scale's first MLP (the same
    seed at every scale), for the HTML book; None with no variant."""
    from IPython.display import display

    from . import widgets

    groups = by_scale(recs, variants)
    if len(groups) < 2:
        return None
    frames = []
    for scale, rs in groups.items():
        fig = templates_figure(rs)
        p_max = records.seed_values(rs, "p_max")
        frames.append({"value": f"{scale:g}", "png": figures.png_bytes(fig),
                       "caption": (f"Logit scale {scale:g}: true-label features read at "
                                   f"{records.mean_sd(records.seed_values(rs, 'leak_true_acc'))[0]:.1%}"
                                   + (f"; largest softmax probability {records.mean_sd(p_max)[0]:.3f}" if p_max
                                      else "") + " (means over seeds).")})
    display(widgets.frame_slider(frames, "logit scale", initial=list(groups).index(1.0) if 1.0 in groups else 0))
    return None
