"""The leak_conditions page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.leak_conditions`."""

import math
import types

import matplotlib.pyplot as plt
import torch

from .. import attacks, data, experiments, records, stats
from ..leak_conditions import ATTACKS, eval_eps, model_from_record
from . import figures, paper_scale
from .fgsm_leak import NAMES as LABEL_NAMES
from .fgsm_leak import PAPER_LOSS_POINTS, SHOWN, show_eps_slider, slider_records
from .fgsm_leak import live_slider as fgsm_live_slider

# The notebook's live slider is fgsm_leak's, over this chapter's model (`eps_slider` returns what it needs).
live_slider = fgsm_live_slider


# --- records taken as one run: on a CPU the full profile comes in pieces (one per sitting), a record each ---------

def with_seeds(recs):
    """The records that hold the page's seeds (a piece made with n_seeds 0 holds only the map, cells or table)."""
    return [r for r in (recs or []) if "seeds" in r["series"]]


def merge_cells(cells, key):
    """Cells of several records as one: those with the same key(cell) merged, each seed once (a seed trained
    again in another piece is the same network), in order of first appearance."""
    merged = {}
    for c in cells:
        into = merged.setdefault(key(c), {**c, "seeds": []})
        known = {s["seed"] for s in into["seeds"]}
        into["seeds"] += [s for s in c["seeds"] if s["seed"] not in known]
    return list(merged.values())


def pooled(recs, part):
    """`part` ("map", "cells" or "label_table") of every record of `recs` that holds it, as one record: those
    made with the first one's setting on as many test images, their cells (or table rows) merged seed by seed.
    It keeps the first one's params and lists the records it pooled under "pooled_from"; None without any."""
    have = [r for r in (recs or []) if part in r["series"]]
    if not have:
        return None
    setting = experiments.get("leak_conditions").setting
    first = have[0]
    have = [r for r in have if r["series"]["n_test"] == first["series"]["n_test"]
            and all(r["params"][k] == first["params"][k] for k in setting)]
    parts = [r["series"][part] for r in have]
    if part == "cells":
        order = list(DATASET_NAMES)
        cells = merge_cells([c for cs in parts for c in cs], lambda c: (c["dataset"], c["eps"], c["width"],
                                                                          c["n_train"]))
        merged = sorted(cells, key=lambda c: (order.index(c["dataset"]), c["eps"], c["width"]))
    elif part == "map":
        cells = merge_cells([c for m in parts for c in m["cells"]], lambda c: (c["eps"], c["width"]))
        merged = {"eps": sorted({c["eps"] for c in cells}), "widths": sorted({c["width"] for c in cells}),
                  "cells": sorted(cells, key=lambda c: (c["eps"], c["width"]))}
    else:  # the four-label table: rows of each training label, one per seed, at the table's eps
        same = [t for t in parts if t["eps"] == parts[0]["eps"]]
        have = [r for r, t in zip(have, parts) if t["eps"] == parts[0]["eps"]]
        trained = {}
        for t in same:
            for kind, rows in t["trained"].items():
                known = {row["seed"] for row in trained.setdefault(kind, [])}
                trained[kind] += [row for row in rows if row["seed"] not in known]
        merged = {"eps": parts[0]["eps"], "trained": trained}
    return {"params": first["params"], "series": {"n_test": first["series"]["n_test"], part: merged},
            "pooled_from": have}


def table(recs):
    """Clean and FGSM accuracy of both models, each seed's gap ± its standard error (MyST markdown)."""
    recs = with_seeds(recs)
    if not recs:
        return None
    lines = ["| seed | model trained with | clean | FGSM at eval eps | gap (FGSM minus clean) | beyond 2 SE of zero? |",
             "|---|---|---|---|---|---|"]
    for r in recs:
        for s in r["series"]["seeds"]:
            for kind in ATTACKS:
                m = s["models"][kind]
                lines.append(f"| {s['seed']} | {kind} label | {m['clean_acc']:.2%} | {m['fgsm_acc']:.2%} | "
                             f"{100 * m['gap']:+.2f} ± {100 * m['gap_se']:.2f} points | "
                             f"{beyond_words(m['gap'], m['gap_se'])} |")
    return figures.Table("\n".join(lines))


def beyond_words(gap, se):
    """Whether a gap is beyond twice its standard error, and which way: FGSM images easier or harder."""
    if abs(gap) <= stats.Z * se:
        return "no"
    return "yes: FGSM easier" if gap > 0 else "yes: FGSM harder"


def epochs_figure(recs):
    """Clean and FGSM accuracy on the probe images after each epoch: every seed, both models."""
    recs = with_seeds(recs)
    if not recs:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), facecolor="white", sharey=True)
    for ax, kind in zip(axes, ATTACKS):
        for r in recs:
            for s in r["series"]["seeds"]:
                h = s["models"][kind]["history"]
                ep = [e["epoch"] for e in h]
                ax.plot(ep, [e["fgsm_acc"] for e in h], color=figures.PAPER_COLOR, alpha=0.7, marker="o", ms=3)
                ax.plot(ep, [e["clean_acc"] for e in h], color="#1f4e9c", alpha=0.7, marker="o", ms=3)
        ax.plot([], [], color=figures.PAPER_COLOR, label="FGSM images (true label)")
        ax.plot([], [], color="#1f4e9c", label="clean images")
        ax.set_title(f"trained with {kind}-label FGSM")
        ax.set_xlabel("epoch")
        ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:.0%}"))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"accuracy, {probe_images(recs[0], short=True)}")
    axes[0].legend(loc="lower right", fontsize=8)
    fig.suptitle("When the leak appears: accuracy after each epoch (one line per seed)")
    fig.tight_layout()
    return fig


def loss_words(record):
    """This run's loss along the true-label FGSM direction, read as the blog reads its own: the mean loss at the
    evaluation eps minus at eps 0, judged by the noise rule (each seed's difference with its error taken image by
    image), and where the mean curve is highest."""
    seeds = [s for s in record["series"].get("seeds", []) if "curve" in s]
    if not seeds:
        return "This run has no loss curve (it trained none of the page's seeds)."
    eps = seeds[0]["curve"]["eps"]
    at = min(range(len(eps)), key=lambda i: abs(eps[i] - eval_eps(types.SimpleNamespace(**record["params"]),
                                                                    record["params"]["train_eps"])))
    rows = [{"rise": s["curve"]["loss"][at] - s["curve"]["loss"][0], "rise_se": s["curve"]["loss_diff_se"][at]}
            for s in seeds]
    mean = [sum(s["curve"]["loss"][i] for s in seeds) / len(seeds) for i in range(len(eps))]
    top = max(range(len(eps)), key=mean.__getitem__)
    whole = record["series"]["n_test"] >= data.TEST_SET_SIZE
    change = stats.stored(rows, "rise").words("{:+.3f}", "", 1, all_images=whole)
    return (f"Ours starts at a mean loss of {mean[0]:.3f}; at the evaluation ε = {eps[at]:g}/255 it is "
            f"{mean[at]:.3f}, a change of {change} (the blog's curve ends below its start). Its mean is highest "
            f"at ε = {eps[top]:g}/255" + (", the end of the walk: it does not fall back within this range."
                                          if top == len(eps) - 1 else "."))


