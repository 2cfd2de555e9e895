"""FGSM adversarial training and its label leak (CIFAR-10).

A share of every training batch (the blog: half) is replaced by one-step adversarial
images, each with its own radius eps drawn from |N(0, sigma)| on the 0-255 scale (a normal
with its negative draws discarded), or all with one fixed eps. Which label the step uses
is the whole question:

- "true":         x + eps sign(grad CE(f(x), y_true))      (the blog's FGSM: the label leaks)
- "predicted":    x + eps sign(grad CE(f(x), argmax f(x)))  (what attack libraries default to)
- "least_likely": x - eps sign(grad CE(f(x), argmin f(x)))  (Kurakin et al.'s step l.l.: towards it)
- "random":       x - eps sign(grad CE(f(x), r)), r uniform over the 10 classes (step rnd.)
"""

import io
import types

import torch
import torch.nn.functional as F

from . import attacks, data, experiments, figures, models, records, stats, training

ATTACKS = attacks.ATTACK_LABELS
def build_model(p, mean, std):
    return models.Normalized(models.resnet_he(p.depth_n, p.width), mean, std)


def train(p, kind, train_set, mean, std, seed, checkpoint=None, device=None, progress=True, clock=None):
    torch.manual_seed(seed)
    model = build_model(p, mean, std)
    attack = training.mixed_attack(kind, p.sigma, p.adv_share, p.train_eps)
    model, history = training.sgd(model, train_set.images, train_set.labels, epochs=p.epochs,
                                  batch_size=p.batch_size, lr=p.lr, adversarial=attack, seed=seed,
                                  checkpoint=checkpoint, device=device, progress=progress,
                                  desc=f"FGSM training ({kind} label)", clock=clock)
    return model, history


def along_fgsm(model, images, labels, eps_grid, kind="true", batch_size=None, seed=0, keep_correct=False):
    """Mean cross-entropy (true label) and accuracy at x + eps * step for each eps (0-255 scale) in
    eps_grid, where step is the sign of the `kind` attack computed once at the clean x; with `keep_correct`, also
    ("correct") each image's right or wrong at each eps, a tensor that records keep in their .npz, not JSON."""
    device = next(model.parameters()).device
    batch_size = batch_size or training.eval_batch(device)
    model.eval()
    gen = torch.Generator(device).manual_seed(seed)
    x_all, y_all = training.on_device(images, device), labels.to(device)
    eps = torch.tensor(eps_grid, device=device, dtype=torch.float32) / 255
    loss, correct = torch.zeros(len(eps), device=device), torch.zeros(len(eps), device=device)
    right = torch.zeros(len(eps), len(labels), dtype=torch.bool)  # image by image, for paired comparisons
    diff_sq = torch.zeros(len(eps), device=device, dtype=torch.float64)
    for idx in torch.arange(len(labels), device=device).split(batch_size):
        x, y = training.plain_batch(x_all, idx), y_all[idx]
        step, _ = attacks.step_direction(model, x, y, kind, gen)
        with torch.no_grad():
            first = None
            for i, e in enumerate(eps):
                logits = model((x + e * step).clamp_(0, 1)).float()
                per_image = F.cross_entropy(logits, y, reduction="none")
                first = per_image if first is None else first
                loss[i] += per_image.sum()
                diff_sq[i] += ((per_image - first).double() ** 2).sum()
                hit = logits.argmax(1) == y
                correct[i] += hit.sum()
                right[i, idx.cpu()] = hit.cpu()
    n = len(labels)
    mean = loss / n
    # the standard error of (mean loss at eps) - (mean loss at the first eps), image by image: what the
    # curve's rise and fall are judged against
    diff = (mean - mean[0]).double()
    diff_se = ((diff_sq / n - diff ** 2).clamp_(min=0) / max(n - 1, 1)).sqrt()
    curve = {"eps": list(eps_grid), "loss": mean.tolist(), "acc": (correct / n).tolist(),
             "loss_diff_se": diff_se.tolist()}
    return {**curve, "correct": right} if keep_correct else curve


