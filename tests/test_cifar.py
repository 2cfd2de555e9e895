"""The CIFAR-10 engine and the two CIFAR chapters' pieces, on tiny nets and random images."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from tiny import TINY as TINY_RUNS

from leaklab import attacks, cifar_mislabeled, data, experiments, fgsm_leak, models, records, stats, training
from leaklab.pages import cifar_mislabeled as cifar_mislabeled_page
from leaklab.pages import fgsm_leak as fgsm_leak_page


def test_resnets_have_the_published_sizes():
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(models.resnet18()) == 11_173_962  # kuangliu/pytorch-cifar's ResNet18
    assert round(count(models.resnet_he(18)) / 1e6, 1) == 1.7  # He et al.: ResNet-110, 1.7M
    assert round(count(models.resnet_he(3)) / 1e6, 2) == 0.27  # ResNet-20, 0.27M
    depth = lambda m: sum(isinstance(x, (torch.nn.Conv2d, torch.nn.Linear)) for x in m.modules())  # noqa: E731
    assert depth(models.resnet_he(18)) == 110  # option A: no 1x1 convs on the shortcuts
    out = models.resnet18(8)(torch.rand(2, 3, 32, 32))
    assert out.shape == (2, 10)


def test_crop_flip_gives_each_image_a_padded_crop_possibly_flipped():
    n = 16  # enough images that both flips and several offsets turn up (fixed by the generator's seed)
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    padded = training.on_device(images, "cpu", pad=4)
    gen = torch.Generator().manual_seed(0)
    batch = training.crop_flip(padded, torch.arange(n), gen)
    assert batch.shape == (n, 3, 32, 32) and batch.dtype == torch.float32
    assert batch.is_contiguous(memory_format=torch.channels_last)
    full = torch.nn.functional.pad(images.float() / 255, (4, 4, 4, 4))
    flips_seen, offsets_seen = set(), set()
    for b in range(n):
        matches = [(dy, dx, f) for dy in range(9) for dx in range(9) for f in (0, 1)
                   if torch.equal((full[b, :, dy:dy + 32, dx:dx + 32].flip(2) if f else
                                   full[b, :, dy:dy + 32, dx:dx + 32]), batch[b])]
        assert len(matches) == 1, f"image {b} is not exactly one crop of its padded original: {matches}"
        flips_seen.add(matches[0][2])
        offsets_seen.add(matches[0][:2])
    assert flips_seen == {0, 1}  # some images flipped, some not
    assert len(offsets_seen) > 1  # the crop moves from image to image
    plain = training.plain_batch(training.on_device(images, "cpu"), torch.arange(n))
    assert torch.equal(plain, images.float() / 255)


def test_normalized_model_standardizes_per_channel():
    net = torch.nn.Identity()
    model = models.Normalized(net, [0.5, 0.4, 0.3], [0.2, 0.2, 0.1])
    x = torch.rand(1, 3, 2, 2)
    assert torch.allclose(model(x)[0, 2], (x[0, 2] - 0.3) / 0.1)


def tiny_data(n=192, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 10, (n,), generator=g)
    # class-dependent colour so a tiny net can learn something in a few steps
    images = (torch.rand(n, 3, 32, 32, generator=g) * 120 + labels.view(-1, 1, 1, 1) * 12).to(torch.uint8)
    return images, labels


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return models.Normalized(models.resnet_he(1, 4), [0.5] * 3, [0.25] * 3)


def killed_at_write(monkeypatch, n, images, labels, path, make_model=tiny_model, **args):
    """training.fit with a checkpoint at `path`, killed right after its n-th write; returns each write as
    (finished epochs, batches done inside the next one, or None at an epoch's end)."""
    saves, real_save = [], training.save_checkpoint

    def save_then_die(obj, where):
        real_save(obj, where)
        saves.append((obj["epoch"], (obj["partial"] or {}).get("step")))
        if len(saves) == n:
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        training.fit(make_model(), images, labels, checkpoint=path, **args)
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    return saves


def killed_and_resumed(monkeypatch, path, n, images, labels, make_model=tiny_model, **args):
    """Train straight through; train again, killed after the n-th checkpoint write, and resume that from a net of
    other initial weights; check both end in the same weights and losses. Returns the writes (as killed_at_write)
    and the straight run's model."""
    straight, history = training.fit(make_model(), images, labels, **args)
    saves = killed_at_write(monkeypatch, n, images, labels, path, make_model=make_model, **args)
    resumed, resumed_history = training.fit(make_model(seed=99), images, labels, checkpoint=path, **args)
    for (name, x), y in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(x, y), name
    assert [h["loss"] for h in resumed_history] == [h["loss"] for h in history]
    return saves, straight


def test_a_run_killed_inside_an_epoch_resumes_there_and_ends_in_the_same_state(tmp_path, monkeypatch):
    # an epoch of the full profiles takes half an hour on a 2-core CPU: a sitting may end inside one
    images, labels = tiny_data()
    args = dict(epochs=2, batch_size=64, lr=0.05, device="cpu", progress=False,
                adversarial=training.mixed_attack("random", 12.0), seed=5, save_every_s=0)
    saves, _ = killed_and_resumed(monkeypatch, tmp_path / "run.pt", 3, images, labels, **args)
    assert saves == [(0, 1), (0, 2), (0, 3)]  # a write after every batch, none of them at an epoch's end


def mnist_net(seed=0):
    torch.manual_seed(seed)
    return models.Normalized(models.MnistCNN(), [0.13], [0.31])


def test_a_run_with_dropout_resumes_inside_an_epoch_with_the_masks_it_would_have_drawn(tmp_path, monkeypatch):
    # the MNIST net's dropout draws from torch's global generator, and Adam keeps moments: both are in the checkpoint
    g = torch.Generator().manual_seed(0)
    images, labels = torch.randint(0, 256, (192, 1, 28, 28), generator=g, dtype=torch.uint8), torch.arange(192) % 10
    args = dict(epochs=2, batch_size=64, lr=1e-3, optimizer=training.adam_decayed, augment=False, device="cpu",
                progress=False, seed=5, save_every_s=0)
    saves, _ = killed_and_resumed(monkeypatch, tmp_path / "run.pt", 2, images, labels, make_model=mnist_net, **args)
    assert saves == [(0, 1), (0, 2)]  # killed inside the first epoch, one batch before its end


def test_fit_learns(tmp_path):
    images, labels = tiny_data()
    model, history = training.fit(tiny_model(), images, labels, epochs=6, batch_size=32, lr=0.05, device="cpu",
                                  progress=False)
    assert history[-1]["loss"] < history[0]["loss"]
    assert (training.logits_of(model, images).argmax(1) == labels).float().mean() > 0.2


def test_a_killed_run_resumes_and_ends_in_the_same_state(tmp_path, monkeypatch):
    images, labels = tiny_data()
    args = dict(epochs=3, batch_size=64, lr=0.05, device="cpu", progress=False,
                adversarial=training.mixed_attack("random", 12.0), seed=5)
    path = tmp_path / "run.pt"
    saves, straight = killed_and_resumed(monkeypatch, path, 2, images, labels, **args)
    assert saves == [(1, None), (2, None)]  # killed after the second epoch's checkpoint
    # a finished run is read back, not trained again
    again, _ = training.fit(tiny_model(seed=7), images, labels, checkpoint=path, **{**args, "epochs": 3})
    assert torch.equal(again.state_dict()["net.fc.weight"], straight.state_dict()["net.fc.weight"])


def test_a_checkpoint_never_resumes_on_other_training_data(tmp_path, monkeypatch):
    """A student's training set (a teacher's mistakes) is recomputed in every process: one image more or less, or
    one label changed, and the killed run's checkpoint must not go on with it."""
    images, labels = tiny_data()
    args = dict(epochs=2, batch_size=64, lr=0.05, device="cpu", progress=False, seed=5)
    path = tmp_path / "run.pt"
    killed_at_write(monkeypatch, 1, images, labels, path, **args)
    other = labels.clone()
    other[0] = (other[0] + 1) % 10
    for x, y, changed_args in [(images, other, {}), (images[:-1], labels[:-1], {}), (images, labels, {"batch_size": 32})]:
        with pytest.raises(training.RunError, match="written for other training images"):
            training.fit(tiny_model(), x, y, checkpoint=path, **{**args, **changed_args})
    training.fit(tiny_model(), images, labels, checkpoint=path, **args)  # the same data resume


def test_the_teachers_answers_are_kept_so_a_resumed_student_sees_its_own_wrong_set(tmp_path, monkeypatch):
    """The wrong set comes from the teacher's answers: computed once and read back, so that another process, where
    a borderline answer could come out otherwise, gives the student the set it began with."""
    images, labels = tiny_data(64)
    teacher, kept = tiny_model(), tmp_path / "seed0-teacher-answers.pt"
    given, on_test = cifar_mislabeled.teacher_answers(teacher, images, images[:16], kept)
    assert torch.equal(given, training.logits_of(teacher, images).argmax(1)) and len(on_test) == 16
    monkeypatch.setattr(training, "logits_of", lambda model, x: torch.zeros(len(x), 10))  # "another process"
    again = cifar_mislabeled.teacher_answers(teacher, images, images[:16], kept)
    assert torch.equal(again[0], given) and torch.equal(again[1], on_test)
    assert not torch.equal(cifar_mislabeled.teacher_answers(teacher, images, images[:16])[0], given)  # none kept


def test_fgsm_steps_and_their_labels():
    images, labels = tiny_data(16)
    model = tiny_model().eval()
    x = training.plain_batch(training.on_device(images, "cpu"), torch.arange(16))
    step, logits = attacks.step_direction(model, x, labels, "true")
    xg = x.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(model(xg), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, xg)
    assert torch.equal(step, grad.sign())
    ll_step, _ = attacks.step_direction(model, x, labels, "least_likely")
    xg = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(torch.nn.functional.cross_entropy(model(xg), logits.argmin(1), reduction="sum"),
                                  xg)
    assert torch.equal(ll_step, -grad.sign())  # a step towards the least-likely class
    assert torch.equal(attacks.attack_label("predicted", logits, labels), logits.argmax(1))
    with pytest.raises(ValueError, match="unknown attack label"):
        attacks.attack_label("target", logits, labels)


def test_half_of_each_batch_is_attacked_within_the_pixel_range():
    images, labels = tiny_data(32)
    x = training.plain_batch(training.on_device(images, "cpu"), torch.arange(32))
    out = training.mixed_attack("true", 12.0)(tiny_model().train(), x, labels, torch.Generator().manual_seed(0))
    assert torch.equal(out[16:], x[16:])
    changed = (out[:16] - x[:16]).abs().flatten(1).amax(1)
    assert (changed > 0).all() and changed.max() < 60 / 255  # |N(0, 12)|/255 draws, clipped to [0, 1]
    assert out.min() >= 0 and out.max() <= 1


def test_the_training_attack_leaves_batchnorm_statistics_untouched():
    """The attack's forward pass runs in train mode (the network as it trains) but must not count as a batch:
    BatchNorm's running statistics are the same before and after it, and differ after a plain train-mode pass
    (so the check can fail)."""
    torch.manual_seed(0)
    model = models.Normalized(models.resnet_he(1, 4), [0.5] * 3, [0.25] * 3).train()
    x, y = torch.rand(16, 3, 32, 32), torch.randint(0, 10, (16,))

    def stats():
        return {k: v.clone() for k, v in model.state_dict().items() if "running" in k or "num_batches" in k}

    before = stats()
    attacked = training.mixed_attack("true", 8.0)(model, x, y, torch.Generator().manual_seed(0))
    assert not torch.equal(attacked[:8], x[:8])  # the attack did run
    after = stats()
    assert all(torch.equal(before[k], after[k]) for k in before)
    model(x)
    assert not all(torch.equal(before[k], v) for k, v in stats().items())


def test_the_step_as_trained_normalizes_by_its_batch_and_leaves_the_network_as_it_was():
    """step_as_trained is the eval-mode step with BatchNorm on the batch's own statistics: the same step a
    network without BatchNorm takes either way, another one here, and the network keeps its mode and statistics."""
    images, labels = tiny_data(16)
    x = training.plain_batch(training.on_device(images, "cpu"), torch.arange(16))
    model = tiny_model().eval()
    kept = {k: v.clone() for k, v in model.state_dict().items()}
    as_trained, _ = attacks.step_as_trained(model, x, labels, "true")
    assert not model.training and all(torch.equal(kept[k], v) for k, v in model.state_dict().items())
    with attacks.batchnorm_stats_kept(model.train()):
        by_hand, _ = attacks.step_direction(model, x, labels, "true")
    assert torch.equal(as_trained, by_hand)
    assert not torch.equal(as_trained, attacks.step_direction(model.eval(), x, labels, "true")[0])
    assert fgsm_leak.step_agreement(model, images, labels, 8) < 0.99
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    assert fgsm_leak.step_agreement(plain, images, labels, 8) == 1.0


def test_measuring_a_record_afterwards_refuses_what_it_cannot_measure_before_any_work(tmp_path, capsys):
    """One line each, before the data are read: not a record, not fgsm_leak's, a record of more models than the
    one kept beside it, a kept model that is missing."""
    import json

    from leaklab import cli

    def record(name, experiment="fgsm_leak", labels=("true",), beside=(".pt", ".npz")):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"experiment": experiment, "series": {"seeds": [
            {"seed": 0, "models": {k: {} for k in labels}}]}}))
        for suffix in beside:
            path.with_suffix(suffix).write_bytes(b"")
        return str(path)

    cases = {record("other", experiment="toy2d"): "not an fgsm_leak record",
             record("four", labels=fgsm_leak.ATTACKS): "only a record of one true-label model",
             record("no_model", beside=(".npz",)): "only a record of one true-label model",
             str(tmp_path / "absent.json"): "not a readable record"}
    for path, message in cases.items():
        assert cli.main(["measure-as-trained", path]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_fixed_eps_attacks_the_given_share_by_exactly_that_much():
    images, labels = tiny_data(32)
    x = training.plain_batch(training.on_device(images, "cpu"), torch.arange(32))
    out = training.mixed_attack("true", 12.0, share=0.75, fixed_eps=32.0)(tiny_model().train(), x, labels,
                                                                         torch.Generator().manual_seed(0))
    assert torch.equal(out[24:], x[24:])
    moved = (out[:24] - x[:24]).abs()
    unclipped = ((x[:24] > 32 / 255) & (x[:24] < 1 - 32 / 255))
    assert torch.allclose(moved[unclipped], torch.full_like(moved[unclipped], 32 / 255), atol=1e-6)
    assert (moved <= 32 / 255 + 1e-6).all()


def test_loss_along_fgsm_starts_at_the_clean_numbers():
    images, labels = tiny_data(40)
    model = tiny_model().eval()
    curve = fgsm_leak.along_fgsm(model, images, labels, [0, 3, 6], batch_size=16)
    logits = training.logits_of(model, images)
    assert curve["acc"][0] == pytest.approx((logits.argmax(1) == labels).float().mean().item())
    assert curve["loss"][0] == pytest.approx(torch.nn.functional.cross_entropy(logits, labels).item(), rel=1e-4)
    assert curve["loss"][1] > curve["loss"][0]  # an untrained net: the attack raises the loss


def test_random_wrong_labels_are_wrong_and_spread():
    labels = torch.randint(0, 10, (9000,), generator=torch.Generator().manual_seed(1))
    wrong = cifar_mislabeled.random_wrong_labels(labels, seed=3)
    assert not (wrong == labels).any()
    shift = torch.bincount((wrong - labels) % 10, minlength=10)
    assert shift[0] == 0 and shift[1:].min() > 850  # uniform over the nine other classes


def test_confusion_rows_are_shares():
    m = training.label_shares(torch.tensor([0, 0, 1, 2]), torch.tensor([1, 1, 3, 0]))
    assert m[0, 1] == 1 and m[1, 3] == 1 and m[2, 0] == 1 and m[5].sum() == 0


def test_scale_note_names_what_the_quick_profile_shrinks():
    quick = experiments.resolve("fgsm_leak", "quick")
    note = experiments.scale_note("fgsm_leak", quick)
    assert "depth_n 1 (full: 18)" in note and "n_train 10000 (full: 50000)" in note
    magnified = experiments.scale_note("fgsm_leak", {**quick, "train_eps": 32.0, "adv_share": 0.75})
    assert "train_eps 32.0 (full: 0.0)" in magnified and "adv_share 0.75 (full: 0.5)" in magnified
    assert experiments.scale_note("cifar_mislabeled", experiments.resolve("cifar_mislabeled", "full")) == ""
    grid = fgsm_leak.eps_grid(records.notebook_params("fgsm_leak", {"profile": "quick", "eval_eps": 5.3}))
    assert grid[0] == 0 and grid[-1] == quick["eps_max"] and 5.3 in grid and len(grid) == quick["eps_points"] + 1


def test_asking_for_cuda_without_a_gpu_is_refused_plainly():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(experiments.ParameterError, match="no GPU"):
        training.resolve_device("cuda")
    assert training.resolve_device("auto") == "cpu"


def test_small_resnet18_survives_odd_batches_in_channels_last():
    """torch 2.13's CPU backward of a strided 1x1 conv with 8 input channels segfaults on odd batches in
    channels_last; the projection shortcut avoids that kernel. Run apart, so a crash fails one test."""
    import subprocess
    import sys

    code = ("import torch, torch.nn.functional as F; from leaklab import models; torch.manual_seed(0); "
            "m = models.resnet18(8).to(memory_format=torch.channels_last).train(); "
            "x = torch.rand(25, 3, 32, 32).contiguous(memory_format=torch.channels_last); "
            "F.cross_entropy(m(x), torch.randint(0, 10, (25,))).backward(); print('ok')")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-500:]


