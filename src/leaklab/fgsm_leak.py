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
import os
import time
import types
from pathlib import Path

import torch
import torch.nn.functional as F

from . import attacks, data, experiments, files, models, records, stats, training

ATTACKS = attacks.ATTACK_LABELS
def build_model(p, mean, std):
    return models.Normalized(models.resnet_he(p.depth_n, p.width), mean, std)


def train(p, kind, train_set, mean, std, seed, checkpoint=None, device=None, progress=True, clock=None):
    torch.manual_seed(seed)
    model = build_model(p, mean, std)
    attack = training.mixed_attack(kind, p.sigma, p.adv_share, p.train_eps)
    model, history = training.fit(model, train_set.images, train_set.labels, epochs=p.epochs,
                                  batch_size=p.batch_size, lr=p.lr, adversarial=attack, seed=seed,
                                  checkpoint=checkpoint, device=device, progress=progress,
                                  desc=f"FGSM training ({kind} label)", clock=clock)
    return model, history


def along_fgsm(model, images, labels, eps_grid, kind="true", batch_size=None, seed=0, keep_correct=False,
               as_trained=False):
    """Mean cross-entropy (true label) and accuracy at x + eps * step for each eps (0-255 scale) in
    eps_grid, where step is the sign of the `kind` attack computed once at the clean x; with `keep_correct`, also
    ("correct") each image's right or wrong at each eps, a tensor that records keep in their .npz, not JSON.
    The images are scored in eval mode. The step is computed there too, unless `as_trained`: then as FGSM
    training computes it (attacks.step_as_trained), BatchNorm normalizing each batch of `batch_size` images by
    its own statistics."""
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
        step, _ = (attacks.step_as_trained if as_trained else attacks.step_direction)(model, x, y, kind, gen)
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


def step_agreement(model, images, labels, batch_size, kind="true"):
    """The share of pixels (over all images and channels) on which the `kind` attack's step computed as training
    computes it, on batches of `batch_size` (attacks.step_as_trained), has the sign of the step computed in eval
    mode, with BatchNorm's running statistics: 0.5 is what two unrelated sign patterns share."""
    device = next(model.parameters()).device
    model.eval()
    x_all, y_all = training.on_device(images, device), labels.to(device)
    same = torch.zeros((), device=device, dtype=torch.float64)
    for idx in torch.arange(len(labels), device=device).split(batch_size):
        x, y = training.plain_batch(x_all, idx), y_all[idx]
        trained_step, _ = attacks.step_as_trained(model, x, y, kind)
        eval_step, _ = attacks.step_direction(model, x, y, kind)
        same += (trained_step == eval_step).double().sum()
    return (same / (len(labels) * x_all[0].numel())).item()


def noise_correct(model, images, labels, eps, seed=0, batch_size=None):
    """Each image right or wrong (bool [N]) at x + eps * s (eps on the 0-255 scale), s a random sign per pixel and
    channel drawn from `seed`: a step of FGSM's size that carries neither the label nor the model's gradient, the
    baseline any sign step of that size is read against. At eps 0: the clean answers, in one forward pass each.
    The signs are drawn on the CPU, image after image, so a seed gives the same signs on any device and in batches
    of any size."""
    device = next(model.parameters()).device
    batch_size = batch_size or training.eval_batch(device)
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = training.on_device(images, device), labels.to(device)
    right = torch.zeros(len(labels), dtype=torch.bool)
    with torch.no_grad():
        for idx in torch.arange(len(labels), device=device).split(batch_size):
            x = training.plain_batch(x_all, idx)
            sign = (torch.randint(0, 2, x.shape, generator=gen) * 2 - 1).to(device, x.dtype)
            right[idx.cpu()] = (model((x + eps / 255 * sign).clamp_(0, 1)).argmax(1) == y_all[idx]).cpu()
    return right


def fgsm_step(model, images, labels, kind="true", as_trained=False):
    """The `kind` attack's sign step at a few clean images, computed in eval mode, or with `as_trained` as FGSM
    training computes it, `images` being one batch (along_fgsm)."""
    device = next(model.parameters()).device
    model.eval()
    x, y = training.plain_batch(training.on_device(images, device), torch.arange(len(images), device=device)), \
        labels.to(device)
    return (attacks.step_as_trained if as_trained else attacks.step_direction)(model, x, y, kind)[0]


