"""leak_conditions: the record a run writes, the page drawn from it, and the words that judge it."""
import math
import statistics
from pathlib import Path
from types import SimpleNamespace

import matplotlib
import pytest
import torch
from tiny import TINY as TINY_RUNS

from leaklab import attacks, experiments, leak_conditions, records, stats
from leaklab.pages import leak_conditions as leak_conditions_page


matplotlib.use("Agg")

# two seeds (a spread) and a map of 2 cells
TINY = {**TINY_RUNS["leak_conditions"], "n_seeds": 2, "width": 4, "map_eps_points": 1, "map_widths": 2, "map_seeds": 1,
        "map_width_min": 2}


@pytest.fixture(scope="module")
def tiny():
    params = experiments.resolve("leak_conditions", "quick", TINY)
    p = SimpleNamespace(**params)
    out = leak_conditions.compute(p, log=lambda m: None)
    return p, out, records.payload("leak_conditions", params, out)


def test_a_run_records_both_models_every_epoch_and_the_map(tiny):
    p, out, record = tiny
    rows = record["per_seed"]
    assert [r["seed"] for r in rows] == [0, 10]
    for r in rows:
        assert r["leak_gap"] == pytest.approx(r["fgsm_acc"] - r["clean_acc"])
        assert r["leaking_seeds"] == float(r["leak_gap"] > stats.Z * r["leak_gap_se"])
        # the paired error: zero only when the attack changes no image's right-or-wrong (an untrained tiny net)
        assert 0 <= r["leak_gap_se"] < 0.1 and (r["leak_gap_se"] > 0 or r["leak_gap"] == 0)
    assert record["metrics"]["leaking_seeds"] == pytest.approx(sum(r["leaking_seeds"] for r in rows) / 2)
    seed = record["series"]["seeds"][0]
    for kind in leak_conditions.ATTACKS:
        history = seed["models"][kind]["history"]
        assert [h["epoch"] for h in history] == [1] and {"clean_acc", "fgsm_acc", "gap_se"} <= set(history[0])
        assert 0 <= history[0]["gap_se"] < 0.1  # the probe's paired error (stats.paired_gap_se)
    assert seed["curve"]["eps"][0] == 0 and len(seed["curve"]["loss"]) == len(seed["curve"]["eps"])
    m = record["series"]["map"]
    assert m["eps"] == [p.map_eps_max] and m["widths"] == [2, 4] and len(m["cells"]) == 2
    assert record["series"]["n_test"] == 200 and ".pt" in record["_files"]


def test_the_kept_model_reads_back_and_answers_as_the_trained_one(tiny):
    p, out, record = tiny
    model = leak_conditions.model_from_record(record)
    x = torch.rand(4, 1, 28, 28)
    with torch.no_grad():
        live = out["live"]["model"].cpu().eval()(x)
    assert torch.allclose(model(x), live, atol=0.05)


def test_the_page_draws_from_the_record(tiny):
    p, out, record = tiny
    table = leak_conditions_page.table([record])
    assert table.count("true label") == 2 and table.count("predicted label") == 2
    for draw in (leak_conditions_page.epochs_figure, leak_conditions_page.loss_figure, leak_conditions_page.map_figure):
        assert draw([record]) is not None and draw([]) is None
    words = leak_conditions_page.words(p, record, [record])
    assert words["dataset_name"] == "Fashion-MNIST"
    # the committed record's probes in a sentence of their own (the setup said them twice, nested, before)
    assert words["paper_probe_words"] == "The committed paper-scale record's models were probed on the same images."
    assert leak_conditions_page.words(p, record)["paper_probe_words"] == "No paper-scale record is committed yet."
    assert table.count("yes: FGSM") + table.count("| no |") == 4  # the verdict column says which way
    assert "cells" in words["map_reading"] and "±" in words["leak_words"]


def test_the_conjecture_is_judged_by_the_noise_rule():
    p = SimpleNamespace(**experiments.resolve("leak_conditions", "quick"))

    def record(gaps, control):
        rows = [{"seed": i, "leak_gap": g, "leak_gap_se": 0.005, "control_gap": c, "control_gap_se": 0.005,
                 "leaking_seeds": float(g > 0.01), "clean_acc": 0.9} for i, (g, c) in enumerate(zip(gaps, control))]
        final = lambda gap: {"history": [{"epoch": 1, "clean_acc": 0.9, "fgsm_acc": 0.9 + gap}]}  # noqa: E731
        seeds = [{"seed": i, "models": {"true": final(g), "predicted": final(c)}}
                 for i, (g, c) in enumerate(zip(gaps, control))]
        return {"per_seed": rows, "metrics": {"clean_acc": 0.9},
                "series": {"n_probe": 1000, "n_test": 10000, "seeds": seeds}}

    # the case picks the notebook's paragraph (book.keep_holding_branches); what each says is in the notebook
    leaking = leak_conditions_page.words(p, record([0.08, 0.09, 0.07, 0.1, 0.08], [0.01] * 5))
    assert leaking["conjecture_case"] == "label_read" and leaking["n_leaking"] == 5
    assert leaking["n_seeds_run"] == 5 and leaking["blog_clean_acc"] == 0.9212
    # leaking as much without the label: the control explains the gap
    both = leak_conditions_page.words(p, record([0.08, 0.09, 0.07, 0.1, 0.08], [0.08, 0.1, 0.07, 0.09, 0.08]))
    assert both["conjecture_case"] == "control_too"
    flat = leak_conditions_page.words(p, record([0.001, -0.002, 0.0, 0.003, -0.001], [0.0] * 5))
    assert flat["conjecture_case"] == "unsettled" and flat["paper_conjecture_case"] == "no_record"
    # the committed record, judged the same way on its own seeds, and told apart from the search's seeds
    committed = record([0.08, 0.09, 0.07, 0.1, 0.08], [0.01] * 5)
    for row, seed in zip(committed["per_seed"], range(1000, 1050, 10)):
        row["seed"] = seed
    judged = leak_conditions_page.words(p, record([0.001, -0.002, 0.0, 0.003, -0.001], [0.0] * 5), [committed])
    assert (judged["conjecture_case"], judged["paper_conjecture_case"]) == ("unsettled", "label_read")
    assert judged["paper_seeds_words"] == "seeds 1000, 1010, 1020, 1030, 1040, none of which that search watched"
    searched = leak_conditions_page.words(p, committed, [record([0.08] * 5, [0.01] * 5)])
    assert searched["paper_seeds_words"].endswith("1 of them seeds that search watched")  # seed 0 of 0-4