def test_projection_shortcut_is_a_strided_1x1_conv():
    block = models.BasicBlock(8, 16, 2, projection=True).eval()
    with torch.no_grad():
        block.conv2.weight.zero_()  # the residual branch gives 0 (bn2 in eval, default statistics): only the shortcut
    x = torch.rand(3, 8, 8, 8)
    conv, bn = block.shortcut
    expected = torch.relu(bn(torch.nn.functional.conv2d(x, conv.weight, stride=2)))
    assert torch.allclose(block(x), expected, atol=1e-6)  # through forward, which does the subsampling


# --- what the CIFAR chapters' records hold (tiny runs on the real data) ---------------------------------

CIFAR_BIN = os.environ.get("LEAKLAB_CIFAR_BIN")
needs_cifar = pytest.mark.skipif(
    not (CIFAR_BIN and (Path(CIFAR_BIN) / "cifar-10-batches-bin" / "test_batch.bin").is_file()),
    reason="LEAKLAB_CIFAR_BIN does not hold the CIFAR-10 binary built from ../shared/data")
TINY = {**{k: TINY_RUNS["fgsm_leak"][k] for k in ("n_train", "width", "device")}, "epochs": 2}


@pytest.mark.heavy
@needs_cifar
def test_a_fgsm_leak_record_redraws_its_page_and_keeps_its_model(tmp_path):
    from leaklab import records

    params = experiments.resolve("fgsm_leak", "quick", {**TINY, "n_eval": 200, "eps_points": 3, "depth_n": 1})
    out = fgsm_leak.compute(SimpleNamespace(**params), log=lambda m: None)
    path = records.save(records.complete(records.payload("fgsm_leak", params, out), 1.0, "test"),
                        tmp_path / "run.json")
    loaded = records.load(path)
    seed = loaded["series"]["seeds"][0]
    assert set(seed["models"]) == set(fgsm_leak.ATTACKS)
    for m in seed["models"].values():  # per model: its curve, its row of the table, its per-epoch history
        assert len(m["curve"]["loss"]) == len(m["curve"]["acc"]) == len(loaded["series"]["eps"])
        assert set(m["attacked"]) == set(fgsm_leak.ATTACKS) and [h["epoch"] for h in m["history"]] == [1, 2]
    true = seed["models"]["true"]
    assert loaded["per_seed"][0]["leak_gap"] == pytest.approx(true["attacked"]["true"] - true["clean_acc"])
    # the gap's error is the paired one, from the per-image bits the .npz keeps (the same test images)
    import io

    import numpy as np

    with np.load(io.BytesIO(records.file_bytes(loaded, ".npz"))) as bits:
        right = {k: records.unpacked_bits(bits[f"seed0_true_{k}_correct"], 200) for k in ("clean", "true")}
    assert right["true"].mean() - right["clean"].mean() == pytest.approx(loaded["per_seed"][0]["leak_gap"])
    assert loaded["per_seed"][0]["leak_gap_se"] == pytest.approx(stats.paired_gap_se(right["true"], right["clean"]))
    assert "| true |" in fgsm_leak_page.table([loaded]) and fgsm_leak_page.loss_figure([loaded]).axes
    # the slider's model: fp16 beside the record, read back with weights_only, the trained model's function
    state = torch.load(path.with_suffix(".pt"), weights_only=True)
    assert all(v.dtype == torch.float16 for v in state.values() if v.is_floating_point())
    model = fgsm_leak.model_from_record(loaded)
    trained = out["live"]["model"].state_dict()
    for key, value in model.state_dict().items():  # the trained weights, rounded to fp16
        torch.testing.assert_close(value, trained[key].to(value.dtype), rtol=1e-3, atol=1e-3)
    test = data.load("cifar10", "test")
    with torch.no_grad():  # its clean accuracy is the recorded one, up to fp16 rounding (a few images of 200)
        acc = (model(test.images[:200].float() / 255).argmax(1) == test.labels[:200]).float().mean().item()
    assert abs(acc - true["clean_acc"]) <= 0.02
    frames = fgsm_leak_page.slider_frames(model, test.images[:8], test.labels[:8], loaded["series"]["eps"],
                                     fgsm_leak_page.mean_losses([loaded])["true"])
    assert [f["value"] for f in frames] == [f"{e:g}" for e in loaded["series"]["eps"]]
    # the slider's model is the committed one where a committed record keeps it, and its words say so
    assert fgsm_leak_page.slider_records([], loaded) == ([loaded], False)
    committed = {**loaded}
    assert fgsm_leak_page.slider_records([committed], loaded) == ([committed], True)
    # every model also under the step computed as its training computed it, its gap's error paired too
    row, as_trained = loaded["per_seed"][0], true["as_trained"]
    assert set(as_trained["attacked"]) == set(fgsm_leak.AS_TRAINED_ATTACKS)
    assert len(as_trained["curve"]["loss"]) == len(loaded["series"]["eps"])
    assert row["leak_gap_as_trained"] == pytest.approx(as_trained["attacked"]["true"] - true["clean_acc"])
    with np.load(io.BytesIO(records.file_bytes(loaded, ".npz"))) as bits:
        right["as_trained"] = records.unpacked_bits(bits["seed0_true_true_as_trained_correct"], 200)
    assert right["as_trained"].mean() == pytest.approx(as_trained["attacked"]["true"])
    assert row["leak_gap_as_trained_se"] == pytest.approx(stats.paired_gap_se(right["as_trained"], right["clean"]))
    assert 0 < row["step_sign_agreement"] < 1
    # the random-sign baseline: its per-image answers kept, its differences paired on the same images
    with np.load(io.BytesIO(records.file_bytes(loaded, ".npz"))) as bits:
        right["noise"] = records.unpacked_bits(bits["seed0_true_noise_correct"], 200)
    assert right["noise"].mean() == pytest.approx(row["noise_acc"])
    assert row["true_as_trained_over_noise"] == pytest.approx(row["fgsm_acc_as_trained"] - row["noise_acc"])
    assert row["true_as_trained_over_noise_se"] == pytest.approx(stats.paired_gap_se(right["as_trained"],
                                                                                     right["noise"]))
    assert row["noise_gap_se"] == pytest.approx(stats.paired_gap_se(right["noise"], right["clean"]))
    # the slider's step as trained is the measurement's: on the first batch of test images, the shown images right
    # or wrong at eval_eps as the record scored them (the trained fp32 model, so no fp16 rounding in between)
    batch, at = fgsm_leak.as_trained_batch(SimpleNamespace(**params)), loaded["series"]["eps"].index(params["eval_eps"])
    frame = fgsm_leak_page.slider_frames(out["live"]["model"], test.images[:batch], test.labels[:batch],
                                         loaded["series"]["eps"], as_trained["curve"]["loss"], mode="as trained")[at]
    shown = int(right["as_trained"][:fgsm_leak_page.SHOWN].sum())
    assert f"<b>{shown}/{fgsm_leak_page.SHOWN}</b> right" in frame["caption"] and "as trained" in frame["caption"]
    build_words = fgsm_leak_page.words(SimpleNamespace(**params), loaded)["build_as_trained_words"]
    assert build_words.startswith("Computed in training mode") and f"{row['fgsm_acc_as_trained']:.2%}" in build_words


