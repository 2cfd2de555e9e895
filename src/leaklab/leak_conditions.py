"""When does FGSM adversarial training leak the label? A leak a CPU can show, and a map of where it appears.

A small CNN (`models.cnn4`) is trained on Fashion-MNIST with a share of every batch replaced by FGSM
images at one training eps, made with the true label; a control is trained the same way with the model's
predicted label, which carries nothing the image does not. Each model is scored on clean test images and on
true-label FGSM test images at the evaluation eps; its leak gap is FGSM minus clean accuracy, judged by the
noise rule (leaklab.stats). After every epoch both models are probed on a validation split held out from
the training images, so the page can show when the leak appears. With `map_eps_points` > 0 (the full profile)
the true-label training runs again over a grid of training eps and model widths: the map of where the label
leaks.
"""


import math

import torch

from . import attacks, data, experiments, fgsm_leak, models, records, stats, training

ATTACKS = ("true", "predicted")
PROBE = 1000  # validation images, held out from the end of the training set, probed after every epoch
# The parameters that only pick which networks a run trains, left out of the checkpoint key: a network's file names
# its seed and attack label, and a map or cell network's its eps and width too (a cell's dataset is in its
# directory's data digest; everything that changes how a network trains stays in the key), so the pieces of a full
# profile run as separate records share finished networks: the four-label table reads back the page seeds'.
PICKS = ("map_eps_points", "map_eps_max", "map_width_min", "map_widths", "map_seeds", "cells_datasets",
         "cells_eps_points", "cells_eps_max", "cells_seeds", "label_seeds")


def build_model(width, train_set, mean, std):
    c, side = train_set.images.shape[1], train_set.images.shape[2]
    return models.Normalized(models.cnn4(c, side, width), mean, std)


def train(p, kind, train_set, probe, mean, std, seed, eps, width, checkpoint=None, device=None, progress=True):
    """One FGSM-trained model; its history holds clean and FGSM accuracy on the probe images after each epoch, and
    the paired standard error of their difference (the same probe images)."""
    torch.manual_seed(seed)
    model = build_model(width, train_set, mean, std)
    attack = training.mixed_attack(kind, 0.0, p.adv_share, eps)

    def on_epoch(m):
        probed = scored(m, probe, eval_eps(p, eps))
        return {k: probed[k] for k in ("clean_acc", "fgsm_acc", "gap_se")}

    return training.fit(model, train_set.images, train_set.labels, epochs=p.epochs, batch_size=p.batch_size,
                        lr=p.lr, augment=False, adversarial=attack, seed=seed, checkpoint=checkpoint, device=device,
                        progress=progress, desc=f"FGSM training ({kind} label, eps {eps:g}, width {width})",
                        on_epoch=on_epoch)


def eval_eps(p, train_eps):
    return p.eval_eps if p.eval_eps > 0 else train_eps


def scored(model, test, eps, attack="true", seed=0):
    """A model's clean accuracy and its accuracy under the `attack` label's FGSM on the test images, the gap and
    the gap's paired error (the clean and the attacked images are the same test images)."""
    curve = fgsm_leak.along_fgsm(model, test.images, test.labels, [0.0, eps], attack, seed=seed, keep_correct=True)
    (clean, fgsm), right = curve["acc"], curve["correct"]
    return {"clean_acc": clean, "fgsm_acc": fgsm, "gap": fgsm - clean,
            "gap_se": stats.paired_gap_se(right[1], right[0])}


def run_seed(seed, p, train_set, test, probe, mean, std, checkpoints=None, device=None):
    """Both models of one seed at the page's setting, scored, with the true-label model's loss curve."""
    out = {"models": {}}
    for kind in ATTACKS:
        checkpoint = checkpoints / f"seed{seed}-{kind}.pt" if checkpoints else None
        model, history = train(p, kind, train_set, probe, mean, std, seed, p.train_eps, p.width, checkpoint, device)
        out["models"][kind] = {**scored(model, test, eval_eps(p, p.train_eps)), "history": history}
        if kind == "true":
            out["curve"] = fgsm_leak.along_fgsm(model, test.images, test.labels, eps_grid(p), "true", seed=seed)
            out["model"] = model
    return out


def eps_grid(p):
    """The loss curve's eps values: eps_points evenly spaced from 0 to eps_max, with the evaluation eps."""
    grid = {round(p.eps_max * i / (p.eps_points - 1), 6) for i in range(p.eps_points)}
    return sorted(grid | {eval_eps(p, p.train_eps)})


