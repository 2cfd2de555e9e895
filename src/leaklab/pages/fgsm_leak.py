"""The fgsm_leak page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.fgsm_leak`."""

import math
from types import SimpleNamespace

import matplotlib.pyplot as plt

from .. import data, experiments, records, stats
from ..fgsm_leak import ATTACKS, as_trained_batch, fgsm_step, loss_shape, model_from_record, moved_along
from . import figures, paper_scale, widgets


PAIR = "this one pair of trained models"  # a difference between two models of one seed

NAMES = {"true": "true", "predicted": "predicted", "least_likely": "least-likely", "random": "random"}


def paper_loss_points():
    """The blog's loss curve as three points read off its figure (experiments' loss metrics): its start, its peak
    and its end, (eps on the 0-255 scale, mean test cross-entropy)."""
    exp = experiments.get("fgsm_leak")
    paper = {k: exp.metrics[k].paper for k in ("loss_eps0", "loss_rise", "loss_peak_eps", "loss_drop")}
    return [(0.0, paper["loss_eps0"]), (paper["loss_peak_eps"], paper["loss_eps0"] + paper["loss_rise"]),
            (exp.profiles["full"]["eps_max"], paper["loss_eps0"] + paper["loss_drop"])]


PAPER_LOSS_POINTS = paper_loss_points()


def _trained(recs):
    """{attack label: the seeds' model dicts that trained a model with it}, over all records, in ATTACKS
    order (a record may hold any subset of the four labels)."""
    seeds = [s["models"] for r in recs for s in r["series"]["seeds"]]
    return {k: [m for m in seeds if k in m] for k in ATTACKS if any(k in m for m in seeds)}


def table(recs):
    """Trained-with x attacked-with accuracy at eval_eps, beside clean accuracy: means over all seeds
    (MyST markdown; each model's own attack in bold)."""
    if not recs:
        return None
    trained = _trained(recs)
    attacked = {k: {a: records.mean_sd(m[k]["attacked"][a] for m in ms)[0] for a in ATTACKS}
                for k, ms in trained.items()}
    clean = {k: records.mean_sd(m[k]["clean_acc"] for m in ms)[0] for k, ms in trained.items()}
    lines = ["| trained with | clean | " + " | ".join(f"attack: {NAMES[a]}" for a in ATTACKS)
             + " | own attack minus clean (points) |", "|---" * (len(ATTACKS) + 3) + "|"]
    for k in trained:
        lines.append(f"| {NAMES[k]} | {clean[k]:.2%} | " + " | ".join(
            (f"**{attacked[k][a]:.2%}**" if a == k else f"{attacked[k][a]:.2%}") for a in ATTACKS)
            + f" | {100 * (attacked[k][k] - clean[k]):+.2f} |")
    return figures.Table("\n".join(lines))


def mean_curve(curves, key):
    """The mean over `curves` (along_fgsm's, on one eps grid) of their `key` ("loss" or "acc") at each eps."""
    return [records.mean_sd(c[key][i] for c in curves)[0] for i in range(len(curves[0][key]))]


def mean_losses(recs):
    """{attack label: mean test loss at each eps of the curve} over the seeds that trained with it."""
    return {k: mean_curve([m[k]["curve"] for m in ms], "loss") for k, ms in _trained(recs).items()}


def loss_figure(recs):
    if not recs:
        return None
    losses = mean_losses(recs)
    return figures.loss_curves(recs[0]["series"]["eps"],
                               {f"trained with {NAMES[k]}-label FGSM": v for k, v in losses.items()},
                               "Test cross-entropy along the true-label FGSM direction", PAPER_LOSS_POINTS)


def true_histories(recs):
    """{seed: per-epoch training history} of each true-label model the records hold with one."""
    return {seed["seed"]: seed["models"]["true"]["history"] for r in recs for seed in r["series"]["seeds"]
            if seed["models"].get("true", {}).get("history")}