def loss_figure(recs):
    """The true-label model's mean test loss along the FGSM direction, every seed, beside the blog's curve."""
    recs = with_seeds(recs)
    if not recs:
        return None
    fig, (ax, blog) = plt.subplots(1, 2, figsize=(11, 3.8), facecolor="white",
                                   gridspec_kw={"width_ratios": [2, 1]})
    for r in recs:
        for s in r["series"]["seeds"]:
            ax.plot(s["curve"]["eps"], s["curve"]["loss"], color="#1f4e9c", alpha=0.6)
    ax.set_title("Ours: true-label model, one line per seed")
    ax.set_xlabel("eps along the true-label FGSM direction (0-255 scale)")
    ax.set_ylabel("mean test cross-entropy")
    ax.grid(alpha=0.3)
    x, y = zip(*PAPER_LOSS_POINTS)
    blog.plot(x, y, color=figures.PAPER_COLOR, marker="o", label="three points read off its figure")
    blog.legend(fontsize=8)
    blog.set_title("The blog: CIFAR-10 ResNet-110")
    blog.set_xlabel("eps (0-255 scale)")
    blog.set_ylabel("mean test cross-entropy")
    blog.grid(alpha=0.3)
    fig.suptitle("The loss along the FGSM direction: the blog reads the fall after its peak as gradient masking,\n"
                 "and a loss at the attack's eps below the one at eps 0 as consistent with the leak")
    fig.tight_layout()
    return fig


def map_figure(recs):
    """The leak gap over training eps and width (mean over map seeds); cells within noise are marked."""
    mapped = pooled(recs, "map")
    if mapped is None:
        return None
    m = mapped["series"]["map"]
    gap = torch.full((len(m["widths"]), len(m["eps"])), float("nan"))  # grey: a cell whose nets never learned
    label = [["" for _ in m["eps"]] for _ in m["widths"]]
    for c in m["cells"]:
        i, j = m["widths"].index(c["width"]), m["eps"].index(c["eps"])
        est, clean = cell_estimate(c), cell_clean(c)
        if not learned(clean):
            label[i][j] = f"never learned\nclean {clean:.0%}"
            continue
        gap[i, j] = est.value
        dropped = never_learned(c)
        label[i][j] = (f"{100 * est.value:+.1f}\n± {100 * est.se:.1f}" + ("" if est.is_effect else "\n(noise)")
                       + f"\nclean {clean:.0%}"
                       + (f"\n({dropped} of {len(c['seeds'])} nets\nnever learned)" if dropped else ""))
    fig, ax = plt.subplots(figsize=(11, 7), facecolor="white")
    points = 100 * gap
    lim = max(float(points.nan_to_num(0.0).abs().max()), 0.1)
    colours = plt.get_cmap("RdBu_r").with_extremes(bad="#d9d9d9")
    im = ax.imshow(points.numpy(), cmap=colours, vmin=-lim, vmax=lim, aspect="auto", origin="lower")
    for i in range(len(m["widths"])):
        for j in range(len(m["eps"])):
            dark = abs(float(points[i, j])) > 0.6 * lim  # white on the deep reds and blues
            ax.text(j, i, label[i][j], ha="center", va="center", fontsize=11, color="white" if dark else "black")
    ax.set_xticks(range(len(m["eps"])), [f"{e:g}" for e in m["eps"]])
    ax.set_yticks(range(len(m["widths"])), [str(w) for w in m["widths"]])
    ax.set_xlabel("training eps (0-255 scale; evaluated at the same eps)")
    ax.set_ylabel("CNN width (channels of its first layer)")
    fig.colorbar(im, ax=ax, label="FGSM minus clean accuracy (points)")
    ax.set_title("Where the label leaks: FGSM minus clean accuracy, points ± standard error\n"
                 "(red: FGSM images easier than clean; '(noise)': within its critical line, Student's t for its "
                 f"seeds;\ngrey: clean accuracy at most {LEARNS:.0%}, nets that never learned, left out of every "
                 "mean)", fontsize=10)
    fig.tight_layout()
    return fig


def learned_seeds(seeds, kinds=None):
    """The seeds whose nets learned (clean accuracy above LEARNS), or all of them where none did (a cell that
    never learned, shown as such). A map seed is one net; a difficulty cell's seed (kinds: its nets) leaves with
    both of its nets when either never learned, since the leak and its control are compared seed by seed. A net
    that never learned answers the same to any image, so its gap of zero says nothing about leaking."""
    def ok(s):
        return all(learned(s[k]["clean_acc"]) for k in kinds) if kinds else learned(s["clean_acc"])

    return [s for s in seeds if ok(s)] or list(seeds)


def cell_clean(cell):
    """A map cell's clean accuracy, the mean over its seeds whose nets learned (over all where none did)."""
    seeds = learned_seeds(cell["seeds"])
    return sum(s["clean_acc"] for s in seeds) / len(seeds)


def never_learned(cell, kinds=None):
    """How many of a cell's seeds were left out of its means because a net of theirs never learned (0 where
    none learned: the whole cell is shown as never learned)."""
    return len(cell["seeds"]) - len(learned_seeds(cell["seeds"], kinds))


def gap_estimate(scores):
    """A gap over seeds (each score as `leak_conditions.scored` gives it), with the test images' mean error and
    the spread over seeds: a map cell's, a difficulty cell's, an entry of the four-label table."""
    return stats.estimate([s["gap"] for s in scores], sum(s["gap_se"] for s in scores) / len(scores))


def cell_estimate(cell):
    """A map cell's gap over its seeds whose nets learned."""
    return gap_estimate(learned_seeds(cell["seeds"]))


# The seeds the setting was chosen on (results/leak_conditions_trials.md): a record on others confirms it.
SEARCH_SEEDS = range(0, 50, 10)


def leak_judged(rows, whole, prefix=""):
    """{glue name after `prefix`: value} judging seed rows: the true-label gap, the control's and their
    difference in words, how many seeds leak beyond twice their own error, and the case for "What it means"."""
    leak, control = stats.stored(rows, "leak_gap"), stats.stored(rows, "control_gap")
    mean_se = lambda key: sum(r[key] for r in rows) / len(rows)  # noqa: E731
    difference = stats.estimate([r["leak_gap"] - r["control_gap"] for r in rows],
                                math.hypot(mean_se("leak_gap_se"), mean_se("control_gap_se")))
    n_leaking = int(sum(r["leaking_seeds"] for r in rows))
    # the criterion for a reliable leak: at least 4 seeds in 5 leak, each beyond twice its own error;
    # the notebook's "What it means" says what each case means (book.keep_holding_branches shows the one that holds)
    reliable = n_leaking >= 0.8 * len(rows) and leak.value > 0
    beyond_control = difference.is_effect and difference.value > 0
    return {f"{prefix}control_easier_words": control_easier_words(rows),
            f"{prefix}leak_words": leak.words(all_images=whole), f"{prefix}control_words":
            control.words(all_images=whole), f"{prefix}difference_words": difference.words(all_images=whole),
            f"{prefix}n_leaking": n_leaking, f"{prefix}n_seeds_run": len(rows),
            f"{prefix}conjecture_case": "unsettled" if not reliable else "label_read" if beyond_control else
            "control_too"}


# what a control's own gap above zero means, seed by seed or cell by cell
CONTROL_EASIER_TOO = ("there true-label FGSM images became easier for the control too. Its training attack used its "
                      "own prediction, which is the true label wherever the net is right, so it too can learn to read "
                      "what such an attack writes in; what the true label adds beyond the net's own prediction is the "
                      "true-label gap minus the control's.")