def test_the_map_reading_counts_cells_by_the_noise_rule():
    cell = lambda eps, w, gap: {"eps": eps, "width": w, "seeds": [  # noqa: E731
        {"gap": gap, "gap_se": 0.001, "clean_acc": 0.9}, {"gap": gap, "gap_se": 0.001, "clean_acc": 0.8}]}
    m = {"eps": [25.5, 76.5], "widths": [4, 8], "cells": [cell(25.5, 4, 0.0), cell(25.5, 8, 0.001),
                                                           cell(76.5, 4, 0.05), cell(76.5, 8, 0.09)]}
    m["cells"][0]["seeds"][0]["gap"] = m["cells"][0]["seeds"][1]["gap"] = -0.05  # the attack wins there
    v = leak_conditions_page.map_summary(m)
    assert (v["n_cells"], v["n_leak"], v["n_harder"], v["n_unclear"]) == (4, 2, 1, 1)
    assert v["critical"] == [12.7] and v["n_seeds"] == 2  # Student's t for 2 seeds
    assert v["smallest_leaking_eps"] == 76.5
    row = v["by_eps"][76.5]  # a row's mean gap carries its error: the mean of its cells' estimates
    parts = [leak_conditions_page.cell_estimate(c) for c in m["cells"][2:]]
    assert (row["clean"], row["gap"].value, row["n_leaking"], row["n_cells"]) == (pytest.approx(0.85),
                                                                                  pytest.approx(0.07), 2, 2)
    assert row["gap"].se == pytest.approx(math.hypot(*(e.se for e in parts)) / 2)
    row = v["by_width"][8]
    assert (row["clean"], row["gap"].value, row["n_leaking"], row["n_cells"]) == (pytest.approx(0.85),
                                                                                  pytest.approx(0.0455), 1, 2)
    m["cells"][2]["seeds"][0]["gap_se"] = m["cells"][2]["seeds"][1]["gap_se"] = 0.004  # 12.5 errors: not with 2
    assert leak_conditions_page.map_summary(m)["n_leak"] == 1
    m["cells"][2]["seeds"][0]["gap_se"] = m["cells"][2]["seeds"][1]["gap_se"] = 0.001
    for c in m["cells"][:2]:  # nets that never learned: counted as cells, left out of the means
        for s in c["seeds"]:
            s["clean_acc"] = 0.1
    v = leak_conditions_page.map_summary(m)
    assert v["left_out"] == 2 and v["by_eps"][25.5]["n_cells"] == 0 and v["by_eps"][25.5]["gap"] is None
    row = v["by_width"][8]
    assert (row["clean"], row["gap"].value, row["n_leaking"], row["n_cells"]) == (pytest.approx(0.85),
                                                                                  pytest.approx(0.09), 1, 1)
    assert "2 that stay near chance are left out" in leak_conditions_page.map_reading(m)  # the words read the summary
    for s in m["cells"][0]["seeds"]:  # a poor net is not one that never learned: only chance-level ones are out
        s["clean_acc"] = 0.48
    assert leak_conditions_page.map_summary(m)["left_out"] == 1
    assert "1 that stays near chance is left out" in leak_conditions_page.map_reading(m)
    # a net that never learned beside its cell's other seed, which did: left out of that cell's mean alone (seen
    # at paper scale: a width-2 net stuck at chance, its twin at 84% clean)
    dead, live = m["cells"][3]["seeds"]
    dead.update(clean_acc=0.1, gap=0.0)
    assert leak_conditions_page.cell_estimate(m["cells"][3]).value == pytest.approx(live["gap"])
    assert leak_conditions_page.cell_clean(m["cells"][3]) == pytest.approx(live["clean_acc"])
    v = leak_conditions_page.map_summary(m)
    assert v["nets_left_out"] == 1
    assert "1 net that never learned, beside another seed's that did, is left out of its cell's mean" in \
        leak_conditions_page.map_reading(m)
    # that cell now rests on one net: its leak beyond twice its error speaks for the net, not for the setting
    assert (v["n_one_net"], v["one_net_leaks"], v["n_leak"]) == (1, 1, 1)
    assert "The 1 one-net cell speaks for its single trained net, not for the setting: 1 leaks" in \
        leak_conditions_page.map_reading(m)


def test_bad_parameters_are_refused_before_any_work():
    with pytest.raises(experiments.ParameterError, match="dataset='cifar'"):
        experiments.resolve("leak_conditions", "quick", {"dataset": "cifar"})
    with pytest.raises(experiments.ParameterError, match="train_eps"):
        experiments.resolve("leak_conditions", "quick", {"train_eps": 0})