def history_figure(recs):
    """The paper-scale true-label models' mean training loss, epoch by epoch, beside a uniform guess's; None
    without such a model. The loss mixes clean and FGSM images, as training does."""
    histories = true_histories(recs)
    if not histories:
        return None
    share = recs[0]["params"]["adv_share"]
    n_classes = len(data.CLASSES["cifar10"])
    return figures.training_curves(
        {f"seed {seed}": ([h["epoch"] for h in history], [h["loss"] for h in history])
         for seed, history in histories.items()},
        f"Training loss of the true-label models ({share:.0%} of every batch FGSM images)",
        math.log(n_classes), f"a uniform guess over the {n_classes} classes (ln {n_classes})")


def as_trained_models(recs):
    """The true-label models (each seed's model dict) that the records measured under the step computed as their
    training computed it (fgsm_leak.measured_as_trained)."""
    return [s["models"]["true"] for r in recs for s in r["series"]["seeds"]
            if "as_trained" in s["models"].get("true", {})]


def as_trained_figure(recs):
    """The true-label models' mean accuracy and loss along the true-label FGSM step computed in eval mode (the
    standard evaluation, as everywhere above) and as their training computed it, beside the blog's numbers; None
    without a model measured both ways."""
    measured = as_trained_models(recs)
    if not measured:
        return None
    eps, exp = measured[0]["curve"]["eps"], experiments.get("fgsm_leak")
    steps = {"step in eval mode (BatchNorm's running statistics)": [m["curve"] for m in measured],
             "step as trained (each batch's own statistics)": [m["as_trained"]["curve"] for m in measured]}
    blog_acc = [(0.0, exp.metrics["clean_acc"].paper),
                (exp.profiles["full"]["eval_eps"], exp.metrics["fgsm_acc"].paper)]
    noise = [m["as_trained"]["noise_acc"] for m in measured if "noise_acc" in m["as_trained"]]
    baseline = noise and ("random signs of the same size", exp.profiles["full"]["eval_eps"], sum(noise) / len(noise))
    return figures.along_eps(eps, {name: (mean_curve(c, "acc"), mean_curve(c, "loss")) for name, c in steps.items()},
                             "True-label models along the true-label FGSM step, computed two ways", blog_acc,
                             PAPER_LOSS_POINTS, baseline)


def as_trained_control(recs):
    """Per seed that has both a true-label model and the predicted-label control measured under the true-label step
    computed in training mode, in one record or two (scored on the same test images): the control's FGSM accuracy
    and FGSM minus clean under that step, and the true-label model's gap minus the control's, each with its error
    taken image by image. [] without such a pair."""
    answers = {}  # (test data, seed) -> {label: (right under the step as trained, right on clean images)}
    for r in recs:
        kept, n = records.kept_arrays(r), r["series"]["n_test"]
        for s in r["series"]["seeds"]:
            for label in ("true", "predicted"):
                keys = [f"seed{s['seed']}_{label}_{scored}_correct" for scored in ("true_as_trained", "clean")]
                if label in s["models"] and all(k in kept for k in keys):
                    answers.setdefault((tuple(r["data"]["sha256"]), s["seed"]), {})[label] = tuple(
                        records.unpacked_bits(kept[k], n) for k in keys)
    rows = []
    for (_, seed), pair in sorted(answers.items(), key=lambda item: item[0][1]):
        if set(pair) == {"true", "predicted"}:
            (true_attacked, true_clean), (control_attacked, control_clean) = pair["true"], pair["predicted"]
            rows.append({"seed": seed, "control_acc": control_attacked.mean(),
                         "control_gap": control_attacked.mean() - control_clean.mean(),
                         "control_gap_se": stats.paired_gap_se(control_attacked, control_clean),
                         "excess": (true_attacked.mean() - true_clean.mean())
                         - (control_attacked.mean() - control_clean.mean()),
                         "excess_se": stats.paired_combination_se(list(zip(
                             (1, -1, -1, 1), (true_attacked, true_clean, control_attacked, control_clean))))})
    return rows