def control_easier_words(rows):
    """In how many seeds the predicted-label control's own gap is above zero beyond twice its standard error, each
    seed speaking for its own net, beside the mean over the seeds by the noise rule. The control's training attack
    uses its own prediction, the true label wherever it is right, and it is scored under the true-label attack, so
    a positive gap of its own need not be free of the label."""
    n = sum(r["control_gap"] > stats.Z * r["control_gap_se"] for r in rows)
    if not n:
        return ("In no seed is the predicted-label control's own gap above zero beyond twice its standard error: "
                "true-label FGSM images did not become easier for it.")
    mean = stats.stored(rows, "control_gap")
    # the mean's own words are given where the control's gap is first reported; here only what the seeds add
    over = ("" if len(rows) < 2 else
            " Over the seeds the mean is above zero beyond noise." if mean.is_effect and mean.value > 0 else
            f" Over the seeds the mean cannot be told apart from zero: the {n} seeds above zero sit beside others "
            "that are not." if not mean.is_effect else
            f" Over the seeds the mean is below zero beyond noise, though {n} seeds' own gaps are above it.")
    return (f"In {n} of {len(rows)} seeds the predicted-label control's own gap is above zero beyond twice its "
            f"standard error, each for its own net: {CONTROL_EASIER_TOO}" + over)


def seeds_words(recs):
    """The records' seeds as the page words them, and whether the search that chose the setting watched any of
    them."""
    seeds = [row["seed"] for r in recs for row in r["per_seed"]]
    searched = [s for s in seeds if s in SEARCH_SEEDS]
    if not searched:
        return f"seeds {', '.join(map(str, seeds))}, none of which that search watched"
    share = "all" if len(searched) == len(seeds) else len(searched)
    return f"seeds {', '.join(map(str, seeds))}, {share} of them seeds that search watched"


def words(p, record, recs=(), variants=()):
    """{glue name: value or Markdown text} for the prose about this run, the committed paper-scale records (map,
    cells, four-label table) and the variant records (CIFAR-10's four-label table)."""
    whole = record["series"]["n_test"] >= data.TEST_SET_SIZE  # only seeds can shrink the errors
    out = leak_judged(record["per_seed"], whole)
    out.update({"paper_gap_points": 100 * experiments.get("leak_conditions").metrics["leak_gap"].paper,
                "eval_eps_used": eval_eps(p, p.train_eps), "dataset_name": DATASET_NAMES[p.dataset],
                "build_seeds_words": seeds_words([record])})
    reference = experiments.get("leak_conditions").metrics["leak_gap"].paper_parts  # PyTorch-Robust's FGSM-AT
    out.update({"reference_fgsm": reference[0], "reference_clean": reference[1]})
    seeded = with_seeds(recs)
    if seeded:
        out.update(leak_judged([row for r in seeded for row in r["per_seed"]],
                               all(r["series"]["n_test"] >= data.TEST_SET_SIZE for r in seeded), "paper_"))
        out["paper_seeds_words"] = seeds_words(seeded)
    else:
        out["paper_conjecture_case"] = "no_record"
    out["blog_clean_acc"] = experiments.get("fgsm_leak").metrics["clean_acc"].paper
    out["blog_eval_eps"] = experiments.get("fgsm_leak").profiles["full"]["eval_eps"]
    out["probe_words"] = probe_images(record)
    out["paper_probe_words"] = (
        "No paper-scale record is committed yet." if not seeded else
        "The committed paper-scale record's models were probed on the same images."
        if probe_images(seeded[0]) == probe_images(record)
        and seeded[0].get("params", {}).get("dataset", p.dataset) == p.dataset else
        f"The committed paper-scale record's models were probed on {probe_images(seeded[0])} instead.")
    out["onset_words"] = onset_words(record)
    out["loss_words"] = loss_words(record)
    out["paper_onset_words"] = onset_words(seeded[0] if seeded else None)
    mapped = pooled(recs, "map")
    out.update(map_words(mapped["series"]["map"] if mapped else None))
    out["map_reading"] = map_reading(mapped["series"]["map"]) if mapped else (
        "No record with the map is committed yet; `leaklab compute leak_conditions --profile full` makes one.")
    cells_rec = cells_record(recs)
    out.update(cells_words(cells_rec))
    out.update(label_words(label_record(recs)))
    out.update(cifar_label_words(variants, cells_rec))
    return out


def probe_images(rec, short=False):
    """Which images a record's per-epoch probes scored: a validation split held out from the training images, or
    (records made before that split) the first test images."""
    n = rec["series"]["n_probe"]
    if rec["series"].get("probe") == "validation":
        return f"{n:,} validation images" if short else \
            f"the {n:,} validation images (held out from the training set, never trained on)"
    return f"first {n:,} test images" if short else f"the first {n:,} test images"


def probe_gap_errors(history, n_probe):
    """The standard error of each epoch's FGSM-minus-clean gap on the probe images: paired on the same images where
    the record kept it, else (records made before it did) the unpaired one (stats.gap_se)."""
    return [e["gap_se"] if "gap_se" in e else stats.gap_se(e["fgsm_acc"], e["clean_acc"], n_probe)
            for e in history]


def onset(history, n_probe):
    """When a model's leak sets in on the probe images: the first epoch from which its FGSM accuracy stays
    above its clean accuracy by more than twice the gap's standard error through the last epoch (None when the
    last epoch does not leak); also the gap after each epoch and its error."""
    gaps = [e["fgsm_acc"] - e["clean_acc"] for e in history]
    ses = probe_gap_errors(history, n_probe)
    first = None
    for e, g, se in zip(reversed(history), reversed(gaps), reversed(ses)):
        if g <= stats.Z * se:
            break
        first = e["epoch"]
    return first, gaps, ses


def onset_summary(rec):
    """When the leak appears in a record's per-epoch probes, as a structured verdict: each seed's onset epoch
    (None: never) for both models; the largest one-epoch rise of the true-label gap with its error and whether
    it is beyond twice that; how many seeds' gaps first went the other way beyond noise (the attack winning),
    and how many leaked and then fell back."""
    n_probe, seeds = rec["series"]["n_probe"], rec["series"]["seeds"]
    true, rises, harder, relapsed, jumped = [], [], 0, 0, 0
    for s in seeds:
        history = s["models"]["true"]["history"]
        first, gaps, ses = onset(history, n_probe)
        true.append(first)
        # hypot takes two epochs' gaps as independent; on the same images they go up and down together, so this
        # error overstates the rise's
        own = [(gaps[i] - gaps[i - 1], math.hypot(ses[i], ses[i - 1]), s["seed"], history[i]["epoch"])
               for i in range(1, len(gaps))]
        rises += own
        # a jump: one epoch brought more than half the final gap, beyond that rise's error; else it built up
        jumped += first is not None and any(size > gaps[-1] / 2 and size > stats.Z * se for size, se, *_ in own)
        harder += any(g < -stats.Z * se for g, se in zip(gaps, ses))
        leaked = [g > stats.Z * se for g, se in zip(gaps, ses)]
        relapsed += any(leaked[i] and not all(leaked[i:]) for i in range(len(leaked)))
    rise = None
    if rises:
        size, se, seed, epoch = max(rises)
        rise = {"size": size, "se": se, "seed": seed, "epoch": epoch, "beyond": size > stats.Z * se}
    return {"n_probe": n_probe, "epochs": len(seeds[0]["models"]["true"]["history"]), "n_seeds": len(seeds),
            "true_onsets": true, "control_onsets": [onset(s["models"]["predicted"]["history"], n_probe)[0]
                                                    for s in seeds],
            "largest_rise": rise, "n_harder": harder, "n_relapsed": relapsed, "n_jumped": jumped,
            "n_leaking": sum(o is not None for o in true),
            "paired": all("gap_se" in e for s in seeds for m in s["models"].values() for e in m["history"])}