def test_the_map_answers_the_conjecture_only_as_far_as_the_noise_allows():
    def cell(eps, w, gap, clean):
        return {"eps": eps, "width": w, "seeds": [{"gap": gap, "gap_se": 0.004, "clean_acc": clean}] * 2}

    m = {"eps": [34, 68, 102], "widths": [2, 4, 8],
         "cells": [cell(e, w, g, c) for e, g in ((34, -0.06), (68, 0.05), (102, 0.08))
                   for w, c in ((2, 0.1), (4, 0.87), (8, 0.88 + e / 10000))]}
    verdict = leak_conditions_page.map_verdict(m)
    assert verdict["case"] == "answered" and verdict["n_cells"] == 6  # width 2 never learned: left out
    # eps: +14 points from 34 to 102, far beyond its error; width: no change at all
    lo, hi, eps = verdict["eps"]
    assert (lo, hi) == (34, 102) and round(eps.value, 4) == 0.14 and eps.is_effect
    lo, hi, width = verdict["width"]
    assert (lo, hi) == (4, 8) and abs(width.value) < 1e-12 and not width.is_effect
    assert verdict["moves"] == "eps"
    assert verdict["correlation"] == "unclear"  # six cells cannot settle a correlation
    # the conjecture predicts a negative r (a larger gap where the clean accuracy is lower): the words say which
    # sign was seen, and whether it is beyond noise
    assert verdict["r"] > 0 and leak_conditions_page.map_words(m)["correlation_words"].startswith(
        "positive, a sign opposite to the prediction, but one that cannot be told apart")
    for case, r, start in (("unclear", -0.3, "negative, the sign the prediction expects, but"),
                           ("opposite", 0.9, "positive, the opposite"), ("as_predicted", -0.9, "negative, as it"),
                           ("unclear", 0.0, "which cannot be told apart")):
        assert leak_conditions_page.correlation_words({"correlation": case, "r": r}).startswith(start)
    words = leak_conditions_page.map_words(m)
    assert words["map_decides"] == "only the training eps moves the gap measurably"
    assert "no practical amount of seeds per cell" in words["width_change_words"]  # no count of seeds would tell
    assert leak_conditions_page.map_verdict({"cells": m["cells"][:3]})["case"] == "too_few"
    assert leak_conditions_page.map_words(None) == {"map_case": "no_map"}


def test_the_onset_is_the_epoch_from_which_the_leak_stays_beyond_noise():
    def history(gaps, clean=0.85):
        return [{"epoch": i + 1, "clean_acc": clean, "fgsm_acc": clean + g} for i, g in enumerate(gaps)]

    # on 1,000 images a gap's error is about 1.5 points: +8 leaks, +1 does not
    assert leak_conditions_page.onset(history([-0.2, 0.08, -0.1, 0.05, 0.06]), 1000)[0] == 4
    assert leak_conditions_page.onset(history([0.08, 0.08, 0.08]), 1000)[0] == 1
    assert leak_conditions_page.onset(history([0.08, 0.08, 0.01]), 1000)[0] is None
    assert leak_conditions_page.onset(history([0.08, 0.08, 0.08]), 20)[0] is None  # too few images to tell
    rec = {"series": {"n_probe": 1000, "seeds": [
        {"seed": 0, "models": {"true": {"history": history([-0.2, 0.08, -0.1, 0.05])},
                               "predicted": {"history": history([-0.1, 0.0, 0.01, 0.01])}}},
        {"seed": 10, "models": {"true": {"history": history([0.0, 0.01, 0.02, 0.06])},
                                "predicted": {"history": history([0.0, 0.0, 0.04, 0.05])}}}]}}
    v = leak_conditions_page.onset_summary(rec)
    assert v["true_onsets"] == [4, 4] and v["epochs"] == 4 and v["control_onsets"] == [None, 3]
    rise = v["largest_rise"]
    assert (rise["seed"], rise["epoch"], rise["beyond"]) == (0, 2, True) and round(100 * rise["size"], 1) == 28.0
    assert (v["n_harder"], v["n_relapsed"]) == (1, 1)
    # seed 0 gained more than half its final gap in one epoch beyond noise; seed 10 crept up within it
    assert (v["n_leaking"], v["n_jumped"]) == (2, 1)
    assert "1 gained more than half" in leak_conditions_page.onset_words(rec)
    assert "committed yet" in leak_conditions_page.onset_words(None)
    assert not v["paired"] and "predate the paired error" in leak_conditions_page.onset_words(rec)
    # a record that kept each epoch's paired error is judged by it: +1 point leaks where the pairs are tight
    tight = [{**e, "gap_se": 0.002} for e in history([0.01, 0.01])]
    assert leak_conditions_page.onset(tight, 1000)[0] == 1
    assert leak_conditions_page.onset(history([0.01, 0.01]), 1000)[0] is None  # the unpaired error: within noise
    for s in rec["series"]["seeds"]:
        for m in s["models"].values():
            m["history"] = [{**e, "gap_se": 0.002} for e in m["history"]]
    paired = leak_conditions_page.onset_words(rec)
    assert "paired on the same images" in paired and "predate" not in paired


def test_the_largest_n_train_is_each_training_set_less_the_validation_split():
    sizes = experiments.get("leak_conditions").data_sizes["n_train"]
    assert {name: n + leak_conditions.PROBE for name, n in sizes.items()} == {
        "fashion_mnist": 60000, "mnist": 60000, "cifar10": 50000}