def as_trained_control_words(recs, whole):
    """The predicted-label control under the true-label step computed in training mode, for the paragraph that
    names it as the test of our reading (`as_trained_control`)."""
    rows = as_trained_control(recs)
    if not rows:
        return "no committed record holds that control measured so yet"
    acc = records.mean_sd(r["control_acc"] for r in rows)[0]
    return (f"the control ({stats.seeds_text(len(rows))}) scores {acc:.2%} under that step, FGSM minus clean "
            f"{stats.stored(rows, 'control_gap').words(all_images=whole)}; the true-label model's gap minus the "
            f"control's is {stats.stored(rows, 'excess').words(all_images=whole, one=PAIR)}")


def as_trained_words(recs):
    """The paper-scale true-label models under the step computed as their training computed it, beside the
    standard evaluation's step and the blog's number: FGSM accuracy, FGSM minus clean and true minus predicted
    label with their paired errors, and how often the two steps agree in sign; `full_as_trained_case` picks the
    paragraph after it (none, leaks, within_noise, attack_wins)."""
    measured = [r for r in recs if any(row.get("leak_gap_as_trained") is not None for row in r["per_seed"])]
    rows = [row for r in measured for row in r["per_seed"] if row.get("leak_gap_as_trained") is not None]
    if not rows:
        return {"full_as_trained_case": "none", "full_as_trained_words": "", "full_as_trained_models": "",
                "full_as_trained_control_words": ""}
    exp, n_test = experiments.get("fgsm_leak"), records.n_test(measured[0])
    p, whole, one = measured[0]["params"], n_test >= data.TEST_SET_SIZE, len(rows) == 1
    gap, advantage = (stats.stored(rows, key) for key in ("leak_gap_as_trained", "label_advantage_as_trained"))
    as_trained = stats.accuracy(rows, "fgsm_acc_as_trained", n_test)
    mean = {key: records.mean_sd(row[key] for row in rows)[0]
            for key in ("fgsm_acc", "fgsm_acc_as_trained", "label_advantage_as_trained", "step_sign_agreement")}
    blog = exp.metrics["fgsm_acc"].paper
    shapes = [loss_shape(m["as_trained"]["curve"]) for m in as_trained_models(measured)]
    later = {what: [r["provenance"][key] for r in measured if key in r.get("provenance", {})]
             for what, key in (("This was", "as_trained_added"), ("The random-sign baseline was", "noise_added"))}
    text = (f"Computed in training mode, as {'its' if one else 'their'} training attack computes it, with BatchNorm "
            f"normalizing batches of {as_trained_batch(SimpleNamespace(**p))} test images by their own "
            f"statistics, the true-label step leaves {'the model' if one else f'the {len(rows)} models'} at "
            f"{as_trained.text('{:.2f}', '%')} on FGSM images at ε = {p['eval_eps']:g}/255, against "
            f"{mean['fgsm_acc']:.2%} for the step computed in eval mode and the blog's {blog:.2%}. FGSM minus clean "
            f"is then {gap.words(all_images=whole)}. The same step with the label the network predicts in training "
            f"mode in place of the true one gives "
            f"{mean['fgsm_acc_as_trained'] - mean['label_advantage_as_trained']:.2%}: true minus that label is "
            f"{advantage.words(all_images=whole)}. The step computed with the batch's statistics "
            f"and the one computed with the running statistics agree in sign on {mean['step_sign_agreement']:.1%} "
            "of the pixels, where two unrelated sign patterns would agree on half."
            + noise_words(rows, whole) + " Along the step as trained, the "
            f"mean test loss starts at {records.mean_sd(r['loss_eps0'] for r in shapes)[0]:.3f}; "
            f"{loss_rise_words(shapes, whole)}; the end minus the start is "
            f"{stats.stored(shapes, 'loss_drop').words('{:+.3f}', '', 1, all_images=whole)} (the blog's: about "
            f"{exp.metrics['loss_drop'].paper:+.2f})."
            + "".join(f" {what} measured after the record was made, at commit `{m['git_commit'][:7]}`, from "
                      f"{m['model']}." for what, added in later.items() for m in added))
    return {"full_as_trained_case": "leaks" if gap.is_effect and gap.value > 0 else
            "attack_wins" if gap.is_effect else "within_noise", "full_as_trained_words": text,
            "full_as_trained_models": "this one trained model" if one else f"these {len(rows)} models",
            "full_as_trained_control_words": as_trained_control_words(recs, whole)}