def onset_words(rec):
    """onset_summary in words (its numbers, listed seed by seed), for the page."""
    if rec is None:
        return "No record with the per-epoch probes is committed yet."
    v = onset_summary(rec)

    def listed(values):
        return stats.listed("never" if x is None else str(x) for x in values)

    text = (f"On {probe_images(rec)}, the true-label model's leak sets in (from that epoch to the "
            f"last, FGSM accuracy stays above clean accuracy by more than twice its standard error"
            f"{', paired on the same images' if v['paired'] else ''}) at epoch "
            f"{listed(v['true_onsets'])} of {v['epochs']}, seed by seed; the predicted-label control's does so in "
            f"{sum(o is not None for o in v['control_onsets'])} of {v['n_seeds']} seeds.")
    if not v["paired"]:
        text += (" This record's probes predate the paired error, so these use the unpaired one, which overstates "
                 "it for a net whose clean and attacked answers agree more than chance, as a net that learned does: "
                 "its onsets can then only come later than the paired error would put them, never earlier.")
    rise = v["largest_rise"]
    if rise:
        text += (f" The largest one-epoch rise of the true-label gap is {100 * rise['size']:+.1f} ± "
                 f"{100 * rise['se']:.1f} points (seed {rise['seed']}, epoch {rise['epoch'] - 1} to {rise['epoch']}), "
                 + ("a jump beyond twice its error" if rise["beyond"] else "which cannot be told apart from "
                    "noise on these images") + ".")
    if v["n_leaking"]:
        jumped, built = v["n_jumped"], v["n_leaking"] - v["n_jumped"]
        jump = "gained more than half of that final gap in one epoch, beyond that rise's error: a sudden jump"
        build = "built it up over several epochs, no one of which brought half of it beyond noise: a slow rise"
        text += (f" Of the {v['n_leaking']} seeds whose true-label model leaks at the last epoch, "
                 + (f"all {jumped} {jump}." if not built else f"all {built} {build}." if not jumped else
                    f"{jumped} {jump}; the other {built} {build}."))
    text += (f" In {v['n_harder']} of {v['n_seeds']} seeds the true-label model's FGSM images are harder than clean "
             f"ones, beyond noise, at some epoch (the attack winning, as it does on a model that has not learned "
             f"to read the label); in {v['n_relapsed']} the gap leaked beyond noise at some epoch and was back within "
             "noise or below zero at a later one.")
    return text


# Twice chance (all three datasets have 10 classes): a net whose clean accuracy stays at or under this never learned
# its task, so its gap says nothing and it is left out of every mean. One line for the map and the cells alike.
LEARNS = 0.2


def learned(clean_acc):
    """Whether nets of this (mean) clean accuracy learned their task."""
    return clean_acc > LEARNS


def learning_cells(m):
    """The map's cells whose nets learn (mean clean accuracy above LEARNS)."""
    return [c for c in m["cells"] if learned(cell_clean(c))]


def map_summary(m):
    """What the map says, by the noise rule, as a structured verdict: how many cells leak, go the other way (the
    attack wins) or cannot be told from no gap, at which critical lines (Student's t for the cells' seeds); the
    smallest training eps that leaks; and, over the cells whose nets learn (the others answer the same to
    anything, so their gap says nothing), the mean clean accuracy, mean gap and leaking cells by training eps
    and by width (None where no net learned)."""
    est = {(c["eps"], c["width"]): cell_estimate(c) for c in m["cells"]}
    clean = {(c["eps"], c["width"]): cell_clean(c) for c in m["cells"]}
    # a cell whose other seeds never learned rests on one net: its verdict speaks for that net, not for the
    # setting, so it is counted apart (unless every cell of the map has one seed: then each verdict is one net's)
    several = max(e.n_seeds for e in est.values()) > 1
    one_net = {k for k, e in est.items() if several and e.n_seeds == 1}
    leaks = {k for k, e in est.items() if k not in one_net and e.is_effect and e.value > 0}
    harder = {k for k, e in est.items() if k not in one_net and e.is_effect and e.value < 0}
    learning = {(c["eps"], c["width"]) for c in learning_cells(m)}

    def means(cells):
        cells = [k for k in cells if k in learning]
        return {"clean": sum(clean[k] for k in cells) / len(cells) if cells else None,
                "gap": stats.combined([(1 / len(cells), est[k]) for k in cells]) if cells else None,
                "n_leaking": len(set(cells) & leaks), "n_cells": len(cells), "n_one_net": len(set(cells) & one_net)}

    return {"n_cells": len(est), "n_leak": len(leaks), "n_harder": len(harder), "n_one_net": len(one_net),
            "n_unclear": len(est) - len(leaks) - len(harder) - len(one_net),
            "one_net_leaks": sum(est[k].is_effect and est[k].value > 0 for k in one_net),
            "one_net_harder": sum(est[k].is_effect and est[k].value < 0 for k in one_net),
            "critical": sorted({round(e.critical, 1) for e in est.values()}),
            "n_seeds": next(iter(est.values())).n_seeds,
            "smallest_leaking_eps": min((e for e, _ in leaks), default=None),
            "n_learned": len(learning), "left_out": len(est) - len(learning),
            "nets_left_out": sum(never_learned(c) for c in m["cells"]),
            "by_eps": {e: means([k for k in est if k[0] == e]) for e in m["eps"]},
            "by_width": {w: means([k for k in est if k[1] == w]) for w in m["widths"]}}


def map_reading(m):
    """map_summary in words (its counts and means, row by row), for the page."""
    v = map_summary(m)
    line = (f"{v['critical'][0]:g} times their standard error (Student's t for {v['n_seeds']} seeds)"
            if len(v["critical"]) == 1 else "their critical line (Student's t)")
    judged = v["n_cells"] - v["n_one_net"]
    text = (f"Of the map's {v['n_cells']} cells, {judged} rest on every seed"
            + (f" ({v['n_one_net']} on one net, its twin never having learned)" if v["n_one_net"] else "")
            + f". Of those {judged}, {v['n_leak']} {'leaks' if v['n_leak'] == 1 else 'leak'} beyond "
            f"{line}, {v['n_harder']} {'goes' if v['n_harder'] == 1 else 'go'} the other way beyond it (the attack "
            f"wins), and {v['n_unclear']} cannot be told apart from no gap")
    if v["smallest_leaking_eps"] is not None:
        text += f"; the smallest training eps that leaks is {v['smallest_leaking_eps']:g}/255"
    if v["n_one_net"]:
        one = v["n_one_net"]
        text += (f". The {one} one-net {'cell speaks' if one == 1 else 'cells speak'} for "
                 f"{'its' if one == 1 else 'their'} single trained {'net' if one == 1 else 'nets'}, not for the "
                 f"setting: {v['one_net_leaks']} "
                 f"{'leaks' if v['one_net_leaks'] == 1 else 'leak'} and {v['one_net_harder']} "
                 f"{'goes' if v['one_net_harder'] == 1 else 'go'} the other way beyond twice that net's own error")
    if not v["n_learned"]:
        return text + f". None of its nets learned (clean accuracy above {LEARNS:.0%}), so it has no means to read."

    def summary(row):
        if not row["n_cells"]:
            return "no net learned"
        one = f", {row['n_one_net']} of them on one net and not counted" if row["n_one_net"] else ""
        return (f"clean {row['clean']:.1%}, gap {100 * row['gap'].value:+.1f} ± {100 * row['gap'].se:.1f} points, "
                f"{row['n_leaking']} of {row['n_cells']} cells leaking{one}")

    text += (f". Over the cells whose nets learn (clean accuracy above {LEARNS:.0%}"
             + (f"; {v['left_out']} that {'stays' if v['left_out'] == 1 else 'stay'} near chance "
                f"{'is' if v['left_out'] == 1 else 'are'} left out" if v["left_out"] else "")
             + (f"; {nets} {'net' if nets == 1 else 'nets'} that never learned, beside another seed's that did, "
                f"{'is' if nets == 1 else 'are'} left out of {'its' if nets == 1 else 'their'} cell's mean"
                if (nets := v["nets_left_out"]) else "") + "), by training "
             "eps: " + "; ".join(f"eps {e:g}: {summary(row)}" for e, row in v["by_eps"].items()))
    text += "; by width: " + "; ".join(f"width {w}: {summary(row)}" for w, row in v["by_width"].items()) + "."
    return text