@pytest.mark.heavy
@needs_cifar
def test_a_record_made_before_the_step_as_trained_gets_it_afterwards(tmp_path):
    """`leaklab measure-as-trained`: a one-model record stripped of the measurement gets it back from its kept
    fp16 model, with the numbers a fresh run records (up to fp16 rounding), once; other records are refused."""
    from leaklab import cli, records

    params = experiments.resolve("fgsm_leak", "quick", {**TINY, "n_eval": 200, "eps_points": 3, "depth_n": 1,
                                                         "labels": "true"})
    out = fgsm_leak.compute(SimpleNamespace(**params), log=lambda m: None)
    path = records.save(records.complete(records.payload("fgsm_leak", params, out), 1.0, "test"),
                        tmp_path / "run.json")
    fresh = records.load(path)
    # read now: a loaded record's .npz is read from disk, which the command below rewrites
    fresh_noise = records.unpacked_bits(records.arrays(fresh)["seed0_true_noise_correct"], 200)
    old = records.load(path)
    del old["series"]["seeds"][0]["models"]["true"]["as_trained"]
    for key in list(old["per_seed"][0]):
        if "as_trained" in key or key == "step_sign_agreement":
            del old["per_seed"][0][key]
    records.save(old, path)
    assert cli.main(["measure-as-trained", str(path)]) == 0
    again = records.load(path)
    assert "test images" in again["provenance"]["as_trained_added"]["model"]
    for key in ("fgsm_acc_as_trained", "leak_gap_as_trained", "step_sign_agreement"):
        assert again["per_seed"][0][key] == pytest.approx(fresh["per_seed"][0][key], abs=0.03)
        assert again["metrics"][key] == again["per_seed"][0][key]
    assert cli.main(["measure-as-trained", str(path)]) == 1  # already measured
    assert cli.main(["measure-as-trained", str(tmp_path / "none.json")]) == 1
    # a record measured before the random-sign baseline existed gets the baseline alone, its other numbers kept
    del again["series"]["seeds"][0]["models"]["true"]["as_trained"]["noise_acc"]
    for key in list(again["per_seed"][0]):
        if "noise" in key:
            del again["per_seed"][0][key]
    records.save(again, path)
    assert cli.main(["measure-as-trained", str(path)]) == 0
    last = records.load(path)
    assert last["per_seed"][0]["noise_acc"] == pytest.approx(fresh["per_seed"][0]["noise_acc"], abs=0.03)
    # the same random signs as the fresh run's: its answers image by image, but for a few fp16 flips
    assert (records.unpacked_bits(records.arrays(last)["seed0_true_noise_correct"], 200) == fresh_noise).sum() >= 195
    assert "test images" in last["provenance"]["noise_added"]["model"]
    for key in ("fgsm_acc_as_trained", "leak_gap_as_trained_se", "step_sign_agreement"):
        assert last["per_seed"][0][key] == again["per_seed"][0][key]
    assert cli.main(["measure-as-trained", str(path)]) == 1