def adversarial_images(model, images, labels, eps_grid, kind="true"):
    """For a few images: the FGSM images at each eps (uint8 [len(eps), N, H, W, C]) and the model's
    predictions and softmax probabilities of the true class there."""
    device = next(model.parameters()).device
    model.eval()
    x, y = training.plain_batch(training.on_device(images, device), torch.arange(len(images), device=device)), \
        labels.to(device)
    step, _ = attacks.step_direction(model, x, y, kind)
    frames, preds, p_true = [], [], []
    with torch.no_grad():
        for e in eps_grid:
            xe = (x + e / 255 * step).clamp_(0, 1)
            probs = model(xe).float().softmax(1)
            frames.append((xe * 255).round().byte().permute(0, 2, 3, 1).cpu())
            preds.append(probs.argmax(1).cpu())
            p_true.append(probs.gather(1, y[:, None])[:, 0].cpu())
    return torch.stack(frames), torch.stack(preds), torch.stack(p_true)


def eps_grid(p):
    """The curve's eps values: eps_points evenly spaced from 0 to eps_max, plus eval_eps."""
    grid = {round(p.eps_max * i / (p.eps_points - 1), 6) for i in range(p.eps_points)} | {p.eval_eps}
    return sorted(grid)


def run_seed(seed, train_set, test, mean, std, p, checkpoints=None, device=None, progress=True, clock=None):
    """Train one model per attack label and measure each: clean accuracy and the loss and accuracy along
    the true-label FGSM direction (the curve), and its accuracy at eval_eps under every attack label
    (one row of the trained-with x attacked-with table)."""
    grid = eps_grid(p)
    at = grid.index(p.eval_eps)
    out = {"eps": grid, "models": {}, "n_test": len(test.labels)}
    for kind in experiments.picked(p.labels):
        checkpoint = checkpoints / f"seed{seed}-{kind}.pt" if checkpoints else None
        model, history = train(p, kind, train_set, mean, std, seed, checkpoint, device, progress, clock)
        curve = along_fgsm(model, test.images, test.labels, grid, "true", seed=seed, keep_correct=True)
        row, correct = {}, {"clean": curve["correct"][0]}
        for a in ATTACKS:
            attacked = curve if a == "true" else along_fgsm(model, test.images, test.labels, [p.eval_eps], a,
                                                            seed=seed, keep_correct=True)
            i = at if a == "true" else 0
            row[a], correct[a] = attacked["acc"][i], attacked["correct"][i]
        out["models"][kind] = {"clean_acc": curve["acc"][0], "curve": curve, "attacked": row, "history": history,
                               "correct": correct}
        if kind == "true":
            out["model"] = model  # for the slider: saved beside the record, in fp16
    return out


# what seed_row reads off the true-label model (None where a run did not train it)
TRUE_MODEL_KEYS = ("clean_acc", "fgsm_acc", "leak_gap", "label_advantage", "label_advantage_se", "loss_eps0",
                   "loss_rise", "loss_rise_se", "loss_peak_eps", "loss_drop", "loss_drop_se")


def seed_row(seed, s):
    """One seed's numbers, as the record keeps them (None for what a model the run did not train would give).
    Differences between scores on the same test images carry the paired error (stats.paired_gap_se)."""
    models_ = s["models"]
    row = {"seed": seed, **dict.fromkeys(TRUE_MODEL_KEYS)}
    true = models_.get("true")
    if true is not None:
        loss = true["curve"]["loss"]
        peak = max(range(len(loss)), key=loss.__getitem__)
        # a rise "to its peak" needs a peak inside the curve: at either end the curve only climbs or only falls
        interior = 0 < peak < len(loss) - 1
        diff_se = true["curve"]["loss_diff_se"]
        right = true["correct"]
        row.update({"clean_acc": true["clean_acc"], "fgsm_acc": true["attacked"]["true"],
                    "leak_gap": true["attacked"]["true"] - true["clean_acc"],
                    "label_advantage": true["attacked"]["true"] - true["attacked"]["predicted"],
                    "label_advantage_se": stats.paired_gap_se(right["true"], right["predicted"]),
                    "loss_eps0": loss[0], "loss_rise": loss[peak] - loss[0] if interior else None,
                    "loss_rise_se": diff_se[peak] if interior else None,
                    "loss_peak_eps": s["eps"][peak] if interior else None,
                    "loss_drop": loss[-1] - loss[0], "loss_drop_se": diff_se[-1]})
    for kind in ATTACKS:
        key = "leak_gap" if kind == "true" else f"leak_gap_{kind}"
        m = models_.get(kind)
        if kind != "true":
            row[key] = None if m is None else m["attacked"][kind] - m["clean_acc"]
        row[f"{key}_se"] = None if m is None else stats.paired_gap_se(m["correct"][kind], m["correct"]["clean"])
    return row