def axis_change(est, axis):
    """The mean gap at the axis's largest value minus at its smallest (both fixed in advance, not picked for
    their gaps), over the cells given, as a combined estimate; None when the axis has one value."""
    values = sorted({k[axis] for k in est})
    if len(values) < 2:
        return None
    lo, hi = ([k for k in est if k[axis] == v] for v in (values[0], values[-1]))
    return (values[0], values[-1],
            stats.combined([(1 / len(hi), est[k]) for k in hi] + [(-1 / len(lo), est[k]) for k in lo]))


def map_verdict(m):
    """The map's answer to the blog's conjecture (a harder clean problem leaks more), among the cells whose
    nets learn, as a structured verdict: how the mean gap changes from the smallest to the largest training eps
    and from the narrowest to the widest net (each an Estimate, judged by the noise rule), which of the two
    moves it measurably, and how the gap goes with the clean accuracy (Fisher's z). "too_few" where fewer than
    three cells learn or an axis has one value."""
    cells = learning_cells(m)
    est = {(c["eps"], c["width"]): cell_estimate(c) for c in cells}
    changes = {name: axis_change(est, axis) for name, axis in (("eps", 0), ("width", 1))}
    if len(cells) < 3 or None in changes.values():
        return {"case": "too_few", "n_cells": len(cells)}
    moves = {name for name, (_, _, e) in changes.items() if e.is_effect}
    clean = {(c["eps"], c["width"]): cell_clean(c) for c in cells}
    keys = list(est)
    r = statistics_correlation([clean[k] for k in keys], [est[k].value for k in keys])
    # the noise rule for a correlation: Fisher's z = atanh(r) has a standard error of 1 / sqrt(n - 3)
    z, z_se = math.atanh(max(min(r, 0.999999), -0.999999)), 1 / math.sqrt(max(len(keys) - 3, 1))
    beyond = abs(z) > stats.Z * z_se
    return {"case": "answered", "n_cells": len(cells), "eps": changes["eps"], "width": changes["width"],
            "moves": ("both" if len(moves) == 2 else next(iter(moves)) if moves else "neither"),
            "r": r, "z": z, "z_se": z_se,
            "correlation": "opposite" if beyond and r > 0 else "as_predicted" if beyond else "unclear"}


def map_words(m):
    """{glue name: value} for the notebook's paragraph on the map's answer (its case picks the paragraph)."""
    if m is None:
        return {"map_case": "no_map"}
    v = map_verdict(m)
    out = {"map_case": v["case"], "map_cells_learning": v["n_cells"], "learns_threshold": LEARNS}
    if v["case"] != "answered":
        return out
    (eps_lo, eps_hi, eps_change), (w_lo, w_hi, w_change) = v["eps"], v["width"]

    def change_words(est):
        return est.words(more="seeds per cell", df_source="that the seeds of its cells give")

    out.update({
        "eps_range": f"{eps_lo:g}/255 to {eps_hi:g}/255", "eps_change_words": change_words(eps_change),
        "width_range": f"{w_lo} to {w_hi}", "width_change_words": change_words(w_change),
        "map_decides": {"eps": "only the training eps moves the gap measurably",
                        "width": "only the width moves the gap measurably", "both": "both move it measurably",
                        "neither": "neither change can be told apart from zero with these cells and seeds"}[v["moves"]],
        "map_r": v["r"], "map_z": v["z"], "map_z_se": v["z_se"],
        "correlation_words": correlation_words(v)})
    return out


def correlation_words(v):
    """map_verdict's correlation in words: the conjecture predicts a negative r (a larger gap where the clean
    accuracy is lower), and the words say whether the observed sign agrees with it, beyond noise or not."""
    if v["correlation"] == "opposite":
        return "positive, the opposite of that prediction"
    if v["correlation"] == "as_predicted":
        return "negative, as it predicts"
    sign = ("positive, a sign opposite to the prediction" if v["r"] > 0 else
            "negative, the sign the prediction expects" if v["r"] < 0 else None)
    unclear = "cannot be told apart from no relation with so few cells"
    return f"{sign}, but one that {unclear}" if sign else f"which {unclear}"


def statistics_correlation(x, y):
    import statistics

    try:
        return statistics.correlation(x, y)
    except statistics.StatisticsError:  # a constant input
        return 0.0


def eps_slider(recs, record):
    """Show the static eps slider over the paper-scale model when one is committed, else this run's, and glue
    the prose's words about it; return what the live slider needs (`live_slider`)."""
    use, committed = slider_records(recs, record)
    p, seeds = use[0]["params"], use[0]["series"]["seeds"]
    eps = use[0]["series"]["eps"]
    loss = [sum(s["curve"]["loss"][i] for s in seeds) / len(seeds) for i in range(len(eps))]
    records.glue_words({"slider_model": "the paper-scale true-label model (first seed of the committed record; the "
                                        "loss beside each frame is the mean over that record's seeds)" if committed
                        else "this run's true-label model (first seed; the loss beside each frame is the mean over "
                             "this run's seeds)"})
    at = eval_eps(types.SimpleNamespace(**p), p["train_eps"])
    # cnn4 has no BatchNorm: its step is the same in either mode, and the slider offers one
    return show_eps_slider(model_from_record(use[0]), data.load(p["dataset"], "test"), eps, {"in eval mode": loss},
                           at, SHOWN, data.CLASSES[p["dataset"]], paper_points=None, eps_max=255.0, increment=1.0)


# --- the difficulty cells: one net and one recipe on three datasets (issue 22) -----------------------------

DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}


def cell_numbers(cell, n_test):
    """A difficulty cell over its seeds, as Estimates: the true-label nets' clean accuracy (against chance), their
    leak gap, the predicted-label control's gap, and the two gaps' difference seed by seed (the seed fixes the
    initial weights and the batch order of both), over the seeds both of whose nets learned (all seeds where no
    seed's did: "learned" is then False); "left_out" counts the seeds left out."""
    seeds = learned_seeds(cell["seeds"], ATTACKS)
    learned_any = any(all(learned(s[kind]["clean_acc"]) for kind in ATTACKS) for s in seeds)
    leak, control = (gap_estimate([s[kind] for s in seeds]) for kind in ATTACKS)
    clean = [s["true"]["clean_acc"] for s in seeds]
    # the difference's test-image error: both gaps' mean errors (as words() combines the page's two models)
    mean_se = {kind: sum(s[kind]["gap_se"] for s in seeds) / len(seeds) for kind in ATTACKS}
    return {"clean": stats.estimate(clean, stats.binomial_se(sum(clean) / len(clean), n_test), null=0.1),
            "leak": leak, "control": control,
            "difference": stats.estimate([s["true"]["gap"] - s["predicted"]["gap"] for s in seeds],
                                         math.hypot(mean_se["true"], mean_se["predicted"])),
            "learned": learned_any, "left_out": never_learned(cell, ATTACKS), "n_seeds": len(cell["seeds"])}