@pytest.mark.heavy
def test_the_difficulty_cells_and_the_four_label_table_are_recorded_and_reuse_the_pages_models(tmp_path, monkeypatch):
    from leaklab import training

    monkeypatch.setenv("LEAKLAB_CHECKPOINTS", str(tmp_path))
    written, real_save = [], training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint", lambda obj, path: (written.append(Path(path).name),
                                                                      real_save(obj, path)))
    params = experiments.resolve("leak_conditions", "quick", {
        **TINY_RUNS["leak_conditions"], "cells_datasets": "mnist", "cells_eps_points": 1, "cells_seeds": 1,
        "label_seeds": 1})
    assert experiments.data_needed("leak_conditions", params) == (
        ("fashion_mnist", "train"), ("fashion_mnist", "test"), ("mnist", "train"), ("mnist", "test"))
    out = leak_conditions.compute(SimpleNamespace(**params), log=lambda m: None)
    (cell,) = out["series"]["cells"]
    assert (cell["dataset"], cell["eps"], cell["width"], cell["n_train"]) == ("mnist", params["cells_eps_max"], 2, 1000)
    (seed,) = cell["seeds"]
    assert seed["seed"] == 0 and set(seed) == {"seed", *leak_conditions.ATTACKS}
    for kind in leak_conditions.ATTACKS:
        assert seed[kind]["gap"] == pytest.approx(seed[kind]["fgsm_acc"] - seed[kind]["clean_acc"])
    table = out["series"]["label_table"]
    assert list(table["trained"]) == list(attacks.ATTACK_LABELS) and table["eps"] == params["train_eps"]
    for kind, rows in table["trained"].items():
        assert [r["seed"] for r in rows] == [0] and list(rows[0]["attacked"]) == list(attacks.ATTACK_LABELS)
    # the true- and predicted-label rows are the page's own networks, read back from their checkpoints: each
    # network is trained (and its one epoch written) once
    assert sorted(written) == sorted(["seed0-true.pt", "seed0-predicted.pt", "seed0-least_likely.pt",
                                      "seed0-random.pt", "cell-eps76.5-w2-seed0-true.pt",
                                      "cell-eps76.5-w2-seed0-predicted.pt"])
    for kind in leak_conditions.ATTACKS:
        page_model = out["series"]["seeds"][0]["models"][kind]
        in_table = table["trained"][kind][0]["attacked"]["true"]
        assert (in_table["clean_acc"], in_table["fgsm_acc"]) == (page_model["clean_acc"], page_model["fgsm_acc"])
    assert any(s.startswith("MNIST train") for s in out["data"]["sources"])
    no_cells = experiments.resolve("leak_conditions", "quick", {"cells_datasets": "mnist"})
    assert experiments.data_needed("leak_conditions", no_cells) == (("fashion_mnist", "train"),
                                                                      ("fashion_mnist", "test"))


@pytest.mark.heavy
def test_pieces_of_the_full_profile_run_as_separate_records_share_their_finished_networks(tmp_path, monkeypatch):
    """The README's pieces: a record of the page's seeds, then one of the four-label table alone. The parts only
    pick networks, so the table reads back the page seed's true- and predicted-label networks and trains only the
    two labels the seeds do not; a change in how networks are trained gives them a directory of their own."""
    from leaklab import training

    monkeypatch.setenv("LEAKLAB_CHECKPOINTS", str(tmp_path))
    written, real_save = [], training.save_checkpoint
    monkeypatch.setattr(training, "save_checkpoint", lambda obj, path: (written.append(Path(path)),
                                                                      real_save(obj, path)))
    tiny = {**TINY_RUNS["leak_conditions"], "n_seeds": 1, "map_eps_points": 0, "cells_seeds": 0, "label_seeds": 0}
    seeds = leak_conditions.compute(SimpleNamespace(**experiments.resolve("leak_conditions", "full", tiny)),
                                    log=lambda m: None)
    assert sorted(path.name for path in written) == ["seed0-predicted.pt", "seed0-true.pt"]
    first_dir, written[:] = written[0].parent, []
    table_alone = {**tiny, "n_seeds": 0, "label_seeds": 1}
    table = leak_conditions.compute(SimpleNamespace(**experiments.resolve("leak_conditions", "full", table_alone)),
                                    log=lambda m: None)
    assert sorted(path.name for path in written) == ["seed0-least_likely.pt", "seed0-random.pt"]
    assert {path.parent for path in written} == {first_dir}
    for kind in leak_conditions.ATTACKS:
        page_model = seeds["series"]["seeds"][0]["models"][kind]
        in_table = table["series"]["label_table"]["trained"][kind][0]["attacked"]["true"]
        assert (in_table["clean_acc"], in_table["fgsm_acc"]) == (page_model["clean_acc"], page_model["fgsm_acc"])

    # every other parameter stays in the key: a change to any of them gives the networks a directory of their own
    params, data = experiments.resolve("leak_conditions", "full", tiny), ["a" * 64]
    exp = experiments.get("leak_conditions")
    assert not set(leak_conditions.PICKS) & set(exp.setting) and set(leak_conditions.PICKS) <= set(exp.parts)
    home = records.checkpoint_dir("leak_conditions", SimpleNamespace(**params), data, picks=leak_conditions.PICKS)
    kept = [k for k in params if k not in leak_conditions.PICKS + records.SELECTION_PARAMS]
    for key in kept:
        other = {**params, key: params[key] + ("x" if isinstance(params[key], str) else 1)}
        assert records.checkpoint_dir("leak_conditions", SimpleNamespace(**other), data,
                                      picks=leak_conditions.PICKS) != home, key
    for key in leak_conditions.PICKS:
        other = {**params, key: params[key] + ("x" if isinstance(params[key], str) else 1)}
        assert records.checkpoint_dir("leak_conditions", SimpleNamespace(**other), data,
                                      picks=leak_conditions.PICKS) == home, key


def synthetic_cell(dataset, eps, clean, gap, control_gap, spread=0.004):
    """A difficulty cell of five seeds around the given numbers (the test images' error: 0.3 points)."""
    wiggle = [-2, -1, 0, 1, 2]
    return {"dataset": dataset, "eps": eps, "width": 8, "n_train": 59000, "seeds": [
        {"seed": 10 * k, "true": {"clean_acc": clean, "fgsm_acc": clean + gap + spread * w, "gap": gap + spread * w,
                                  "gap_se": 0.003},
         "predicted": {"clean_acc": clean, "fgsm_acc": clean + control_gap - spread * w,
                       "gap": control_gap - spread * w, "gap_se": 0.003}} for k, w in enumerate(wiggle)]}