def summarize(rows):
    """The record's metrics: means over seeds, with standard deviations of the paper's numbers."""
    return records.summarize_rows(rows, spread=("leak_gap", "clean_acc", "fgsm_acc"))


def model_bytes(model):
    """The model's weights in fp16 (torch.save of its state dict): small enough to commit beside a record."""
    buffer = io.BytesIO()
    torch.save({k: (v.half() if v.is_floating_point() else v).cpu() for k, v in model.state_dict().items()},
               buffer)
    return buffer.getvalue()


def load_weights(model, record):
    """`model` with the fp16 weights kept beside a record (`model_bytes`), read back with weights_only, in
    float on the CPU, in eval mode."""
    state = torch.load(io.BytesIO(records.file_bytes(record, ".pt")), weights_only=True, map_location="cpu")
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})
    return model.eval()


def model_from_record(record):
    """The first seed's true-label model kept beside a record."""
    mean, std = record["series"]["normalization"]
    return load_weights(build_model(types.SimpleNamespace(**record["params"]), mean, std), record)


def compute(p, log=print):
    """The whole experiment for parameters `p`: four FGSM-trained models per seed (each checkpointed per
    epoch), their curves and the trained-with x attacked-with table; beside the record, the first seed's
    true-label model in fp16, which the page's slider attacks."""
    device = training.resolve_device(p.device)
    train_full, test_full = data.load("cifar10", "train"), data.load("cifar10", "test")
    mean, std = training.channel_stats(train_full.images)  # per channel, from all 50,000 training images
    train, test = data.subset(train_full, p.n_train), data.subset(test_full, p.n_eval)
    checkpoints = records.checkpoint_dir("fgsm_leak", p, [train.digest, test.digest])
    numbers = [p.seed + 10 * k for k in range(p.n_seeds)]
    clock = training.Clock(p.n_seeds * len(experiments.picked(p.labels)) * p.epochs * len(train.labels), log)
    if log:
        log(f"fgsm_leak: {p.n_seeds} seed(s), attack labels: {p.labels}; checkpoints in {checkpoints}")
    seeds = [run_seed(n, train, test, mean, std, p, checkpoints, device, clock=clock) for n in numbers]
    rows = [seed_row(n, s) for n, s in zip(numbers, seeds)]
    series = {"eps": seeds[0]["eps"], "n_eval": len(test.labels), "n_test": len(test.labels),
              "normalization": [mean, std], "seeds": [{
        "seed": n, "models": {k: {"clean_acc": m["clean_acc"], "attacked": m["attacked"], "history": m["history"],
                                  # the per-image bits go to the .npz, not into the JSON
                                  "curve": {c: v for c, v in m["curve"].items() if c != "correct"}}
                              for k, m in s["models"].items()}} for n, s in zip(numbers, seeds)]}
    files = {".npz": records.to_npz(**correctness(numbers, seeds))}
    live = {}
    if "model" in seeds[0]:  # the first seed's true-label model, which the slider attacks
        files[".pt"] = model_bytes(seeds[0]["model"])
        live["model"] = seeds[0]["model"]
    return {"metrics": summarize(rows), "per_seed": rows, "series": series, "files": files,
            "device": training.describe_device(device), "data": records.describe_data(train_full, test_full),
            "live": live}


def correctness(numbers, seeds):
    """Each model's right-or-wrong on every test image, clean and under each attack label at eval_eps,
    bit-packed for the record's .npz: what a paired comparison on the same images needs."""
    return {f"seed{n}_{kind}_{scored}_correct": records.packed_bits(right)
            for n, s in zip(numbers, seeds) for kind, m in s["models"].items()
            for scored, right in m["correct"].items()}


# ---------------------------------------------------------------------------------------------------------
# The page's table and figures, drawn from records (this build's, or the committed paper-scale ones pooled).