def noise_words(rows, whole):
    """The random-sign baseline beside both labels' steps as trained, for the seeds' rows that measured it ('' for
    none: records measured before it existed)."""
    noise = [row for row in rows if row.get("noise_acc") is not None]
    if not noise:
        return ""
    which = "" if len(noise) == len(rows) else f" (the {len(noise)} of them measured so)"
    gaps = [stats.stored(noise, key) for key in ("noise_gap", "true_as_trained_over_noise",
                                                 "predicted_as_trained_over_noise")]
    if all(g.one_model and g.is_effect for g in gaps):  # one verdict for the three, not three times the same clause
        said, verdict = [g.text() for g in gaps], (f" (each beyond {stats.Z:g} standard errors of zero on its test "
                                                   "images, for this one trained model)")
    else:
        said, verdict = [g.words(all_images=whole) for g in gaps], ""
    return (f" Random signs of the same size, which carry neither a label nor the model's gradient, leave "
            f"{'it' if len(noise) == 1 else 'them'}{which} at {records.mean_sd(r['noise_acc'] for r in noise)[0]:.2%}, "
            f"{said[0]} from clean; against that baseline, the true-label step as trained is {said[1]} and the "
            f"predicted-label step as trained {said[2]}{verdict}.")


# the slider's two ways of computing the step: {name shown: as FGSM training computes it?}
SLIDER_STEPS = {"in eval mode": False, "as trained": True}
SHOWN = 8  # images the slider shows


MAX_FRAMES = 25  # about the most frames per step the static slider gets: each is a PNG inlined in the page


def frame_indices(eps, keep):
    """The eps of the curve the static slider has frames at: every k-th, about MAX_FRAMES of them at most, with the
    last and `keep` among them."""
    stride = math.ceil(len(eps) / MAX_FRAMES)
    return sorted(set(range(0, len(eps), stride)) | {len(eps) - 1, eps.index(keep)})


def slider_step(model, images, labels, mode):
    """The true-label FGSM step of the first SHOWN `images`, computed as SLIDER_STEPS[mode] says: as trained, on all
    of `images` as one training-sized batch; in eval mode each image's step is its own, so the shown ones suffice."""
    as_trained = SLIDER_STEPS[mode]
    batch = slice(None) if as_trained else slice(SHOWN)
    return fgsm_step(model, images[batch], labels[batch], as_trained=as_trained)[:SHOWN]


def slider_frames(model, images, labels, eps, loss, classes=None, paper_points=PAPER_LOSS_POINTS, mode="in eval mode",
                  at=None):
    """The static slider's frames: the first SHOWN `images` attacked with true-label FGSM by `model` at the eps of
    the curve (`eps`, `loss`) whose indices `at` gives (all by default; one step for all of them, `slider_step`),
    above that curve with the eps marked."""
    classes = classes or data.CLASSES["cifar10"]
    at = range(len(eps)) if at is None else at
    step = slider_step(model, images, labels, mode)
    labels = labels[:SHOWN]
    adv, predicted, p_true = moved_along(model, images[:SHOWN], labels, step, [eps[i] for i in at])
    frames = []
    for k, i in enumerate(at):
        e = eps[i]
        fig = figures.fgsm_frame(adv[k], predicted[k], labels, p_true[k], classes, e, eps, loss, paper_points, mode)
        right = int((predicted[k] == labels).sum())
        frames.append({"value": f"{e:g}", "png": figures.png_bytes(fig),
                       "caption": f"eps = {e:g}/255: <b>{right}/{len(labels)}</b> right; mean test loss "
                                  f"{loss[i]:.3f} (at eps 0: {loss[0]:.3f}); step computed {mode}"})
        plt.close(fig)
    return frames