def test_the_cells_answer_the_conjecture_from_the_nets_that_learned():
    cells = [synthetic_cell("mnist", e, 0.99, 0.0, 0.0) for e in (51.0, 76.5)]
    cells += [synthetic_cell("fashion_mnist", e, 0.88, 0.05, 0.0) for e in (51.0, 76.5)]
    cells += [synthetic_cell("cifar10", 51.0, 0.45, 0.15, 0.0), synthetic_cell("cifar10", 76.5, 0.1, 0.3, 0.0)]
    rec = {"params": experiments.get("leak_conditions").profiles["full"], "series": {"n_test": 10000, "cells": cells}}
    v = leak_conditions_page.cells_summary(rec)
    assert v["case"] == "answered" and (v["hard"], v["easy"]) == ("cifar10", "mnist")
    assert v["eps"] == [51.0]  # CIFAR-10 at 76.5 never learned: no comparison there, and no mean counts it
    assert v["grows"] == "harder_leaks_more" and v["change"].value == pytest.approx(0.15)
    assert v["mnist"] == "no_leak" and v["per_dataset"]["cifar10"] == {
        "n_cells": 2, "n_learned": 1, "clean": 0.45, "n_leaking": 1, "n_beyond_control": 1, "seeds_left_out": 0,
        "seeds": 5}
    table = leak_conditions_page.cells_table([rec])
    assert table.count("never learned") == 1 and table.count("leaks, beyond the control") == 3
    ax = leak_conditions_page.cells_figure([rec]).axes[0]  # a filled and a hollow point for each cell that learned
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "MNIST: true-label gap (hollow: its control)", "Fashion-MNIST: true-label gap (hollow: its control)",
        "CIFAR-10: true-label gap (hollow: its control)", "never learned (clean at most 20%)"]
    assert len(ax.containers) == 2 * 5 and len(ax.texts) == 6
    assert leak_conditions_page.cells_figure([{"series": {}}]) is None
    # the same cells with MNIST's gap as large as CIFAR-10's: the conjecture's trend is gone
    flat = [synthetic_cell(c["dataset"], c["eps"], c["seeds"][0]["true"]["clean_acc"], 0.15, 0.0)
            if c["dataset"] == "mnist" else c for c in cells]
    v = leak_conditions_page.cells_summary({"series": {"n_test": 10000, "cells": flat}})
    assert v["grows"] == "unclear" and v["mnist"] == "beyond_control"
    words = leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": cells}})
    assert words["cells_grows_case"] == "harder_leaks_more" and words["cells_hard"] == "CIFAR-10"
    assert "differ in width" not in words["cells_reading"]  # one width for all: nothing to say
    wider = [{**c, "width": 16} if c["dataset"] == "cifar10" else c for c in cells]
    assert leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": wider}})["cells_reading"].endswith(
        "differ in width as well as in difficulty (MNIST 8, Fashion-MNIST 8, CIFAR-10 16), so a comparison across "
        "them changes both.")
    assert leak_conditions_page.cells_summary(None)["case"] == "no_cells"


def test_the_cells_read_the_conjecture_step_by_step_between_neighbours_in_difficulty():
    def cells(fashion_gap):  # MNIST 0, CIFAR-10 +15 points at both eps; Fashion-MNIST between or below
        return [synthetic_cell("mnist", e, 0.99, 0.0, 0.0) for e in (51.0, 76.5)] + [
            synthetic_cell("fashion_mnist", e, 0.88, fashion_gap, 0.0) for e in (51.0, 76.5)] + [
            synthetic_cell("cifar10", e, 0.6, 0.15, 0.0) for e in (51.0, 76.5)]

    rising = leak_conditions_page.cells_summary({"series": {"n_test": 10000, "cells": cells(0.05)}})
    assert rising["grows"] == "harder_leaks_more" and rising["steps_case"] == "every_step"
    assert [(e, easier, harder) for e, easier, harder, _ in rising["steps"]] == [
        (51.0, "mnist", "fashion_mnist"), (51.0, "fashion_mnist", "cifar10"),
        (76.5, "mnist", "fashion_mnist"), (76.5, "fashion_mnist", "cifar10")]
    assert rising["steps"][0][3].value == pytest.approx(0.05)
    # Fashion-MNIST below MNIST: the ends still say "harder leaks more", the middle step goes the other way
    dipping = cells(-0.05)
    words = leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": dipping}})
    assert words["cells_grows_case"] == "harder_leaks_more" and words["cells_steps_case"] == "reversed"
    assert words["cells_steps_words"].startswith("at 51/255, Fashion-MNIST minus MNIST -5.00 ± ")
    assert "CIFAR-10 minus Fashion-MNIST +20.00 ± " in words["cells_steps_words"]
    # a step within noise and none reversed: partly
    flat_middle = cells(0.0005)
    assert leak_conditions_page.cells_summary({"series": {"n_test": 10000, "cells": flat_middle}})[
        "steps_case"] == "partly"
    # two datasets: only the ends, no steps
    two = [c for c in cells(0.05) if c["dataset"] != "fashion_mnist"]
    assert leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": two}})[
        "cells_steps_case"] == "not_answered"