def moved_along(model, images, labels, step, eps_grid):
    """`images` moved by eps * `step` for each eps of the grid (0-255 scale), scored in eval mode: the images
    (uint8 [len(eps), N, H, W, C]), the model's predictions and its softmax probability of the true class."""
    device = next(model.parameters()).device
    model.eval()
    x, y = training.plain_batch(training.on_device(images, device), torch.arange(len(images), device=device)), \
        labels.to(device)
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
        as_trained = measured_as_trained(model, test, grid, at, p, seed)
        correct.update(as_trained.pop("correct"))
        out["models"][kind] = {"clean_acc": curve["acc"][0], "curve": curve, "attacked": row, "history": history,
                               "correct": correct, "as_trained": as_trained}
        if kind == "true":
            out["model"] = model  # for the slider: saved beside the record, in fp16
    return out


AS_TRAINED_ATTACKS = ("true", "predicted")  # a step with the label, and the same step without it


def as_trained_batch(p):
    """How many images FGSM training computes one step on: the attacked share of a training batch."""
    return max(1, round(p.batch_size * p.adv_share))


def measured_as_trained(model, test, grid, at, p, seed):
    """The model under FGSM whose step is computed as its training computed it (BatchNorm on the batch's own
    statistics, in batches of the attacked share of a training batch), the images scored in eval mode as
    everywhere else: the true-label curve along that step, each AS_TRAINED_ATTACKS label's accuracy at
    eval_eps (per image in "correct", as "{label}_as_trained"), and how often that step's signs agree with the
    eval-mode step's (`step_agreement`); and, as the baseline both labels' steps are read against, the accuracy
    under random signs of the same size (`noise_correct`, per image in "correct" as "noise")."""
    batch = as_trained_batch(p)
    measured = {a: along_fgsm(model, test.images, test.labels, grid if a == "true" else [p.eval_eps], a,
                              batch_size=batch, seed=seed, keep_correct=True, as_trained=True)
                for a in AS_TRAINED_ATTACKS}
    i = {a: at if a == "true" else 0 for a in AS_TRAINED_ATTACKS}
    noise = noise_correct(model, test.images, test.labels, p.eval_eps, seed)
    return {"curve": {c: v for c, v in measured["true"].items() if c != "correct"},
            "attacked": {a: m["acc"][i[a]] for a, m in measured.items()},
            "sign_agreement": step_agreement(model, test.images, test.labels, batch),
            "noise_acc": noise.float().mean().item(),
            "correct": {**{f"{a}_as_trained": m["correct"][i[a]] for a, m in measured.items()}, "noise": noise}}


# what seed_row reads off the true-label model (None where a run did not train it)
TRUE_MODEL_KEYS = ("clean_acc", "fgsm_acc", "leak_gap", "label_advantage", "label_advantage_se", "loss_eps0",
                   "loss_rise", "loss_rise_se", "loss_peak_eps", "loss_drop", "loss_drop_se",
                   "fgsm_acc_as_trained", "leak_gap_as_trained", "leak_gap_as_trained_se",
                   "label_advantage_as_trained", "label_advantage_as_trained_se", "step_sign_agreement",
                   "noise_acc", "noise_gap", "noise_gap_se", "true_as_trained_over_noise",
                   "true_as_trained_over_noise_se", "predicted_as_trained_over_noise",
                   "predicted_as_trained_over_noise_se")


def seed_row(seed, s):
    """One seed's numbers, as the record keeps them (None for what a model the run did not train would give).
    Differences between scores on the same test images carry the paired error (stats.paired_gap_se)."""
    models_ = s["models"]
    row = {"seed": seed, **dict.fromkeys(TRUE_MODEL_KEYS)}
    true = models_.get("true")
    if true is not None:
        right = true["correct"]
        row.update({"clean_acc": true["clean_acc"], "fgsm_acc": true["attacked"]["true"],
                    "leak_gap": true["attacked"]["true"] - true["clean_acc"],
                    "label_advantage": true["attacked"]["true"] - true["attacked"]["predicted"],
                    "label_advantage_se": stats.paired_gap_se(right["true"], right["predicted"]),
                    **loss_shape(true["curve"])})
        row.update(as_trained_row(true))
    for kind in ATTACKS:
        key = "leak_gap" if kind == "true" else f"leak_gap_{kind}"
        m = models_.get(kind)
        if kind != "true":
            row[key] = None if m is None else m["attacked"][kind] - m["clean_acc"]
        row[f"{key}_se"] = None if m is None else stats.paired_gap_se(m["correct"][kind], m["correct"]["clean"])
    return row