def cell_verdict(numbers):
    """A cell's verdict by the noise rule: never learned, leaks beyond its control, leaks with the control
    leaking as much, the attack wins, or within noise."""
    leak, difference = numbers["leak"], numbers["difference"]
    if not numbers["learned"]:
        return "never learned"
    if leak.is_effect and leak.value > 0:
        return "leaks, beyond the control" if difference.is_effect and difference.value > 0 else \
            "leaks, the control as much"
    return "the attack wins" if leak.is_effect else "within noise"


def dataset_names(recs):
    """DATASET_NAMES, with CIFAR-10 named as the copy the records were measured on (the JPEG copy, labelled)."""
    sources = [s for r in recs for s in r.get("data", {}).get("sources", [])]
    return {**DATASET_NAMES, "cifar10": data.cifar_name(sources)}


def cells_record(recs):
    """The difficulty cells of all `recs`, pooled (`pooled`), or None."""
    return pooled(recs, "cells")


def points(e):
    return f"{100 * e.value:+.1f} ± {100 * e.se:.1f}"


def cells_table(recs):
    """Each difficulty cell: clean accuracy reached, both gaps and their difference (points ± standard error over
    its seeds) and its verdict (MyST markdown); None without a record that has the cells."""
    rec = cells_record(recs)
    if rec is None:
        return None
    lines = ["| data | training eps | width | clean accuracy | leak gap | control's gap | leak minus control | "
             "verdict |", "|---|---|---|---|---|---|---|---|"]
    names = dataset_names(recs)
    for c in rec["series"]["cells"]:
        n = cell_numbers(c, rec["series"]["n_test"])
        lines.append(f"| {names[c['dataset']]} | {c['eps']:g}/255 | {c['width']} | "
                     f"{100 * n['clean'].value:.1f}% ± {100 * n['clean'].se:.1f}"
                     + (f" ({n['left_out']} of {n['n_seeds']} seeds left out: {nets_words(arms_never_learned(c))} "
                        "never learned)" if n["left_out"] else "") + f" | {points(n['leak'])} | "
                     f"{points(n['control'])} | {points(n['difference'])} | {cell_verdict(n)}"
                     + (" (one net: it speaks for that net alone)" if n["n_seeds"] - n["left_out"] == 1 < n["n_seeds"]
                        else "") + " |")
    return figures.Table("\n".join(lines))


DATASET_COLOURS = {"mnist": "#1b7837", "fashion_mnist": "#1f4e9c", "cifar10": figures.PAPER_COLOR}


def cells_figure(recs):
    """The conjecture's own picture: each difficulty cell's leak gap (filled) and its control's gap (hollow, joined
    to it) against the clean accuracy its true-label nets reached, one colour per dataset, the training eps written
    beside each point; cells that never learned as grey crosses. None without a record that has the cells."""
    rec = cells_record(recs)
    if rec is None:
        return None
    fig, ax = plt.subplots(figsize=(11, 5.5), facecolor="white")
    ax.axhline(0.0, color="black", lw=0.8)
    shown, names = set(), dataset_names(recs)
    for c in rec["series"]["cells"]:
        n = cell_numbers(c, rec["series"]["n_test"])
        x, leak, control = 100 * n["clean"].value, n["leak"], n["control"]
        if not n["learned"]:
            ax.plot(x, 100 * leak.value, "x", color="grey", ms=9,
                    label=None if "never" in shown else f"never learned (clean at most {LEARNS:.0%})")
            shown.add("never")
        else:
            colour, name = DATASET_COLOURS[c["dataset"]], names[c["dataset"]]
            ax.plot([x, x], [100 * control.value, 100 * leak.value], color=colour, lw=0.8, alpha=0.6)
            ax.errorbar(x, 100 * control.value, yerr=100 * control.se, fmt="o", mfc="white", color=colour, ms=7,
                        capsize=3)
            ax.errorbar(x, 100 * leak.value, yerr=100 * leak.se, fmt="o", color=colour, ms=7, capsize=3,
                        label=None if name in shown else f"{name}: true-label gap (hollow: its control)")
            shown.add(name)
        # a dataset's cells sit close together: each eps's label one line above the last, so none hide another
        k = sorted(d["eps"] for d in rec["series"]["cells"] if d["dataset"] == c["dataset"]).index(c["eps"])
        ax.annotate(f"{c['eps']:g}", (x, 100 * leak.value), xytext=(7, -8 + 11 * k), textcoords="offset points",
                    fontsize=9)
    ax.set_xlabel("clean test accuracy of the true-label nets, % (lower: a harder problem)")
    ax.set_ylabel("FGSM minus clean accuracy (points)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()  # the datasets first, the nets that never learned last
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("never"))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=9, loc="best")
    ax.set_title("Does the leak grow as the problem gets harder? Each difficulty cell, mean over its seeds ± standard "
                 "error\n(the number beside a point: its training eps, which is also its test eps, 0-255 scale)",
                 fontsize=10)
    fig.tight_layout()
    return fig


def cells_summary(rec):
    """The blog's conjecture, asked of the cells, as a structured verdict. Difficulty is the clean accuracy each
    dataset's learning cells reach (lower: harder). "grows": the mean leak gap of the hardest dataset minus the
    easiest's, over the training eps where both learned (an Estimate, judged by the noise rule); "mnist": whether
    any MNIST cell leaks, and beyond its control; with three datasets, each step between them (cells_steps). Case
    "no_cells" without the cells, "too_few" where fewer than two datasets learned at a common eps."""
    if rec is None:
        return {"case": "no_cells"}
    n_test = rec["series"]["n_test"]
    numbers = {(c["dataset"], c["eps"]): cell_numbers(c, n_test) for c in rec["series"]["cells"]}
    learning = {k: v for k, v in numbers.items() if v["learned"]}
    datasets = list(dict.fromkeys(d for d, _ in numbers))
    per_dataset = {}
    for d in datasets:
        cells = [v for (name, _), v in learning.items() if name == d]
        per_dataset[d] = {"n_cells": sum(name == d for name, _ in numbers), "n_learned": len(cells),
                          "clean": sum(v["clean"].value for v in cells) / len(cells) if cells else None,
                          "n_leaking": sum(v["leak"].is_effect and v["leak"].value > 0 for v in cells),
                          "n_beyond_control": sum(cell_verdict(v) == "leaks, beyond the control" for v in cells),
                          "seeds_left_out": sum(v["left_out"] for v in cells),
                          "seeds": sum(v["n_seeds"] for v in cells)}
    ranked = sorted((d for d in datasets if per_dataset[d]["clean"] is not None), key=lambda d: per_dataset[d]["clean"])
    out = {"case": "too_few", "per_dataset": per_dataset, "n_cells": len(numbers), "n_learned": len(learning),
           "learning": learning}  # each learning cell's numbers, which the words name
    if "mnist" in per_dataset:
        m = per_dataset["mnist"]
        out["mnist"] = ("never_learned" if not m["n_learned"] else "beyond_control" if m["n_beyond_control"] else
                        "leaks_control_too" if m["n_leaking"] else "no_leak")
    else:
        out["mnist"] = "not_run"
    if len(ranked) < 2:
        return out
    hard, easy = ranked[0], ranked[-1]
    common = common_eps(learning, (hard, easy))
    if not common:
        return out
    change = stats.combined([(1 / len(common), learning[(hard, e)]["leak"]) for e in common]
                            + [(-1 / len(common), learning[(easy, e)]["leak"]) for e in common])
    out.update({"case": "answered", "hard": hard, "easy": easy, "eps": common, "change": change,
                "grows": ("harder_leaks_more" if change.is_effect and change.value > 0 else
                          "easier_leaks_more" if change.is_effect else "unclear")})
    out.update(cells_steps(learning, ranked))
    return out