def synthetic_label_record(dataset, width, eps, gaps, provenance=None):
    """A full record with a four-label table of five seeds: each label's model gaps `gaps[label]` under its own
    attack and none under the others (the test images' error: 0.3 points)."""
    def rows(label):
        attacked = {**dict.fromkeys(attacks.ATTACK_LABELS, 0.0), label: gaps.get(label, 0.0)}
        return [{"seed": 10 * k, "attacked": {a: {"clean_acc": 0.9, "fgsm_acc": 0.9 + g + 0.002 * (k - 2),
                                                  "gap": g + 0.002 * (k - 2), "gap_se": 0.003}
                                              for a, g in attacked.items()}} for k in range(5)]
    table = {"eps": eps, "trained": {label: rows(label) for label in attacks.ATTACK_LABELS}}
    params = experiments.resolve("leak_conditions", "full", {"dataset": dataset, "width": width, "train_eps": eps})
    return {"params": params, "profile": "full", "series": {"n_test": 10000, "label_table": table},
            "provenance": provenance}


def test_a_difficulty_cell_leaves_out_a_seed_whose_either_net_never_learned():
    cell = synthetic_cell("cifar10", 76.5, 0.45, 0.15, 0.0)
    whole = leak_conditions_page.cell_numbers(cell, 10000)
    stuck = cell["seeds"][4]["predicted"]  # the control of one seed stuck at chance: its gap of 0 says nothing
    stuck.update(clean_acc=0.1, fgsm_acc=0.1, gap=0.0)
    n = leak_conditions_page.cell_numbers(cell, 10000)
    assert (n["learned"], n["left_out"], n["n_seeds"], n["leak"].n_seeds) == (True, 1, 5, 4)
    assert n["leak"].value == pytest.approx(statistics.fmean(s["true"]["gap"] for s in cell["seeds"][:4]))
    assert n["difference"].n_seeds == 4 and whole["difference"].n_seeds == 5
    rec = {"params": experiments.get("leak_conditions").profiles["full"], "series": {"n_test": 10000, "cells": [cell]}}
    assert "(1 of 5 seeds left out: 1 control (no true-label net) never learned)" in \
        leak_conditions_page.cells_table([rec])
    reading = leak_conditions_page.cells_words(rec)["cells_reading"]
    assert "(1 of their 5 seeds left out: at 76.5/255 1 control (no true-label net) never learned)" in reading
    # the gaps condition on learning, and the reading says so, with each arm's count over all cells
    assert "In all, 1 control (no true-label net) never learned beside their seed's other net." in reading
    assert "conditioned on learning" in reading
    for s in cell["seeds"]:  # no seed with both nets learned: the cell never learned, whatever its true nets did
        s["predicted"].update(clean_acc=0.1, gap=0.0)
    n = leak_conditions_page.cell_numbers(cell, 10000)
    assert not n["learned"] and n["left_out"] == 0 and leak_conditions_page.cell_verdict(n) == "never learned"


def test_the_reading_counts_each_arms_nets_that_never_learned_eps_by_eps():
    """A true-label net that collapses where its control learns is a difference between the arms: the seed leaves
    the cell's gaps, and the reading says which arm lost how many nets at which eps (seen at paper scale: MNIST at
    25.5/255, four true-label nets at chance, every control learning)."""
    cells = [synthetic_cell("mnist", 25.5, 0.99, -0.02, -0.02), synthetic_cell("mnist", 51.0, 0.99, 0.0, 0.0)]
    for s in cells[0]["seeds"][:4]:
        s["true"].update(clean_acc=0.1135, fgsm_acc=0.1135, gap=0.0)
    cells[1]["seeds"][3]["true"].update(clean_acc=0.1135, gap=0.0)
    cells[1]["seeds"][4]["predicted"].update(clean_acc=0.1135, gap=0.0)
    rec = {"series": {"n_test": 10000, "cells": cells}}
    reading = leak_conditions_page.cells_words(rec)["cells_reading"]
    assert ("(6 of their 10 seeds left out: at 25.5/255 4 true-label nets (no control), at 51/255 1 true-label "
            "net and 1 control never learned)") in reading
    assert "In all, 5 true-label nets and 1 control never learned" in reading
    # the computation is unchanged: the gaps are over the seeds where both nets learned
    n = leak_conditions_page.cell_numbers(cells[0], 10000)
    assert (n["leak"].n_seeds, n["left_out"]) == (1, 4)
    # a cell where no net was lost says nothing of it
    whole = leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": [synthetic_cell(
        "mnist", 25.5, 0.99, 0.0, 0.0)]}})["cells_reading"]
    assert "never learned" not in whole and "conditioned on learning" not in whole


def test_a_control_whose_fgsm_images_get_easier_is_said_so():
    """The predicted-label control's attack uses its own prediction (the true label wherever it is right): where its
    own gap is above zero beyond noise, the page says so, seed by seed beside the mean over the seeds, and cell by
    cell."""
    rows = [{"control_gap": g, "control_gap_se": 0.003} for g in (0.027, -0.01, 0.007, 0.005)]
    said = leak_conditions_page.control_easier_words(rows)
    assert said.startswith("In 2 of 4 seeds the predicted-label control's") and "true label wherever" in said
    assert said.endswith("the mean cannot be told apart from zero: the 2 seeds above zero sit beside others that "
                         "are not.")
    assert leak_conditions_page.control_easier_words(rows[1:2]).startswith("In no seed")
    # the seed table says which way a gap beyond twice its error goes
    assert leak_conditions_page.beyond_words(0.027, 0.003) == "yes: FGSM easier"
    assert leak_conditions_page.beyond_words(-0.027, 0.003) == "yes: FGSM harder"
    assert leak_conditions_page.beyond_words(0.005, 0.003) == "no"
    cells = [synthetic_cell("cifar10", 51.0, 0.65, 0.25, 0.06), synthetic_cell("cifar10", 76.5, 0.65, 0.27, 0.0)]
    reading = leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": cells}})["cells_reading"]
    assert "control's own gap is above zero beyond noise in CIFAR-10 at 51/255 (+6.0 ± " in reading
    assert "76.5/255 (" not in reading and "what the true label adds beyond the net's own prediction" in reading