def run_map(p, train_set, test, probe, mean, std, checkpoints=None, device=None, log=print):
    """The true-label model for every (training eps, width) cell and map seed: clean, FGSM, gap. The map's training
    eps are map_eps_points of them evenly up to map_eps_max, its widths map_widths of them doubling from
    map_width_min (experiments.leak_conditions_grid)."""
    grid = experiments.leak_conditions_grid(vars(p))
    eps_axis, width_axis = grid["map eps"], grid["map widths"]
    cells = []
    for eps in eps_axis:
        for width in width_axis:
            seeds = []
            for k in range(p.map_seeds):
                seed = p.seed + 10 * k
                log(f"leak_conditions map: eps {eps:g}, width {width}, seed {seed}")
                checkpoint = checkpoints / f"map-eps{eps:g}-w{width}-seed{seed}.pt" if checkpoints else None
                model, history = train(p, "true", train_set, probe, mean, std, seed, eps, width, checkpoint, device,
                                       progress=False)
                seeds.append({"seed": seed, **scored(model, test, eval_eps(p, eps)),
                              "history": [{k2: h[k2] for k2 in ("epoch", "clean_acc", "fgsm_acc")} for h in history]})
            cells.append({"eps": eps, "width": width, "seeds": seeds})
    return {"eps": eps_axis, "widths": width_axis, "cells": cells}


def prepared(name, p):
    """One dataset as every run of the chapter uses it: (training images, test images, validation probe, mean,
    std); the training images are the first n_train of all but the probe (all of them where n_train is larger)."""
    train_full, test_full = data.load(name, "train"), data.load(name, "test")
    mean, std = training.channel_stats(train_full.images)
    # the per-epoch probe is a validation split: the setting was chosen watching probes, so the test images
    # score the final models only
    pool, probe = data.hold_out(train_full, PROBE)
    return data.subset(pool, p.n_train), data.subset(test_full, p.n_eval), probe, mean, std


def run_cells(p, device=None, log=print):
    """The difficulty axis: the page's recipe, true-label FGSM training beside the predicted-label control, on each
    dataset of cells_datasets (CIFAR-10 at cifar_width, the others at width), at each training eps of the cells'
    grid, cells_seeds seeds each; each model is scored at its training eps (or eval_eps when set)."""
    cells = []
    for name in experiments.picked(p.cells_datasets):
        train_set, test, probe, mean, std = prepared(name, p)
        width = p.cifar_width if name == "cifar10" else p.width
        checkpoints = records.checkpoint_dir("leak_conditions", p, [train_set.digest, test.digest, probe.digest],
                                              training.arithmetic(device), PICKS)
        for eps in experiments.leak_conditions_grid(vars(p))["cell eps"]:
            seeds = []
            for k in range(p.cells_seeds):
                seed, row = p.seed + 10 * k, {}
                for kind in ATTACKS:
                    log(f"leak_conditions cells: {name}, eps {eps:g}, width {width}, seed {seed}, {kind} label")
                    checkpoint = checkpoints / f"cell-eps{eps:g}-w{width}-seed{seed}-{kind}.pt"
                    model, _ = train(p, kind, train_set, probe, mean, std, seed, eps, width, checkpoint, device,
                                     progress=False)
                    row[kind] = scored(model, test, eval_eps(p, eps))
                seeds.append({"seed": seed, **row})
            cells.append({"dataset": name, "eps": eps, "width": width, "n_train": len(train_set.labels),
                          "seeds": seeds})
    return cells


def run_label_table(p, train_set, test, probe, mean, std, checkpoints, device=None, log=print):
    """Blog's open question, on the page's setting: a model trained with each attack label (label_seeds seeds
    each), each attacked with FGSM of each label at the evaluation eps. The true- and predicted-label models of
    the page's seeds are the same networks (the same checkpoints), read back rather than trained again."""
    eps = eval_eps(p, p.train_eps)
    table = {}
    for kind in attacks.ATTACK_LABELS:
        rows = []
        for k in range(p.label_seeds):
            seed = p.seed + 10 * k
            log(f"leak_conditions label table: trained with the {kind} label, seed {seed}")
            checkpoint = checkpoints / f"seed{seed}-{kind}.pt" if checkpoints else None
            model, _ = train(p, kind, train_set, probe, mean, std, seed, p.train_eps, p.width, checkpoint, device,
                             progress=False)
            rows.append({"seed": seed, "attacked": {attack: scored(model, test, eps, attack, seed=seed)
                                                    for attack in attacks.ATTACK_LABELS}})
        table[kind] = rows
    return {"eps": eps, "trained": table}


def seed_row(seed, s):
    """One seed's numbers, as the record keeps them."""
    true, control = s["models"]["true"], s["models"]["predicted"]
    return {"seed": seed, "clean_acc": true["clean_acc"], "fgsm_acc": true["fgsm_acc"],
            "leak_gap": true["gap"], "leak_gap_se": true["gap_se"],
            "leaking_seeds": float(true["gap"] > stats.Z * true["gap_se"]),
            "control_clean_acc": control["clean_acc"], "control_fgsm_acc": control["fgsm_acc"],
            "control_gap": control["gap"], "control_gap_se": control["gap_se"]}