def common_eps(learning, datasets):
    """The training eps, in order, at which every one of `datasets` has a cell whose nets learned."""
    return sorted(set.intersection(*({e for d, e in learning if d == name} for name in datasets)))


def cells_steps(learning, ranked):
    """The conjecture step by step, beyond its two ends: at each training eps where every dataset of `ranked`
    (easiest last) learned, the leak gap (FGSM minus clean accuracy) of each dataset minus that of the next easier
    one, an Estimate each. "steps_case": "every_step" where each step is a rise beyond noise, "reversed" where
    some harder dataset's gap is lower than an easier one's beyond noise (which need not mean it leaks less: where
    neither leaks, the attack wins by more), "partly" otherwise; "not_answered" with fewer than three datasets or
    no eps where all of them learned."""
    if len(ranked) < 3:
        return {"steps_case": "not_answered"}
    common = common_eps(learning, ranked)
    if not common:
        return {"steps_case": "not_answered"}
    steps = [(e, easier, harder, stats.combined([(1, learning[(harder, e)]["leak"]),
                                                 (-1, learning[(easier, e)]["leak"])]))
             for e in common for easier, harder in zip(ranked[::-1], ranked[-2::-1])]  # easiest first
    rises = [est.is_effect and est.value > 0 for *_, est in steps]
    case = ("every_step" if all(rises) else
            "reversed" if any(est.is_effect and est.value < 0 for *_, est in steps) else "partly")
    return {"steps_case": case, "steps": steps, "steps_eps": common}


def arms_never_learned(cell):
    """How many of a difficulty cell's nets never learned, arm by arm: {"true": count, "predicted": count}."""
    return {kind: sum(not learned(s[kind]["clean_acc"]) for s in cell["seeds"]) for kind in ATTACKS}


def nets_words(counts):
    """'4 true-label nets (no control)' or '1 true-label net and 1 control', from arms_never_learned's counts."""
    def n(k, name):
        return f"no {name}" if not k else f"{k} {name}{'s' if k > 1 else ''}"

    if not counts["predicted"]:
        return f"{n(counts['true'], 'true-label net')} (no control)"
    if not counts["true"]:
        return f"{n(counts['predicted'], 'control')} (no true-label net)"
    return f"{n(counts['true'], 'true-label net')} and {n(counts['predicted'], 'control')}"


def cells_words(rec):
    """{glue name: value} for the notebook's paragraphs on the cells (their cases pick the paragraphs)."""
    v = cells_summary(rec)
    out = {"cells_case": v["case"], "cells_mnist_case": v.get("mnist", "not_run"), "cells_learns": LEARNS,
           "cells_grows_case": v.get("grows", "not_answered"),
           "cells_steps_case": v.get("steps_case", "not_answered")}
    if v["case"] == "no_cells":
        out["cells_reading"] = ("No record with the difficulty cells is committed yet; `leaklab compute "
                                "leak_conditions --profile full` makes one.")
        return out

    def summary(d, row):
        if not row["n_learned"]:
            return (f"{DATASET_NAMES[d]}: no net learned (clean accuracy at most {LEARNS:.0%}) in "
                    + ("its one cell" if row["n_cells"] == 1 else f"its {row['n_cells']} cells"))
        left_out = row["seeds_left_out"]
        # which arm's nets never learned, eps by eps: the seeds left out are chosen by it
        where = [f"at {e:g}/255 {nets_words(arms[(name, e)])}" for name, e in arms if name == d]
        return (f"{DATASET_NAMES[d]}: clean {row['clean']:.1%} on average over the {row['n_learned']} of its "
                f"{row['n_cells']} cells whose nets learn, {row['n_leaking']} leaking, {row['n_beyond_control']} "
                "beyond the control" + (f" ({left_out} of their {row['seeds']} seeds left out: "
                                        + ", ".join(where) + " never learned)" if left_out else ""))

    # the nets that never learned beside their seed's other net, in the cells that learned, arm by arm
    arms = {(c["dataset"], c["eps"]): arms_never_learned(c) for c in rec["series"]["cells"]
            if (c["dataset"], c["eps"]) in v["learning"] and v["learning"][(c["dataset"], c["eps"])]["left_out"]}
    total = {kind: sum(a[kind] for a in arms.values()) for kind in ATTACKS}
    arms_note = ("" if not arms else
                 f" In all, {nets_words(total)} never learned beside their seed's other net. Each cell's gaps are "
                 "over its seeds where both nets learned, so they are conditioned on learning: where one arm's nets "
                 "fail more often than the other's, that is a difference between the arms which the gaps leave "
                 "out.")
    # the control's own gap above zero beyond noise: FGSM images easier without the label in the attack
    easier = [f"{DATASET_NAMES[d]} at {e:g}/255 ({points(n['control'])} points)" for (d, e), n in v["learning"].items()
              if n["control"].is_effect and n["control"].value > 0]
    control_note = ("" if not easier else
                    " The predicted-label control's own gap is above zero beyond noise in "
                    + stats.listed(easier) + ": " + CONTROL_EASIER_TOO)

    widths = {}
    for c in rec["series"]["cells"]:
        widths.setdefault(c["dataset"], set()).add(c["width"])
    # CIFAR-10 needs a wider net to learn: then a comparison across datasets changes the width too, and says so
    width_note = ("" if len({w for ws in widths.values() for w in ws}) < 2 else
                  " The datasets' nets differ in width as well as in difficulty (" + ", ".join(
                      f"{DATASET_NAMES[d]} {' and '.join(str(w) for w in sorted(ws))}" for d, ws in widths.items())
                  + "), so a comparison across them changes both.")
    out["cells_reading"] = ("By the noise rule (Student's t for the seeds of each cell): "
                            + "; ".join(summary(d, row) for d, row in v["per_dataset"].items()) + "." + arms_note
                            + control_note + width_note)
    if v["case"] == "answered":
        out.update({"cells_hard": DATASET_NAMES[v["hard"]], "cells_easy": DATASET_NAMES[v["easy"]],
                    "cells_common_eps": ", ".join(f"{e:g}/255" for e in v["eps"]),
                    "cells_change_words": v["change"].words(more="seeds per cell")})
    if v.get("steps"):
        def step(eps, easier, harder, est):
            verdict = "more" if est.is_effect else "not more"
            cells = [v["learning"][(d, eps)] for d in (harder, easier)]
            leaking = [c["leak"].is_effect and c["leak"].value > 0 for c in cells]
            notes = ["neither cell leaks" if not any(leaking) else ""] + [
                f"the {DATASET_NAMES[d]} cell rests on one net" for d, c in zip((harder, easier), cells)
                if c["leak"].n_seeds == 1 < c["n_seeds"]]
            return (f"{est.text()} ({verdict} than {est.critical_line} its standard error from zero"
                    + "".join(f"; {n}" for n in notes if n) + ")")

        by_eps = [f"at {e:g}/255, " + ", ".join(f"{DATASET_NAMES[harder]} minus {DATASET_NAMES[easier]} "
                                                 f"{step(eps, easier, harder, est)}"
                                                 for eps, easier, harder, est in v["steps"]
                                                 if eps == e) for e in v["steps_eps"]]
        out["cells_steps_words"] = "; ".join(by_eps)
        # does any step where the harder dataset's gap is lower beyond noise involve a cell that leaks?
        reversed_leaking = [
            (eps, harder, easier) for eps, easier, harder, est in v["steps"] if est.is_effect and est.value < 0
            and any(v["learning"][(d, eps)]["leak"].is_effect and v["learning"][(d, eps)]["leak"].value > 0
                    for d in (harder, easier))]
        out["cells_reversal_lead"] = (
            "No reversal involves a cell that leaks: where a harder dataset's gap is lower beyond noise, neither "
            "cell's FGSM images are easier than its clean ones." if not reversed_leaking else
            "A reversal involves a cell that leaks (" + "; ".join(
                f"{DATASET_NAMES[h]} below {DATASET_NAMES[e]} at {eps:g}/255" for eps, h, e in reversed_leaking)
            + "): there a harder problem leaks less, against the conjecture.")
    return out