def test_the_steps_name_cells_that_do_not_leak_or_rest_on_one_net():
    """A step between two cells is a difference of FGSM-minus-clean gaps: where neither cell leaks, a lower gap is
    the attack doing better, not less leaking, and a cell of one net speaks for that net alone."""
    cells = [synthetic_cell("mnist", 25.5, 0.99, -0.018, -0.018), synthetic_cell("fashion_mnist", 25.5, 0.87, -0.09,
                                                                                 -0.13),
             synthetic_cell("cifar10", 25.5, 0.65, 0.24, -0.23)]
    for k, s in enumerate(cells[0]["seeds"]):  # MNIST's true-label nets collapse but for the middle seed's
        if k != 2:
            s["true"].update(clean_acc=0.1135, gap=0.0)
    words = leak_conditions_page.cells_words({"series": {"n_test": 10000, "cells": cells}})
    assert words["cells_steps_case"] == "reversed"
    assert ("Fashion-MNIST minus MNIST -7.20 ± " in words["cells_steps_words"]
            and "from zero; neither cell leaks; the MNIST cell rests on one net)" in words["cells_steps_words"])
    assert "CIFAR-10 minus Fashion-MNIST +33.00 ± " in words["cells_steps_words"]
    assert words["cells_steps_words"].endswith("its standard error from zero)")  # CIFAR-10 leaks: no note


def test_the_label_table_judges_each_labels_own_leak():
    rec = synthetic_label_record("fashion_mnist", 8, 76.5, {"true": 0.05, "least_likely": 0.04, "random": -0.03})
    words = leak_conditions_page.label_words(rec)
    assert (words["least_likely_case"], words["random_case"]) == ("leaks", "attack_wins")
    assert words["label_reading"].startswith("On Fashion-MNIST, width 8, trained at eps 76.5/255")
    shown = leak_conditions_page.label_table(rec).splitlines()
    assert [line.split(" |")[0] for line in shown[2:]] == [
        f"| {a} label" for a in ("true", "predicted", "least-likely", "random")]
    assert shown[2].count("*") == 1  # the true-label model leaks under its own attack only
    assert leak_conditions_page.label_words(None)["least_likely_case"] == "not_run"
    # where the table's own true-label leak is within noise, it cannot ask whether least-likely leaks where it does
    quiet = synthetic_label_record("fashion_mnist", 8, 76.5, {"least_likely": 0.04})
    assert leak_conditions_page.label_words(quiet)["least_likely_case"] == "true_quiet"


def test_cifar10s_label_table_is_a_variant_shown_beside_the_headline_and_pooled_nowhere(tmp_path):
    from leaklab import book

    cifar_prov = {"git_commit": "abc1234567", "torch": "2.13.0", "date": "2026-12-01T00:00:00",
                  "wall_time_s": 6000.0}
    fashion = synthetic_label_record("fashion_mnist", 8, 76.5, {"true": 0.05})
    cifar = synthetic_label_record("cifar10", 16, 25.5, {"true": 0.2, "least_likely": -0.05}, cifar_prov)
    assert not records.is_variant("leak_conditions", fashion) and records.is_variant("leak_conditions", cifar)
    for i, rec in enumerate([fashion, cifar]):
        gap = 0.2 if i else 0.05
        rec.update({"experiment": "leak_conditions", "device": "cpu (2 threads)", "data": {"sources": ["test"]},
                    "per_seed": [{"seed": 0, "leak_gap": gap, "leak_gap_se": 0.003, "leaking_seeds": 1.0,
                                  "clean_acc": 0.9, "fgsm_acc": 0.9 + gap, "control_gap": 0.0,
                                  "control_gap_se": 0.003, "control_clean_acc": 0.9, "control_fgsm_acc": 0.9}]})
        records.save(rec, tmp_path / "leak_conditions" / f"{i}.json")
    full = records.full_records("leak_conditions", tmp_path)
    variants = records.full_records("leak_conditions", tmp_path, variants=True)
    assert [r["params"]["dataset"] for r in full] == ["fashion_mnist"]
    assert [r["params"]["dataset"] for r in variants] == ["cifar10"]
    # the scorecard's paper-scale column counts the Fashion-MNIST seed alone (gap +5.00 points, not +12.50)
    row = next(line for line in book.scorecard({}, tmp_path).splitlines() if "leak_conditions <" in line)
    assert "+5.00 points" in row and "+12.50" not in row
    shown = leak_conditions_page.label_tables(full, variants)
    assert shown.index("**Fashion-MNIST, width 8") < shown.index("**CIFAR-10, width 16, trained at eps 25.5/255")
    assert "Made by:" in shown and "`abc1234567`" in shown  # the variant says where it came from
    words = leak_conditions_page.cifar_label_words(variants, None)
    assert words["cifar_least_likely_case"] == "attack_wins" and "On CIFAR-10" in words["cifar_label_reading"]


def test_without_cifar10s_label_table_the_page_says_what_the_cells_decide():
    cells = {"series": {"n_test": 10000, "cells": [
        synthetic_cell("cifar10", 25.5, 0.6, 0.20, 0.0), synthetic_cell("cifar10", 51.0, 0.5, 0.25, 0.01)]}}
    words = leak_conditions_page.cifar_label_words([], cells)
    assert words["cifar_least_likely_case"] == "not_run"
    # the command runs the table where the leak beats its control by the most, on seeds the cells did not use
    assert "-p train_eps=51 -p seed=2000" in words["cifar_label_reading"]
    quiet = {"series": {"n_test": 10000, "cells": [synthetic_cell("cifar10", 25.5, 0.6, 0.0, 0.0)]}}
    assert "No CIFAR-10 cell leaks" in leak_conditions_page.cifar_label_words([], quiet)["cifar_label_reading"]
    assert "waits for the difficulty cells" in leak_conditions_page.cifar_label_words([], None)["cifar_label_reading"]