def summarize(rows):
    """The record's metrics: means over seeds (leaking_seeds: the share of seeds that leak beyond noise); each one
    undefined (NaN) in a record without the page's seeds (n_seeds 0: the map, cells or label table alone)."""
    if not rows:
        return {key: math.nan for key in experiments.get("leak_conditions").metrics}
    return records.summarize_rows(rows, spread=("leak_gap", "control_gap", "clean_acc"))


def parts_held(p, series):
    """What a record holds besides the page's seeds, in words (its provenance line says it: the full profile may
    come in pieces, a record each)."""
    def seeds(n):
        return ", ".join(str(p.seed + 10 * k) for k in range(n))

    parts = []
    if "map" in series:
        m = series["map"]
        parts.append(f"the map (training eps {', '.join(f'{e:g}' for e in m['eps'])}; widths "
                     f"{', '.join(map(str, m['widths']))}; seeds {seeds(p.map_seeds)})")
    for name in dict.fromkeys(c["dataset"] for c in series.get("cells", [])):
        eps = [c["eps"] for c in series["cells"] if c["dataset"] == name]
        parts.append(f"the {name} cells (training eps {', '.join(f'{e:g}' for e in eps)}; seeds "
                     f"{seeds(p.cells_seeds)})")
    if "label_table" in series:
        parts.append(f"the four-label table (seeds {seeds(p.label_seeds)})")
    return parts


def compute(p, log=print):
    """The whole experiment for parameters `p`: both models for every seed (checkpointed per epoch), the map
    when map_eps_points > 0, the difficulty cells when cells_seeds > 0 and the four-label table when label_seeds
    > 0; beside the record, the first seed's true-label model in fp16 (the slider). With n_seeds 0 the record
    holds only the other parts: on a CPU the full profile comes in pieces, one record each, which the page pools."""
    device = training.resolve_device(p.device)
    on_page_data = bool(p.n_seeds or p.map_eps_points or p.label_seeds)  # the parts trained on p.dataset
    used = [p.dataset] if on_page_data else []
    if p.cells_seeds:
        used += [name for name in experiments.picked(p.cells_datasets) if name not in used]
    train_set, test, probe, mean, std = prepared(p.dataset, p) if on_page_data else (None,) * 5
    checkpoints = None if train_set is None else records.checkpoint_dir(
        "leak_conditions", p, [train_set.digest, test.digest, probe.digest], training.arithmetic(device), PICKS)
    numbers = [p.seed + 10 * k for k in range(p.n_seeds)]
    seeds = []
    for n in numbers:
        log(f"leak_conditions: seed {n} ({len(seeds) + 1} of {p.n_seeds})")
        seeds.append(run_seed(n, p, train_set, test, probe, mean, std, checkpoints, device))
    rows = [seed_row(n, s) for n, s in zip(numbers, seeds)]
    series = {"n_test": min(p.n_eval, data.TEST_SET_SIZE), "n_probe": PROBE, "probe": "validation",
              "classes": data.CLASSES[p.dataset]}
    if train_set:
        series.update({"n_test": len(test.labels), "normalization": [mean, std]})
    if seeds:
        series.update({"eps": seeds[0]["curve"]["eps"],
                       "seeds": [{"seed": n, "curve": s["curve"],
                                  "models": {k: {key: m[key] for key in ("clean_acc", "fgsm_acc", "gap", "gap_se",
                                                                         "history")}
                                             for k, m in s["models"].items()}} for n, s in zip(numbers, seeds)]})
    if p.map_eps_points > 0:
        series["map"] = run_map(p, train_set, test, probe, mean, std, checkpoints, device, log)
    if p.cells_seeds > 0:
        series["cells"] = run_cells(p, device, log)
    if p.label_seeds > 0:
        series["label_table"] = run_label_table(p, train_set, test, probe, mean, std, checkpoints, device, log)
    out = {"metrics": summarize(rows), "per_seed": rows, "series": series, "parts": parts_held(p, series),
           "device": training.describe_device(device),
           "data": records.describe_data(*[data.load(name, split) for name in used for split in ("train", "test")])}
    if seeds:
        out.update({"files": {".pt": fgsm_leak.model_bytes(seeds[0]["model"])}, "live": {"model": seeds[0]["model"]}})
    return out


def model_from_record(record):
    """The first seed's true-label model kept beside a record, on the CPU, read back with weights_only."""
    p = record["params"]
    mean, std = record["series"]["normalization"]
    side = 32 if p["dataset"] == "cifar10" else 28
    shape = data.Dataset(torch.zeros(1, len(mean), side, side, dtype=torch.uint8), torch.zeros(1), "", "")
    return fgsm_leak.load_weights(build_model(p["width"], shape, mean, std), record)