def loss_shape(curve):
    """A loss curve along an FGSM step (along_fgsm's) as the blog reads its own: the start, the rise to the peak and
    the peak's eps, and the end minus the start, with the image-by-image errors along_fgsm kept. A rise "to its
    peak" needs a peak inside the curve: where the highest point is at either end, the curve only climbs or only
    falls, and the rise and the peak are None."""
    loss, diff_se = curve["loss"], curve["loss_diff_se"]
    peak = max(range(len(loss)), key=loss.__getitem__)
    interior = 0 < peak < len(loss) - 1
    return {"loss_eps0": loss[0], "loss_rise": loss[peak] - loss[0] if interior else None,
            "loss_rise_se": diff_se[peak] if interior else None,
            "loss_peak_eps": curve["eps"][peak] if interior else None,
            "loss_drop": loss[-1] - loss[0], "loss_drop_se": diff_se[-1]}


def as_trained_row(model):
    """The seed_row numbers of a model under the step computed as its training computed it (`measured_as_trained`;
    {} for a record made before that measurement): FGSM accuracy, FGSM minus clean, true minus predicted label,
    with their paired errors, and the steps' sign agreement."""
    measured = model.get("as_trained")
    if measured is None:
        return {}
    right, attacked = model["correct"], measured["attacked"]
    row = {"fgsm_acc_as_trained": attacked["true"], "leak_gap_as_trained": attacked["true"] - model["clean_acc"],
           "leak_gap_as_trained_se": stats.paired_gap_se(right["true_as_trained"], right["clean"]),
           "label_advantage_as_trained": attacked["true"] - attacked["predicted"],
           "label_advantage_as_trained_se": stats.paired_gap_se(right["true_as_trained"],
                                                                right["predicted_as_trained"]),
           "step_sign_agreement": measured["sign_agreement"]}
    if "noise_acc" in measured:  # records measured before the random-sign baseline lack it
        noise = measured["noise_acc"]
        row.update({"noise_acc": noise, "noise_gap": noise - model["clean_acc"],
                    "noise_gap_se": stats.paired_gap_se(right["noise"], right["clean"])})
        for label in AS_TRAINED_ATTACKS:
            row[f"{label}_as_trained_over_noise"] = attacked[label] - noise
            row[f"{label}_as_trained_over_noise_se"] = stats.paired_gap_se(right[f"{label}_as_trained"],
                                                                           right["noise"])
    return row


def summarize(rows):
    """The record's metrics: means over seeds, with standard deviations of the paper's numbers."""
    return records.summarize_rows(rows, spread=("leak_gap", "clean_acc", "fgsm_acc", "leak_gap_as_trained",
                                                "fgsm_acc_as_trained"))


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
    checkpoints = records.checkpoint_dir("fgsm_leak", p, [train.digest, test.digest], training.arithmetic(device))
    numbers = [p.seed + 10 * k for k in range(p.n_seeds)]
    clock = training.Clock(p.n_seeds * len(experiments.picked(p.labels)) * p.epochs * len(train.labels), log)
    if log:
        log(f"fgsm_leak: {p.n_seeds} seed(s), attack labels: {p.labels}; "
            f"checkpoints in {files.shown(checkpoints)}")
    seeds = [run_seed(n, train, test, mean, std, p, checkpoints, device, clock=clock) for n in numbers]
    rows = [seed_row(n, s) for n, s in zip(numbers, seeds)]
    series = {"eps": seeds[0]["eps"], "n_eval": len(test.labels), "n_test": len(test.labels),
              "normalization": [mean, std], "seeds": [{
        "seed": n, "models": {k: {"clean_acc": m["clean_acc"], "attacked": m["attacked"], "history": m["history"],
                                  # the per-image bits go to the .npz, not into the JSON
                                  "curve": {c: v for c, v in m["curve"].items() if c != "correct"},
                                  "as_trained": m["as_trained"]}
                              for k, m in s["models"].items()}} for n, s in zip(numbers, seeds)]}
    attached = {".npz": records.to_npz(**correctness(numbers, seeds))}
    live = {}
    if "model" in seeds[0]:  # the first seed's true-label model, which the slider attacks
        attached[".pt"] = model_bytes(seeds[0]["model"])
        live["model"] = seeds[0]["model"]
    return {"metrics": summarize(rows), "per_seed": rows, "series": series, "files": attached,
            "device": training.describe_device(device), "data": records.describe_data(train_full, test_full),
            "live": live}