def test_a_piece_without_the_pages_seeds_records_its_part_alone_and_the_page_pools_it(tmp_path, monkeypatch):
    """On a CPU the full profile comes in pieces, one record a sitting: n_seeds 0 computes only the parts asked."""
    monkeypatch.setenv("LEAKLAB_CHECKPOINTS", str(tmp_path))
    params = experiments.resolve("leak_conditions", "full", {
        **TINY_RUNS["leak_conditions"], "n_seeds": 0, "map_eps_points": 0, "label_seeds": 0,
        "cells_datasets": "mnist", "cells_eps_points": 1, "cells_seeds": 1})
    out = leak_conditions.compute(SimpleNamespace(**params), log=lambda m: None)
    record = records.payload("leak_conditions", params, out)
    assert record["per_seed"] == [] and set(record["metrics"].values()) == {None}
    assert "seeds" not in record["series"] and "map" not in record["series"] and ".pt" not in record["_files"]
    assert [c["dataset"] for c in record["series"]["cells"]] == ["mnist"]
    assert all(s.startswith("MNIST") for s in record["data"]["sources"])  # Fashion-MNIST was not used
    # its provenance line says what it holds, as the page lists every record it pools
    assert record["parts"] == [f"the mnist cells (training eps {params['cells_eps_max']:g}; seeds 0)"]
    from leaklab.pages import paper_scale

    (line,) = paper_scale.provenance_lines([{**record, "_path": "results/x/piece.json", "provenance": {
        "git_commit": "abc1234567", "torch": "2.13.0", "date": "2026-11-29T00:00:00", "wall_time_s": 60.0}}])
    assert line.startswith(f"- `piece.json`: {record['profile']} profile, none of the headline's seeds; the mnist "
                           "cells (training eps")
    # beside a record with the page's seeds, the piece adds its cells and nothing to the seeds' numbers
    page = {**record, "per_seed": [{"seed": 0, "leak_gap": 0.05, "leak_gap_se": 0.003, "leaking_seeds": 1.0,
                                    "control_gap": 0.0, "control_gap_se": 0.003}],
            "series": {"n_test": 200, "n_probe": 1000, "probe": "validation", "seeds": []}}
    for draw in (leak_conditions_page.table, leak_conditions_page.epochs_figure, leak_conditions_page.loss_figure):
        assert draw([record]) is None
    assert leak_conditions_page.cells_record([page, record])["series"]["cells"] == record["series"]["cells"]
    assert leak_conditions_page.leak_judged(page["per_seed"], False)["n_seeds_run"] == 1
    assert leak_conditions_page.seeds_words(leak_conditions_page.with_seeds([page, record])) == \
        leak_conditions_page.seeds_words([page])


def test_pieces_pool_cell_by_cell_each_seed_once_and_only_with_their_own_setting():
    cifar = synthetic_cell("cifar10", 25.5, 0.6, 0.20, 0.0)
    first, second = ({"params": experiments.get("leak_conditions").profiles["full"], "series": {
        "n_test": 10000, "cells": [{**cell, "seeds": cell["seeds"][part]}]}} for cell, part in
        ((cifar, slice(0, 3)), (cifar, slice(2, 5))))  # seed 20 is in both pieces: the same network
    mnist = {**first, "series": {"n_test": 10000, "cells": [synthetic_cell("mnist", 25.5, 0.98, 0.0, 0.0)]}}
    other = {"params": {**first["params"], "epochs": 3}, "series": {"n_test": 10000, "cells": [cifar]}}
    smaller = {**first, "series": {"n_test": 500, "cells": [cifar]}}
    pooled = leak_conditions_page.cells_record([first, mnist, second, other, smaller])
    assert [c["dataset"] for c in pooled["series"]["cells"]] == ["mnist", "cifar10"]
    assert [s["seed"] for s in pooled["series"]["cells"][1]["seeds"]] == [0, 10, 20, 30, 40]
    assert pooled["series"]["cells"][1]["seeds"] == cifar["seeds"]
    assert [r is x for r, x in zip(pooled["pooled_from"], (first, mnist, second))] == [True] * 3
    # the four-label table pools the same way, row by row, at its own eps
    whole = synthetic_label_record("fashion_mnist", 8, 76.5, {"true": 0.05})
    halves = [{**whole, "series": {"n_test": 10000, "label_table": {"eps": 76.5, "trained": {
        k: rows[part] for k, rows in whole["series"]["label_table"]["trained"].items()}}}}
        for part in (slice(0, 2), slice(1, 5))]
    assert leak_conditions_page.label_record(halves)["series"]["label_table"] == whole["series"]["label_table"]
    assert leak_conditions_page.label_record(halves, "cifar10") is None


def test_a_run_must_compute_something_and_a_notebook_run_needs_the_pages_seeds():
    parts = {"n_seeds": 0, "map_eps_points": 0, "cells_seeds": 0, "label_seeds": 0}
    with pytest.raises(experiments.ParameterError, match="nothing to compute"):
        experiments.resolve("leak_conditions", "full", parts)
    params = experiments.resolve("leak_conditions", "full", {**parts, "cells_seeds": 5})
    with pytest.raises(experiments.ParameterError, match="n_seeds=0: the leak_conditions page draws"):
        experiments.check_page("leak_conditions", params)
    experiments.check_page("leak_conditions", experiments.resolve("leak_conditions", "full"))