def slider_records(recs, record):
    """The records whose model the slider attacks, and whether they are the committed paper-scale ones (those that
    keep a model) rather than this run's."""
    with_model = [r for r in recs if ".pt" in r["files"]]
    return (with_model, True) if with_model else ([record], False)


def show_eps_slider(model, test, eps, losses, initial, batch, classes=None, paper_points=PAPER_LOSS_POINTS,
                    eps_max=16.0, increment=0.25):
    """Display the static slider over the first SHOWN `test` images attacked by `model` at each eps of the curve
    (`eps`), with a choice of how the step is computed: {SLIDER_STEPS name: the mean loss along that step} in
    `losses` (the step as trained is computed on the first `batch` test images, the batch the record's measurement
    computed it on); start at eps `initial`. Return what `live_slider` needs to attack them at any eps up to
    `eps_max`, in steps of `increment`."""
    from IPython.display import display

    images, labels = test.images[:batch], test.labels[:batch]
    classes = classes or data.CLASSES["cifar10"]
    at = frame_indices(eps, initial)
    frames = {f"step {mode}": slider_frames(model, images, labels, eps, loss, classes, paper_points, mode, at)
              for mode, loss in losses.items()}
    display(widgets.frame_slider(frames, "eps", initial=at.index(eps.index(initial))))
    return {"model": model, "images": images, "labels": labels, "classes": classes,
            "eps": eps, "losses": losses, "paper_points": paper_points, "eps_max": eps_max, "increment": increment}


def control_excess(record):
    """Per seed that trained both, the true-label model's gap under true-label FGSM minus the predicted-label
    control's gap under the same attack, with its error taken image by image (all four scores are on the same test
    images): what training with the true label adds to the gap, the leak_conditions chapter's measure. [] for a
    record without both models or their per-image answers."""
    arrays, n = records.kept_arrays(record), record["series"]["n_test"]
    rows = []
    for row in record["per_seed"]:
        keys = [f"seed{row['seed']}_{model}_{scored}_correct" for model in ("true", "predicted")
                for scored in ("true", "clean")]
        if row.get("leak_gap") is None or row.get("leak_gap_predicted") is None or not all(k in arrays for k in keys):
            continue
        right = [records.unpacked_bits(arrays[k], n) for k in keys]
        rows.append({"excess": (right[0].mean() - right[1].mean()) - (right[2].mean() - right[3].mean()),
                     "excess_se": stats.paired_combination_se(list(zip((1, -1, -1, 1), right)))})
    return rows