@pytest.mark.heavy
@needs_cifar
def test_a_cifar_mislabeled_record_holds_the_wrong_set_and_the_histories(tmp_path):
    from leaklab import records, runner

    overrides = {**TINY, "teacher_epochs": 1, "epochs": 1, "sweep_points": 3}
    path, _ = runner.compute("cifar_mislabeled", "quick", overrides, results_dir=tmp_path, log=lambda m: None)
    loaded = records.load(path)
    row, seed = loaded["per_seed"][0], loaded["series"]["seeds"][0]
    # the sample sweep: the paper's student itself, then refitted on the first half and quarter of the wrong set
    sweep = seed["sweep"]
    assert sweep["n_images"] == [row["n_wrong"], row["n_wrong"] // 2, row["n_wrong"] // 4]
    assert sweep["acc"][0] == row["student_acc"] and sweep["minus_all_se"][0] == 0
    for acc, confusion in zip(sweep["acc"], sweep["confusion"]):
        assert torch.tensor(confusion).trace() / loaded["series"]["n_test"] == pytest.approx(acc)
    assert sum(seed["given_counts"]) == sum(seed["true_counts"]) == row["n_wrong"]
    shares = torch.tensor(seed["label_shares"])
    assert all(shares[c, c] == 0 for c in range(10))  # a wrong label is never the true class
    torch.testing.assert_close(shares.sum(1)[torch.tensor(seed["true_counts"]) > 0], torch.ones(
        int((torch.tensor(seed["true_counts"]) > 0).sum())))
    assert len(seed["teacher_history"]) == 1 and set(seed["histories"]) == set(cifar_mislabeled.STUDENTS)
    for name, confusion in seed["confusion"].items():  # each student's accuracy is its confusion's diagonal
        c = torch.tensor(confusion)
        key = {"teacher_labels": "student_acc", "random_wrong": "random_wrong_acc",
               "true_labels": "true_labels_acc"}[name]
        assert c.sum() == loaded["series"]["n_test"] and c.trace() / c.sum() == pytest.approx(row[key])
    assert "wrong set" in cifar_mislabeled_page.accuracy_table([loaded])


@pytest.mark.heavy
@needs_cifar
def test_a_run_trains_only_the_students_asked_for_and_pools_with_runs_of_the_others(tmp_path):
    """The paper's student alone in one record, the two controls in another: the page and the scorecard pool
    them, each net over the seeds that trained it; every net's right-or-wrong per test image sits bit-packed
    in the .npz, and its mean is the recorded accuracy."""
    from leaklab import records, runner
    from leaklab.pages import paper_scale

    tiny = {**TINY, "teacher_epochs": 1, "epochs": 1, "sweep_points": 2}
    quiet = lambda m: None  # noqa: E731
    paper_path, _ = runner.compute("cifar_mislabeled", "quick", {**tiny, "students": "teacher_labels"},
                                   results_dir=tmp_path, log=quiet)
    controls_path, _ = runner.compute("cifar_mislabeled", "quick",
                                      {**tiny, "seed": 10, "students": "true_labels, random_wrong"},
                                      results_dir=tmp_path, log=quiet)
    paper, controls = records.load(paper_path), records.load(controls_path)
    row = paper["per_seed"][0]
    assert row["random_wrong_acc"] is None and row["true_labels_acc"] is None and row["student_acc"] > 0
    assert set(paper["series"]["seeds"][0]["histories"]) == {"teacher_labels"}
    assert controls["per_seed"][0]["student_acc"] is None and controls["params"]["students"] == \
        "random_wrong,true_labels"
    assert controls["series"]["seeds"][0]["sweep"] is None  # the sweep refits the paper's student, not trained here
    assert len(paper["series"]["seeds"][0]["sweep"]["n_images"]) == 2
    n = paper["series"]["n_test"]
    bits = records.arrays(paper)
    assert set(bits) == {"seed0_teacher_correct", "seed0_teacher_labels_correct"}
    assert records.unpacked_bits(bits["seed0_teacher_labels_correct"], n).mean() == pytest.approx(row["student_acc"])
    assert records.unpacked_bits(bits["seed0_teacher_correct"], n).mean() == pytest.approx(row["teacher_test_acc"])
    assert set(records.arrays(controls)) == {"seed10_teacher_correct", "seed10_random_wrong_correct",
                                             "seed10_true_labels_correct"}
    pooled = records.pooled("cifar_mislabeled", [paper, controls])
    assert pooled["student_acc"] == pytest.approx(row["student_acc"])  # from the one seed that trained it
    assert pooled["random_wrong_acc"] == pytest.approx(controls["per_seed"][0]["random_wrong_acc"])
    assert pooled["teacher_test_acc"] == pytest.approx(
        (row["teacher_test_acc"] + controls["per_seed"][0]["teacher_test_acc"]) / 2)  # both seeds' teachers
    summary = {r["key"]: r for r in paper_scale.summary("cifar_mislabeled", [paper, controls])}
    assert summary["student_acc"]["per_seed"] == [row["student_acc"]] and summary["student_acc"]["n_seeds"] == 2
    assert "not trained in these runs" in cifar_mislabeled_page.accuracy_table([paper])
    assert cifar_mislabeled_page.accuracy_figure([paper]).axes and paper_scale.table("cifar_mislabeled", [paper])
    words = cifar_mislabeled_page.words(SimpleNamespace(**paper["params"]), paper)
    assert "not trained" not in words["student_words"] and "did not train both" in words["student_vs_random_words"]


def test_the_wrong_set_size_stands_beside_the_papers_on_the_page_and_the_scorecard():
    """Issue 19: the paper-scale table and the scorecard give the wrong set's size, each seed's and pooled,
    beside the paper's 18,768 (the committed full records)."""
    from leaklab import book
    from leaklab.pages import paper_scale

    recs = records.full_records("cifar_mislabeled")
    sizes = [f"{row['n_wrong']:,.0f}" for r in recs for row in r["per_seed"]]
    assert sizes, "the committed cifar_mislabeled full records are missing"
    line = next(line for line in paper_scale.table("cifar_mislabeled", recs).splitlines()
                if line.startswith("| training images the teacher gets wrong"))
    _, measure, paper, ours, each, verdict, _ = line.split("|")
    assert paper.strip() == "18,768" and each.strip() == ", ".join(sizes)
    assert f"({len(sizes)} seeds)" in ours and verdict.strip() in ("matches the paper", "differs from the paper")
    quick = {"profile": "quick", "params": {"n_train": 10000}, "metrics": {"n_wrong": 7221.0}}
    row = next(row for row in book.scorecard({"cifar_mislabeled": quick}, records.RESULTS).splitlines()
               if "size of the wrong set" in row)
    assert "| 18,768 |" in row and "| 7,221 of 10,000 (quick) |" in row  # a quick build counts of fewer images


def test_the_time_left_leaves_out_a_pause_but_not_a_slowdown(monkeypatch):
    """A run stopped for an hour (a suspended laptop, SIGSTOP while the CPU does other work) would otherwise
    tell a pace far below its own; a step slowed by a shared CPU is the run's pace and counts in full."""
    now = [0.0]
    monkeypatch.setattr(training.time, "perf_counter", lambda: now[0])
    timer = training.StepTimer()
    for took in [2.0] * 10 + [3600.0] + [2.0] * 5 + [30.0]:
        now[0] += took
        timer.step()
    assert timer.paused == pytest.approx(3600.0 - 2.0, abs=0.1)  # the hour counts as one typical step; the 30 s in full


def test_the_static_slider_has_at_most_about_max_frames_a_step_the_evaluation_eps_and_the_last_among_them():
    """Each frame is a PNG inlined in the page: a 49-point curve gets every other eps, a short one every eps."""
    full = [6 * i / 48 for i in range(49)]
    at = fgsm_leak_page.frame_indices(full, 6.0)
    assert len(at) <= fgsm_leak_page.MAX_FRAMES and at[0] == 0 and at[-1] == 48 and at == sorted(set(at))
    assert fgsm_leak_page.frame_indices(full, full[7]).count(7) == 1  # an eps off the stride is kept too
    assert fgsm_leak_page.frame_indices(full[:13], full[12]) == list(range(13))


def test_the_random_sign_baseline_gives_one_verdict_for_one_models_three_differences_and_each_its_own_else():
    row = {"seed": 0, "noise_acc": 0.886, "noise_gap": -0.0067, "noise_gap_se": 0.0019,
           "true_as_trained_over_noise": 0.0606, "true_as_trained_over_noise_se": 0.0026,
           "predicted_as_trained_over_noise": -0.0076, "predicted_as_trained_over_noise_se": 0.0026}
    text = fgsm_leak_page.noise_words([row], True)
    assert "88.60%" in text and "+6.06 ± 0.26 points" in text and text.count("standard errors") == 1
    within = fgsm_leak_page.noise_words([{**row, "noise_gap": 0.0001}], True)
    assert "within 2 standard errors" in within and "(each beyond" not in within
    assert "(the 1 of them measured so)" in fgsm_leak_page.noise_words([row, {"seed": 10}], True)
    assert fgsm_leak_page.noise_words([{"seed": 10}], True) == ""