NAMES = {"true": "true", "predicted": "predicted", "least_likely": "least-likely", "random": "random"}
PAPER_LOSS_POINTS = [(0, 0.28), (0.5, 0.33), (6, 0.19)]  # the blog's loss figure, read off by eye


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
             + " | own attack minus clean |", "|---" * (len(ATTACKS) + 3) + "|"]
    for k in trained:
        lines.append(f"| {NAMES[k]} | {clean[k]:.2%} | " + " | ".join(
            (f"**{attacked[k][a]:.2%}**" if a == k else f"{attacked[k][a]:.2%}") for a in ATTACKS)
            + f" | {attacked[k][k] - clean[k]:+.2%} |")
    return figures.Table("\n".join(lines))


def mean_losses(recs):
    """{attack label: mean test loss at each eps of the curve} over the seeds that trained with it."""
    n = len(recs[0]["series"]["eps"])
    return {k: [records.mean_sd(m[k]["curve"]["loss"][i] for m in ms)[0] for i in range(n)]
            for k, ms in _trained(recs).items()}


def loss_figure(recs):
    if not recs:
        return None
    losses = mean_losses(recs)
    return figures.loss_curves(recs[0]["series"]["eps"],
                               {f"trained with {NAMES[k]}-label FGSM": v for k, v in losses.items()},
                               "Test cross-entropy along the true-label FGSM direction", PAPER_LOSS_POINTS)


def slider_frames(model, images, labels, eps, loss, classes=None, paper_points=PAPER_LOSS_POINTS):
    """The static slider's frames: `images` attacked with true-label FGSM by `model` at each eps of the curve
    (`eps`, `loss`; one gradient for all of them), above that curve with the eps marked."""
    import matplotlib.pyplot as plt

    classes = classes or data.CLASSES["cifar10"]
    adv, predicted, p_true = adversarial_images(model, images, labels, eps)
    frames = []
    for i, e in enumerate(eps):
        fig = figures.fgsm_frame(adv[i], predicted[i], labels, p_true[i], classes, e, eps, loss, paper_points)
        right = int((predicted[i] == labels).sum())
        frames.append({"value": f"{e:g}", "png": figures.png_bytes(fig),
                       "caption": f"eps = {e:g}/255: <b>{right}/{len(labels)}</b> right; mean test loss "
                                  f"{loss[i]:.3f} (at eps 0: {loss[0]:.3f})"})
        plt.close(fig)
    return frames


def slider_records(recs, record):
    """The records whose model the slider attacks: the committed paper-scale ones when they keep a model,
    else this run's."""
    with_model = [r for r in recs if ".pt" in r["files"]]
    return with_model or [record]


def show_eps_slider(model, test, eps, loss, initial, classes=None, paper_points=PAPER_LOSS_POINTS, eps_max=16.0,
                    step=0.25):
    """Display the static slider over the first 8 `test` images attacked by `model` at each eps of the curve
    (`eps`, `loss`), starting at eps `initial`; return what `live_slider` needs to attack them at any eps."""
    from IPython.display import display

    from . import widgets

    images, labels = test.images[:8], test.labels[:8]
    classes = classes or data.CLASSES["cifar10"]
    frames = slider_frames(model, images, labels, eps, loss, classes, paper_points)
    display(widgets.frame_slider(frames, "eps", initial=eps.index(initial)))
    return {"model": model, "images": images, "labels": labels, "classes": classes,
            "eps": eps, "loss": loss, "paper_points": paper_points, "eps_max": eps_max, "step": step}


# ---------------------------------------------------------------------------------------------------------
# The page's words: what the prose says about a run, each difference judged by the noise rule (stats).