def words(p, record, recs=()):
    """{glue name: value or Markdown text} for the prose about this run (and the paper-scale records: `full_words`)."""
    exp = experiments.get("fgsm_leak")
    rows, paper = record["per_seed"], {k: m.paper for k, m in exp.metrics.items()}
    keys = {k: "leak_gap" if k == "true" else f"leak_gap_{k}" for k in ATTACKS}
    gaps = {k: stats.stored([r for r in rows if r[key] is not None], key) for k, key in keys.items()
            if any(r[key] is not None for r in rows)}
    note = experiments.scale_note("fgsm_leak", p)
    blog = exp.profiles["full"]  # the blog's attack law
    magnified = (p.adv_share, p.train_eps) != (blog["adv_share"], blog["train_eps"])
    true = gaps["true"]
    excess = control_excess(record)
    whole = record["series"]["n_test"] >= data.TEST_SET_SIZE  # only seeds can shrink the errors
    leaks = [NAMES[k] for k, g in gaps.items() if g.is_effect and g.value > 0]
    unclear = [NAMES[k] for k, g in gaps.items() if not g.is_effect]
    out = {
        "paper_clean": paper["clean_acc"], "paper_fgsm": paper["fgsm_acc"], "paper_gap_points": 100 * paper["leak_gap"],
        # the blog's loss curve, read off its figure, and the paper's scale, from the registry
        "paper_loss_eps0": paper["loss_eps0"], "paper_loss_peak": paper["loss_eps0"] + paper["loss_rise"],
        "paper_loss_end": paper["loss_eps0"] + paper["loss_drop"], "paper_loss_drop": paper["loss_drop"],
        "paper_peak_eps": paper["loss_peak_eps"], "eps_max_full": blog["eps_max"], "epochs_full": blog["epochs"],
        "n_train_full": blog["n_train"],
        "data_note": data.describe(record["data"]["sources"][0]),
        "scale_note": (f"**Scale.** This run differs from the paper-scale (full) profile in {note}. "
                       "A small net trained briefly "
                       f"is far from the blog's {paper['clean_acc']:.0%} model, so its numbers are not the paper's; "
                       "the full profile runs the paper's setup." + (
                           " The attack is magnified too (a larger share of each batch, one large eps), so this "
                           f"run looks for the leak at its own eps, not at the blog's {blog['eval_eps']:g}/255."
                           if magnified else "")
                       if note else "**Scale.** This run uses the paper's full setup."),
        # plain Unicode, no $...$: math inside a glued paragraph is not rendered (issue 21.8)
        "eps_law": (f"Every attacked image gets the same ε = {p.train_eps:g}/255 (the blog draws each from "
                    f"|*N*(0, {blog['sigma']:g})|)." if p.train_eps > 0 else
                    f"Each attacked image gets its own ε from |*N*(0, σ)| with σ = {p.sigma:g} on the 0-255 scale "
                    "(a normal with its negative draws discarded, as in Kurakin et al.)."),
        "leak_verdict": ("**higher** than on clean images: the label leaks" if true.is_effect and true.value > 0 else
                         "**lower** than on clean images: at this scale the attack wins, and no leak shows"
                         if true.is_effect else "**not distinguishable** from its clean accuracy at this scale"),
        "leak_words": true.words(all_images=whole),
        "label_advantage_words": stats.stored(rows, "label_advantage").words(all_images=whole),
        "control_excess_words": (stats.stored(excess, "excess").words(all_images=whole, one=PAIR) if excess else
                                 "not measured: this run did not train both the true-label model and the control"),
        "loss_rise_words": loss_rise_words(rows, whole),
        "loss_drop_words": stats.stored(rows, "loss_drop").words("{:+.3f}", "", 1, all_images=whole),
        "gap_list": "; ".join(f"{NAMES[k]}: {g.text()}" for k, g in gaps.items()),
        "leakers": ((f"Leaking, with attacked images easier than clean ones beyond the noise rule: "
                     f"{stats.listed(leaks)}." if leaks else
                     "None of them leaks, with attacked images easier than clean ones beyond the noise rule.")
                    + (f" The {'gaps' if len(unclear) > 1 else 'gap'} of the {stats.listed(unclear)} "
                       f"model{'s' if len(unclear) > 1 else ''} cannot be told apart from zero at this scale."
                       if unclear else "")),
    }
    # the cases pick the notebook's paragraphs (book.keep_holding_branches); what each says is in the notebook
    least = gaps.get("least_likely")
    true_leaks = true.is_effect and true.value > 0
    out["open_question_case"] = "answerable" if true_leaks else "unanswerable"
    out["least_likely_words"] = (least.words(all_images=whole) if least is not None else
                                 "not measured in this run")
    out["true_gap_text"] = true.text()
    out["scale_case"] = "why_no_leak" if note and not true_leaks else "means"
    out["seeds_text"] = stats.seeds_text(p.n_seeds)
    out["table_over"] = ("each row one trained model" if p.n_seeds == 1 else
                         f"each entry a mean over {stats.seeds_text(p.n_seeds)}")
    out["build_as_trained_words"] = as_trained_words([record])["full_as_trained_words"]
    return {**out, **full_words(recs), **as_trained_words(recs), "meaning_recap": recap_words(recs)}