# --- the four attack labels on the leaking setting (issue 22) ----------------------------------------------

LABELS = attacks.ATTACK_LABELS


def label_numbers(table, n_test):
    """{(trained with, attacked with): the gap over seeds, an Estimate}."""
    out = {}
    for trained, rows in table["trained"].items():
        for attacked in rows[0]["attacked"]:
            out[(trained, attacked)] = gap_estimate([r["attacked"][attacked] for r in rows])
    return out


def label_record(recs, dataset=None):
    """The four-label tables of `recs` (on `dataset` when given), pooled (`pooled`: those of the first one's
    setting), or None."""
    return pooled([r for r in (recs or []) if "label_table" in r["series"]
                   and dataset in (None, r["params"]["dataset"])], "label_table")


def label_table(rec):
    """One record's four-label table: the gap (FGSM minus clean accuracy, points ± standard error over seeds) of
    models trained with each attack label (rows) under FGSM with each label (columns); a star marks a gap beyond
    its critical line."""
    numbers = label_numbers(rec["series"]["label_table"], rec["series"]["n_test"])
    trained = [t for t in LABELS if t in rec["series"]["label_table"]["trained"]]  # records store keys sorted
    lines = ["| trained with \\ attacked with | " + " | ".join(f"{LABEL_NAMES[a]} label" for a in LABELS) + " |",
             "|---|" + "---|" * len(LABELS)]
    for t in trained:
        cells = [points(numbers[(t, a)]) + (" *" if numbers[(t, a)].is_effect else "") for a in LABELS]
        lines.append(f"| {LABEL_NAMES[t]} label | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def label_setting(rec):
    """'Fashion-MNIST, width 8, trained at eps 76.5/255 and attacked at 76.5/255, 5 seeds a label': where a
    record's four-label table was made."""
    p, table = rec["params"], rec["series"]["label_table"]
    return (f"{DATASET_NAMES[p['dataset']]}, width {p['width']}, trained at eps {p['train_eps']:g}/255 and attacked "
            f"at {table['eps']:g}/255, {len(table['trained']['true'])} seeds a label")


def label_tables(recs, variants=()):
    """The four-label table of the paper-scale records, then the same table from each variant record that has
    one (the leak's other dataset), each headed by where it was made, a variant's with its provenance (MyST
    markdown). None without any."""
    headline, rest, shown_variants = label_record(recs), list(variants or []), []
    while label_record(rest):  # each setting's tables pooled, each with the records that made it
        table = label_record(rest)
        shown_variants.append(table)
        rest = [r for r in rest if not any(r is made for made in table["pooled_from"])]
    shown = ([(headline, "")] if headline else []) + [
        (r, "\n\nMade by:\n\n" + "\n".join(paper_scale.provenance_lines(r["pooled_from"])))
        for r in shown_variants]
    if not shown:
        return None
    legend = ("Each entry: FGSM minus clean accuracy, points ± standard error over the seeds; * marks a gap beyond "
              "its standard error times Student's t for its seeds (the noise rule).")
    return figures.Table("\n\n".join([*(f"**{label_setting(r)}**\n\n{label_table(r)}{made}" for r, made in shown),
                                       legend]))


def leaking_cell(rec, dataset):
    """The cell of `dataset` whose leak exceeds its control's by the most, among those that do beyond noise (the
    setting to run the four-label table on); None where none does or without cells."""
    if rec is None:
        return None
    n_test = rec["series"]["n_test"]
    judged = [(cell_numbers(c, n_test), c) for c in rec["series"]["cells"] if c["dataset"] == dataset]
    found = [(numbers["difference"].value, c) for numbers, c in judged
             if cell_verdict(numbers) == "leaks, beyond the control"]
    return max(found, key=lambda pair: pair[0])[1] if found else None


def label_words(rec, prefix="", missing="No record with the four-label table is committed yet; `leaklab compute "
                                        "leak_conditions --profile full` makes one."):
    """{glue name: value} for the paragraphs on which attack labels leak, each name after `prefix`: each label's
    own leak (trained and attacked with it) in words, and a case for least-likely and for random ("leaks",
    "no_leak", "attack_wins"; "not_run" without a table, where `missing` says why). The question is whether a
    label leaks where the true label does: where the table's own true-label leak is not beyond noise, the
    least-likely case is "true_quiet"."""
    if rec is None:
        return {f"{prefix}labels_case": "no_table", f"{prefix}least_likely_case": "not_run",
                f"{prefix}random_case": "not_run", f"{prefix}label_reading": missing,
                f"{prefix}least_likely_words": ""}
    numbers = label_numbers(rec["series"]["label_table"], rec["series"]["n_test"])

    def case(label):
        e = numbers.get((label, label))
        return "not_run" if e is None else ("leaks" if e.value > 0 else "attack_wins") if e.is_effect else "no_leak"

    own = "; ".join(f"{LABEL_NAMES[label]} label {numbers[(label, label)].words(more='seeds')}" for label in LABELS
                    if (label, label) in numbers)
    own_words = {label: numbers[(label, label)].words(more="seeds") for label in ("true", "least_likely")
                 if (label, label) in numbers}
    return {f"{prefix}labels_case": "answered", f"{prefix}random_case": case("random"),
            f"{prefix}least_likely_case": case("least_likely") if case("true") == "leaks" else "true_quiet",
            # the least-likely model's own leak beside the true-label model's, for the paragraph on the open question
            f"{prefix}least_likely_words": (f"{own_words['least_likely']}, where the true-label model's is "
                                            f"{own_words['true']}" if len(own_words) == 2 else ""),
            f"{prefix}label_reading": f"On {label_setting(rec)}, each label's own leak (trained and attacked with "
                                      f"it): {own}."}


def cifar_label_words(variants, cells_rec):
    """label_words for CIFAR-10's four-label table (a variant record); without one, what the cells say about
    running it: where CIFAR-10 leaks beyond its control, the command that makes it there on fresh seeds."""
    cell = leaking_cell(cells_rec, "cifar10")
    if cells_rec is None:
        missing = ("Whether CIFAR-10 leaks, and so whether its four-label table is worth making, waits for the "
                   "difficulty cells of the full profile.")
    elif cell is None:
        missing = ("No CIFAR-10 cell leaks beyond its predicted-label control, so there is no leaking CIFAR-10 "
                   "setting to ask the four-label question on.")
    else:
        missing = (f"CIFAR-10 leaks beyond its control in the cells (most at eps {cell['eps']:g}/255); its "
                   "four-label table is not committed yet. On seeds the cells did not use, `leaklab compute "
                   f"leak_conditions --profile full -p dataset=cifar10 -p width={cell['width']} -p train_eps="
                   f"{cell['eps']:g} -p seed=2000 -p map_eps_points=0 -p cells_seeds=0` makes it (20 CIFAR-10 "
                   "trainings: about 40 minutes on a 2-core CPU with bf16 units, two hours on one without).")
    return label_words(label_record(variants, "cifar10"), "cifar_", missing)