def words(p, record):
    """{glue name: value or Markdown text} for the prose about this run."""
    exp = experiments.get("fgsm_leak")
    rows, paper = record["per_seed"], {k: m.paper for k, m in exp.metrics.items()}
    keys = {k: "leak_gap" if k == "true" else f"leak_gap_{k}" for k in ATTACKS}
    gaps = {k: stats.stored([r for r in rows if r[key] is not None], key) for k, key in keys.items()
            if any(r[key] is not None for r in rows)}
    note = experiments.scale_note("fgsm_leak", p)
    blog = exp.profiles["full"]  # the blog's attack law
    magnified = (p.adv_share, p.train_eps) != (blog["adv_share"], blog["train_eps"])
    true = gaps["true"]
    whole = record["series"]["n_test"] >= data.TEST_SET_SIZE  # only seeds can shrink the errors
    leaks = [NAMES[k] for k, g in gaps.items() if g.is_effect and g.value > 0]
    unclear = [NAMES[k] for k, g in gaps.items() if not g.is_effect]
    out = {
        "paper_clean": paper["clean_acc"], "paper_fgsm": paper["fgsm_acc"], "paper_gap_points": 100 * paper["leak_gap"],
        "data_note": data.describe(record["data"]["sources"][0]),
        "scale_note": (f"**Scale.** This run is scaled down from the paper's: {note}. A small net trained briefly "
                       "is far from the blog's 92% model, so its numbers are not the paper's; the full profile "
                       "runs the paper's setup." + (
                           " The attack is magnified too (a larger share of each batch, one large eps), so this "
                           "run looks for the leak at its own eps, not at the blog's 6/255." if magnified else "")
                       if note else "**Scale.** This run uses the paper's full setup."),
        # plain Unicode, no $...$: math inside a glued paragraph is not rendered (issue 21.8)
        "eps_law": (f"Every attacked image gets the same ε = {p.train_eps:g}/255 (the blog draws each from "
                    f"|*N*(0, {blog['sigma']:g})|)." if p.train_eps > 0 else
                    f"Each attacked image gets its own ε from |*N*(0, σ)| with σ = {p.sigma:g} on the 0-255 scale "
                    "(a normal with its negative draws discarded, as in Kurakin et al.)."),
        "leak_verdict": ("**higher** than on clean images: the label leaks" if true.is_effect and true.value > 0 else
                         "**lower** than on clean images: at this scale the leak does not outweigh the attack"
                         if true.is_effect else "**not distinguishable** from its clean accuracy at this scale"),
        "leak_words": true.words(all_images=whole),
        "label_advantage_words": stats.stored(rows, "label_advantage").words(all_images=whole),
        "loss_rise_words": loss_rise_words(rows, whole),
        "loss_drop_words": stats.stored(rows, "loss_drop").words("{:+.3f}", "", 1, all_images=whole),
        "gap_list": "; ".join(f"{NAMES[k]}: {g.text()}" for k, g in gaps.items()),
        "leakers": (", ".join(leaks) if leaks else "none of them, by the noise rule") + (
            f". Cannot be told apart from no gap at this scale: {', '.join(unclear)}" if unclear else ""),
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
    return out


def loss_rise_words(rows, whole=False):
    """The curve's rise to an interior peak, judged against its error; or, where its highest point is at an end of
    the range in every seed, that it has no rise and fall to measure (a curve that only climbs has no peak)."""
    risen = [r for r in rows if r.get("loss_rise") is not None]
    if not risen:
        return ("its highest point lies at an end of the range, so it has no peak inside it and no rise and fall "
                "to measure (the blog's rises by about +0.05 to a peak near ε = 0.5)")
    peak = sum(r["loss_peak_eps"] for r in risen) / len(risen)
    some = ("" if len(risen) == len(rows) else
            f" (in {len(risen)} of {len(rows)} seeds; the others have no interior peak)")
    return (f"it peaks at ε = {peak:.2f}{some}, and the rise, peak minus start, is "
            f"{stats.stored(risen, 'loss_rise').words('{:+.3f}', '', 1, all_images=whole)} (the blog's: about +0.05)")


def eps_slider(recs, record):
    """Show the static eps slider (the committed paper-scale model when there is one, else this run's) and
    glue the prose's words about it; return what the live slider needs (`live_slider`)."""
    use = slider_records(recs, record)
    p = use[0]["params"]
    eps_max = max(16.0, p["eps_max"])  # the live slider reaches past the curve
    records.glue_words({"slider_model": "the paper-scale true-label model (first seed of the committed records)"
                        if use is recs else "this run's true-label model", "live_eps_max": eps_max})
    return show_eps_slider(model_from_record(use[0]), data.load("cifar10", "test"), use[0]["series"]["eps"],
                           mean_losses(use)["true"], p["eval_eps"], eps_max=eps_max)


def live_slider(live):
    """In Jupyter: a slider that attacks the images with the same model at any eps (needs a kernel)."""
    from . import widgets

    def draw(eps):  # one gradient and one forward pass on the 8 images per move, at any eps up to eps_max
        frames, predicted, p_true = adversarial_images(live["model"], live["images"], live["labels"], [eps])
        return figures.fgsm_frame(frames[0], predicted[0], live["labels"], p_true[0], live["classes"], eps,
                                  live["eps"], live["loss"], live["paper_points"])

    return widgets.eps_slider(draw, live["eps_max"], live["step"])