def correctness(numbers, seeds):
    """Each model's right-or-wrong on every test image, clean and under each attack label at eval_eps,
    bit-packed for the record's .npz: what a paired comparison on the same images needs."""
    return {f"seed{n}_{kind}_{scored}_correct": records.packed_bits(right)
            for n, s in zip(numbers, seeds) for kind, m in s["models"].items()
            for scored, right in m["correct"].items()}


def add_as_trained(path, log=print):
    """Add `measured_as_trained` to a record made before it existed, for the model kept beside it (the first
    seed's true-label model, in fp16), on the record's own test images (checked by digest); to a record measured
    before the random-sign baseline existed, that baseline alone. The record is written back in place (its .npz,
    then its JSON, each atomically), its provenance saying in "as_trained_added" (or "noise_added") which commit
    measured it, when, in how long, and on how many test images the kept fp16 model's clean answers match the
    record's. Refused, before any work, for a record that holds more than that one model (the rest would go
    unmeasured), has no kept model, or has the whole measurement already."""
    start = time.perf_counter()
    try:
        record = records.load(path)
    except (OSError, ValueError) as err:
        raise experiments.RunError(f"{path}: not a readable record ({err})") from None
    if not os.access(Path(path).parent, os.W_OK) or not os.access(path, os.W_OK):
        raise experiments.RunError(f"{path}: cannot write the record back in place")
    if record.get("experiment") != "fgsm_leak":
        raise experiments.RunError(f"{path}: not an fgsm_leak record")
    seeds = record.get("series", {}).get("seeds", [])
    beside = [Path(path).with_suffix(suffix) for suffix in (".pt", ".npz")]
    if len(seeds) != 1 or set(seeds[0]["models"]) != {"true"} or not all(f.is_file() for f in beside):
        raise experiments.RunError(f"{path}: only a record of one true-label model, with that model (.pt) and its "
                                   "per-image answers (.npz) beside it, can be measured afterwards; run the "
                                   "experiment again for the others")
    true = seeds[0]["models"]["true"]
    earlier = true.get("as_trained")
    if earlier is not None and "noise_acc" in earlier:
        raise experiments.RunError(f"{path} already holds the measurement")
    p = types.SimpleNamespace(**record["params"])
    test_full = data.load("cifar10", "test")
    if test_full.digest not in record["data"]["sha256"]:
        raise experiments.RunError(f"{path} was scored on other test images than these (their digest differs)")
    test = data.subset(test_full, p.n_eval)
    commit, seed, n = records.git_commit(), seeds[0]["seed"], record["series"]["n_test"]
    kept = records.arrays(record)
    model = model_from_record(record)

    def bits(scored):
        return torch.from_numpy(records.unpacked_bits(kept[f"seed{seed}_true_{scored}_correct"], n))

    right = {"clean": bits("clean")}
    fp16_clean = noise_correct(model, test.images, test.labels, 0.0)  # eps 0: its clean answers, forward only
    if earlier is None:
        log(f"{files.shown(path)}: the seed-{seed} true-label model under FGSM computed as its training computed it")
        grid = record["series"]["eps"]
        measured = measured_as_trained(model, test, grid, grid.index(p.eval_eps), p, seed)
        right.update(measured.pop("correct"))
        added = "as_trained_added"
    else:  # measured before the baseline existed: add the baseline alone
        log(f"{files.shown(path)}: the seed-{seed} true-label model under random signs of FGSM's size")
        measured = earlier
        right.update({f"{a}_as_trained": bits(f"{a}_as_trained") for a in AS_TRAINED_ATTACKS})
        right["noise"] = noise_correct(model, test.images, test.labels, p.eval_eps, seed)
        measured["noise_acc"] = right["noise"].float().mean().item()
        added = "noise_added"
    true["as_trained"] = measured
    record["per_seed"][0].update(as_trained_row({**true, "correct": right}))
    record["metrics"] = summarize(record["per_seed"])
    kept.update({f"seed{seed}_true_{scored}_correct": records.packed_bits(b) for scored, b in right.items()})
    record["_files"] = {".npz": records.to_npz(**kept)}
    record["provenance"][added] = {
        "git_commit": commit, "date": records.provenance(0, commit)["date"],
        "wall_time_s": round(time.perf_counter() - start, 2),
        "model": f"the fp16 weights beside the record; their clean answers match the record's on "
                 f"{int((fp16_clean == right['clean']).sum())} of {n} test images"}
    return records.save(record, path)