def recap_words(recs):
    """For "What it means": the committed paper-scale true-label models' FGSM minus clean with the step computed in
    eval mode and, where they were measured so, as trained, beside the blog's number."""
    rows = [row for r in recs for row in r["per_seed"] if row.get("leak_gap") is not None]
    if not rows:
        return "No paper-scale true-label model is committed yet: at paper scale the question is open here."
    as_trained = [row for row in rows if row.get("leak_gap_as_trained") is not None]
    paper = 100 * experiments.get("fgsm_leak").metrics["leak_gap"].paper
    models = ("the one committed paper-scale true-label model" if len(rows) == 1 else
              f"the {len(rows)} committed paper-scale true-label models")
    text = (f"For {models}, FGSM minus clean is {stats.stored(rows, 'leak_gap').text()} with the step computed in "
            "eval mode")
    if as_trained:
        which = "" if len(as_trained) == len(rows) else f" (the {len(as_trained)} of them measured so)"
        text += (f" and {stats.stored(as_trained, 'leak_gap_as_trained').text()} with the step computed as "
                 f"trained{which}")
    return text + (f" (the sections above judge each against its noise); the blog's is {paper:+.2f} points, for a "
                   "step its post does not specify.")


def full_words(recs):
    """The committed paper-scale true-label models beside the blog's one model, for the paper-scale section: their
    clean and FGSM accuracy, FGSM minus clean with its paired error, judged by the noise rule over the seeds, and
    the scorecard's verdicts against the blog's numbers (paper_scale.verdict); `full_case` picks the paragraph
    after it (none, leaks, within_noise, attack_wins)."""
    trained = [r for r in recs if any(row.get("leak_gap") is not None for row in r["per_seed"])]
    rows = [row for r in trained for row in r["per_seed"] if row.get("leak_gap") is not None]
    if not rows:
        return {"full_case": "none", "full_words": "", "full_models": "", "full_gap_verdict": ""}
    exp = experiments.get("fgsm_leak")
    n_test, sources = records.n_test(trained[0]), [s for r in trained for s in r["data"]["sources"]]
    clean, fgsm = (stats.accuracy(rows, key, n_test) for key in ("clean_acc", "fgsm_acc"))
    gap = stats.stored(rows, "leak_gap")
    blog_clean, one = exp.metrics["clean_acc"].paper, len(rows) == 1
    text = (f"On {data.cifar_name(sources)}, the paper-scale true-label ResNet-110 {'model' if one else 'models'} "
            f"({stats.seeds_text(len(rows))}) score{'s' if one else ''} {clean.text('{:.2f}', '%')} on clean test "
            f"images (the blog's model: {blog_clean:.2%}) and {fgsm.text('{:.2f}', '%')} on true-label FGSM images "
            f"at ε = {exp.profiles['full']['eval_eps']:g}/255 (the blog's: {exp.metrics['fgsm_acc'].paper:.2%}). "
            f"FGSM minus clean is {gap.words(all_images=n_test >= data.TEST_SET_SIZE)}. The clean accuracy is "
            f"{100 * (clean.value - blog_clean):+.2f} points from the blog's model's: the scorecard finds that it "
            f"*{paper_scale.verdict('fgsm_leak', 'clean_acc', trained)}*, by a line that counts the test images of "
            + ("both; one model of each gives no seed-to-seed spread, so how far another seed would land is not "
               "known" if one else "both and our spread over seeds for the blog's one model too")
            + ("; ours is scored on the JPEG copy, the blog's on the official pixels." if data.jpeg_copy(sources)
               else ".")
            + below_the_blog_words(exp, paper_scale.verdict("fgsm_leak", "clean_acc", trained), clean.value))
    return {"full_case": "leaks" if gap.is_effect and gap.value > 0 else "attack_wins" if gap.is_effect else
            "within_noise", "full_words": text,
            "full_models": "this one trained model" if one else f"these {len(rows)} models",
            "full_gap_verdict": paper_scale.verdict("fgsm_leak", "leak_gap", trained)}


def below_the_blog_words(exp, clean_verdict, clean):
    """Where the scorecard finds our paper-scale clean accuracy below the blog's: the setup differences that could
    account for it, given as a reading these runs cannot test ('' otherwise)."""
    if clean_verdict != "differs from the paper" or clean >= exp.metrics["clean_acc"].paper:
        return ""
    full, he = exp.profiles["full"], experiments.HE_RESNET110
    passes = he["iterations"] * he["batch_size"] / full["n_train"]  # over as many images as ours sees
    return (f" Our reading of the shortfall, which these runs cannot test: the blog reports \"carefully tuning the "
            f"learning rate and momentum\" and gives neither, nor how long it trained; ours trains "
            f"{full['epochs']} epochs from a learning rate of {full['lr']:g}, decayed linearly (half of every batch "
            f"attacked, as the blog's). He et al.'s ResNet-110, trained without adversarial images for "
            f"{he['iterations']:,} iterations of batch {he['batch_size']} (about {passes:.0f} passes over "
            f"{full['n_train']:,} images) with the "
            f"learning rate cut tenfold twice, reaches {he['clean_acc_mean']:.2%} clean (mean of their runs): a "
            "longer schedule is the first thing to try.")


def loss_rise_words(rows, whole=False):
    """The curve's rise to an interior peak, judged against its error; or, where its highest point is at an end of
    the range in every seed, that it has no rise and fall to measure (a curve that only climbs has no peak)."""
    risen = [r for r in rows if r.get("loss_rise") is not None]
    blog = {k: m.paper for k, m in experiments.get("fgsm_leak").metrics.items()}
    if not risen:
        return ("its highest point lies at an end of the range, so it has no peak inside it and no rise and fall "
                f"to measure (the blog's rises by about {blog['loss_rise']:+.2f} to a peak near ε = "
                f"{blog['loss_peak_eps']:g}/255)")
    peak = sum(r["loss_peak_eps"] for r in risen) / len(risen)
    some = ("" if len(risen) == len(rows) else
            f" (in {len(risen)} of {len(rows)} seeds; the others have no interior peak)")
    return (f"it peaks at ε = {peak:.2f}/255{some}, and the rise, peak minus start, is "
            f"{stats.stored(risen, 'loss_rise').words('{:+.3f}', '', 1, all_images=whole)} (the blog's: about "
            f"{blog['loss_rise']:+.2f})")


def eps_slider(recs, record):
    """Show the static eps slider (the committed paper-scale model when there is one, else this run's) and
    glue the prose's words about it; return what the live slider needs (`live_slider`)."""
    use, committed = slider_records(recs, record)
    which = ("the paper-scale true-label model (first seed of the committed records)" if committed else
             "this run's true-label model")
    p = use[0]["params"]
    eps_max = max(16.0, p["eps_max"])  # the live slider reaches past the curve
    batch = as_trained_batch(SimpleNamespace(**p))
    records.glue_words({"slider_model": which, "live_eps_max": eps_max, "slider_batch": batch})
    losses = {"in eval mode": mean_losses(use)["true"]}
    if as_trained_models(use):  # records made before the measurement have no curve along that step
        losses["as trained"] = mean_curve([m["as_trained"]["curve"] for m in as_trained_models(use)], "loss")
    return show_eps_slider(model_from_record(use[0]), data.load("cifar10", "test"), use[0]["series"]["eps"],
                           losses, p["eval_eps"], batch, eps_max=eps_max)


def live_slider(live):
    """In Jupyter: a slider that attacks the images with the same model at any eps, the step computed either
    way the static slider offers (needs a kernel)."""
    if records.in_batch():  # before the steps' gradients: no one can move it
        return widgets.NOT_IN_BATCH
    model, images, labels = live["model"], live["images"], live["labels"]
    # each step once, at the clean images; a move is then one forward pass on the shown images
    steps = {mode: slider_step(model, images, labels, mode) for mode in live["losses"]}

    def draw(eps, mode):
        adv, predicted, p_true = (t[0] for t in moved_along(model, images[:SHOWN], labels[:SHOWN], steps[mode],
                                                            [eps]))
        return figures.fgsm_frame(adv, predicted, labels[:SHOWN], p_true, live["classes"], eps, live["eps"],
                                  live["losses"][mode], live["paper_points"], mode)

    return widgets.eps_slider(draw, live["eps_max"], live["increment"], choices=list(live["losses"]),
                              choice_label="step")
