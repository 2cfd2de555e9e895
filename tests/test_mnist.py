"""The MNIST chapters' pieces: the fast CNN is the pytorch/examples net, the loop learns, the leak is there."""

import math
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from leaklab import attacks, data, experiments, gradient_leak, mnist_from_fashion, models, records, stats, training

needs_data = pytest.mark.skipif(not os.environ.get("LEAKLAB_DATA"), reason="LEAKLAB_DATA not set (make test sets it)")


class ExamplesNet(nn.Module):
    """pytorch/examples mnist/main.py's Net, as written there (log_softmax left out)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 32, 3, 1), nn.Conv2d(32, 64, 3, 1)
        self.fc1, self.fc2 = nn.Linear(9216, 128), nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv2(F.relu(self.conv1(x)))), 2)
        return self.fc2(F.relu(self.fc1(torch.flatten(x, 1))))


def test_fast_cnn_computes_the_examples_net_function():
    torch.manual_seed(0)
    ours, ref = models.MnistCNN().eval(), ExamplesNet().eval()
    state = ours.state_dict()
    # ours flattens (h, w, c); the examples net flattens (c, h, w): the same weights, reordered
    state["fc1.weight"] = ref.fc1.weight.detach().view(128, 64, 12, 12).permute(0, 2, 3, 1).reshape(128, 9216)
    for key in ("conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.bias", "fc2.weight", "fc2.bias"):
        state[key] = ref.state_dict()[key]
    ours.load_state_dict(state)
    x = torch.randn(8, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x), rtol=1e-4, atol=1e-4)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters()) == 1_199_882


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_byte_dropout_keeps_the_right_share_and_rescales(p):
    torch.manual_seed(0)
    x = torch.ones(200_000)
    y = models.dropout(x, p)
    kept = (y != 0).float().mean().item()
    assert abs(kept - (1 - p)) < 0.005
    assert torch.allclose(y[y != 0], torch.full_like(y[y != 0], 1 / (1 - p)))
    assert models.dropout(x, p, training=False) is x


def _mnist(n, split="train"):
    return data.subset(data.load("mnist", split), n)


@needs_data
def test_the_mnist_net_trains_repeatably_on_its_own_statistics():
    # that it learns is checked by the small slice below (its teacher); here: the same seed gives the same weights
    mean, std = training.channel_stats(data.load("mnist", "train").images)
    assert abs(mean[0] - 0.1307) < 1e-3 and abs(std[0] - 0.3081) < 1e-3
    train = _mnist(640)
    nets = [mnist_from_fashion.train_cnn(train.images, train.labels, (mean, std), seed=3, epochs=1, batch_size=64,
                                         lr=2e-3, log=None) for _ in range(2)]
    for (name, a), b in zip(nets[0].state_dict().items(), nets[1].state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.heavy
@needs_data
def test_mnist_from_fashion_seed_on_a_small_slice():
    mnist, test = _mnist(2000), _mnist(1000, "test")
    fashion = data.subset(data.load("fashion_mnist", "train"), 2000)
    norms = {"mnist": training.channel_stats(mnist.images), "fashion": training.channel_stats(fashion.images)}
    p = SimpleNamespace(teacher_epochs=1, epochs=1, control_epochs=1, batch_size=64, lr=2e-3, sweep_points=3)
    out = mnist_from_fashion.run_seed(0, mnist, test, fashion, norms, p, log=None)
    assert out["teacher_acc"] > 0.8
    # the sample sweep: the whole set's entry is the student itself, refits on the first half and quarter
    sweep = out["sweep"]
    assert sweep["n_images"] == [2000, 1000, 500]
    assert sweep["acc"][0] == out["student"]["own"]["acc"] and sweep["minus_all_se"][0] == 0
    assert all(se > 0 for se in sweep["minus_all_se"][1:])
    for acc, cm in zip(sweep["acc"], sweep["confusion"]):
        cm = torch.tensor(cm)
        assert cm.sum() == len(test.labels) and acc == pytest.approx(cm.trace().item() / cm.sum().item())
    assert set(out["labels"]) == {"own", "mnist"} and out["labels"]["own"].shape == (2000,)
    for k in ("own", "mnist", "teacher", "control"):
        # the accuracies and the confusion matrices come from the same predictions: the diagonal's share
        cm = out["confusion"][k]
        assert cm.sum() == len(test.labels) and (cm.sum(1) == torch.bincount(test.labels, minlength=10)).all()
        acc = out["teacher_acc"] if k == "teacher" else out["control_acc"] if k == "control" else \
            out["student"][k]["acc"]
        assert acc == pytest.approx(cm.trace().item() / cm.sum().item())
    row = mnist_from_fashion.seed_row(0, out)
    assert row["student_acc"] == out["student"]["own"]["acc"]
    assert row["student_mnistnorm_acc"] == out["student"]["mnist"]["acc"]
    assert row["labels_same_both_norms"] == pytest.approx(
        (out["labels"]["own"] == out["labels"]["mnist"]).float().mean().item())
    metrics = mnist_from_fashion.summarize([row, {**row, "seed": 10, "student_acc": row["student_acc"] - 0.1}])
    assert metrics["student_acc"] == pytest.approx(row["student_acc"] - 0.05)
    assert metrics["student_acc_sd"] == pytest.approx(0.1 / math.sqrt(2))  # sample sd of two values 0.1 apart
    assert metrics["teacher_acc_sd"] == 0 and metrics["teacher_acc"] == out["teacher_acc"]
    assert math.isnan(mnist_from_fashion.summarize([row])["student_acc_sd"])  # one seed: no spread
    share = training.label_shares(fashion.labels, out["labels"]["own"])
    torch.testing.assert_close(share.sum(1), torch.ones(10))


def test_attack_labels():
    logits = torch.tensor([[0.0, 3.0, -2.0], [1.0, -1.0, 0.5]])
    y = torch.tensor([2, 0])
    assert attacks.attack_label("true", logits, y).tolist() == [2, 0]
    assert attacks.attack_label("predicted", logits, y).tolist() == [1, 0]
    assert attacks.attack_label("least_likely", logits, y).tolist() == [2, 1]
    r = attacks.attack_label("random", torch.zeros(5000, 10), torch.zeros(5000, dtype=torch.long),
                             torch.Generator().manual_seed(0))
    assert r.bincount(minlength=10).min() > 400  # uniform over all ten, true label included
    with pytest.raises(ValueError, match="unknown attack label"):
        attacks.attack_label("best", logits, y)


def test_sign_features_are_the_clipped_gradient_sign():
    model = gradient_leak.random_mlp(0, 32, ([0.13], [0.31]))
    images = torch.randint(0, 256, (20, 1, 28, 28), dtype=torch.uint8)
    labels = torch.randint(0, 10, (20,))
    feats = gradient_leak.sign_features(model, images, labels, "true", batch_size=7)
    x = (images.float() / 255).requires_grad_()
    (g,) = torch.autograd.grad(F.cross_entropy(model(x), labels, reduction="sum"), x)
    assert feats.dtype == torch.uint8 and feats.shape == (20, 784)
    assert torch.equal(feats, (g.sign() + 1).clamp(0, 1).flatten(1).to(torch.uint8))


def test_the_logit_scale_peaks_the_softmax_and_leaves_each_class_gradient_sign_alone():
    norm = ([0.13], [0.31])
    flat, peaked = gradient_leak.random_mlp(0, 32, norm), gradient_leak.random_mlp(0, 32, norm, logit_scale=30.0)
    images = torch.randint(0, 256, (50, 1, 28, 28), dtype=torch.uint8)
    flat_anatomy = gradient_leak.anatomy(flat, images, torch.zeros(50, dtype=torch.long))
    peaked_anatomy = gradient_leak.anatomy(peaked, images, torch.zeros(50, dtype=torch.long))
    assert peaked_anatomy["p_max"] > flat_anatomy["p_max"] + 0.2
    x = (images.float() / 255).requires_grad_()
    for k in range(10):  # every class's logit gradient keeps its sign, pixel by pixel
        (g_flat,) = torch.autograd.grad(flat(x)[:, k].sum(), x)
        (g_peaked,) = torch.autograd.grad(peaked(x)[:, k].sum(), x)
        assert torch.equal(g_flat.sign(), g_peaked.sign())


def test_a_record_from_before_a_setting_parameter_existed_is_not_a_variant():
    exp = experiments.get("gradient_leak")
    old = {"params": {k: v for k, v in exp.profiles["full"].items() if k != "logit_scale"}}
    assert not records.is_variant("gradient_leak", old)
    assert records.is_variant("gradient_leak", {"params": {**exp.profiles["full"], "logit_scale": 10.0}})


def _gradient_leak_record(scale, rows):
    """A committed record's shape, as the gradient_leak page reads it: one row per seed."""
    return {"params": {"logit_scale": scale}, "series": {"n_test": 10_000}, "paper": {"leak_true_acc": 0.96},
            "per_seed": [{"seed": k, **row} for k, row in enumerate(rows)]}


def _gradient_leak_scales(base_acc, top_acc, shares=((0.90, 0.74), (0.76, 0.71))):
    """Records at logit scales 1 and 100, each seed's true-label accuracy as given and its (follows_true_logit,
    class_template) shares near `shares` (one pair per scale)."""
    row = lambda acc, f, t, jitter: {"leak_true_acc": acc, "follows_true_logit": f + jitter,  # noqa: E731
                                     "class_template": t + jitter, "p_max": 0.12}
    jitters = (0.0, 0.004, -0.003, 0.002, -0.001)
    return ([_gradient_leak_record(1.0, [row(base_acc, *shares[0], j) for j in jitters])],
            [_gradient_leak_record(100.0, [row(top_acc, *shares[1], 2 * j) for j in jitters])])


def test_gradient_leak_scale_verdict_says_an_accuracy_at_its_ceiling_cannot_test_the_hypothesis():
    from leaklab.pages import gradient_leak as page

    said = page.scale_words(*_gradient_leak_scales(1.0, 0.9999))["scale_verdict"]
    assert "cannot test the hypothesis" in said and "do not support" not in said
    assert "follows the true class's logit less" in said and "mechanism weakening beyond noise" in said
    assert "test loss or its margin" in said and "its error unpaired" in said
    below = page.scale_words(*_gradient_leak_scales(0.95, 0.9499))["scale_verdict"]  # room to fall: a test
    assert "do not support the hypothesis" in below and "ceiling" not in below
    fell = page.scale_words(*_gradient_leak_scales(1.0, 0.90))["scale_verdict"]  # a fall shows even from 100%
    assert "weakens as the softmax peaks" in fell and "ceiling" not in fell
    flat = page.scale_words(*_gradient_leak_scales(1.0, 1.0, shares=((0.9, 0.74),) * 2))["scale_verdict"]
    assert "Nor does the mechanism weaken beyond noise" in flat and "cannot test the hypothesis" in flat


def test_gradient_leak_scale_verdict_reads_the_test_loss_and_pairs_the_images_when_the_records_keep_them():
    """Records that keep the linear model's test loss answer at the ceiling; records that keep each classifier's
    answer per image pair the accuracy's change on the same test images."""
    from leaklab.pages import gradient_leak as page

    base, top = _gradient_leak_scales(1.0, 1.0)
    for rec, loss in ((base[0], 0.010), (top[0], 0.030)):
        for k, row in enumerate(rec["per_seed"]):
            row["leak_true_loss"] = loss + 0.001 * k
        right = np.ones(10_000, dtype=bool)
        rec["_files"] = {".npz": records.to_npz(**{gradient_leak.right_key(row["seed"], "true"):
                                                   records.packed_bits(right) for row in rec["per_seed"]})}
    said = page.scale_words(base, top)["scale_verdict"]
    assert "its error paired on the same test images" in said and "ceiling" in said
    assert "cross-entropy, which keeps moving when the accuracy is at 100%, goes from 0.0120 to 0.0320" in said
    assert "rises, the direction the hypothesis predicts: the linear model reads the label less surely" in said
    for k, row in enumerate(top[0]["per_seed"]):
        row["leak_true_loss"] = 0.010 + 0.001 * k + 0.0003 * (-1) ** k  # no change beyond the seeds' noise
    assert "find no weakening" in page.scale_words(base, top)["scale_verdict"]


def test_gradient_leak_random_label_words_follow_each_model_when_the_seeds_cannot_tell():
    from leaklab.pages import gradient_leak as page

    two = [{"leak_random_acc": 0.1449}, {"leak_random_acc": 0.1571}]  # this build's quick run
    said = page.random_words(two, 10_000)
    assert said.startswith("15.10% ± 0.71%, which cannot be told apart from chance")
    assert "the test set is already used whole" in said
    assert "each of the 2 models alone is beyond 2 standard errors above chance" in said
    five = [{"leak_random_acc": v} for v in (0.2746, 0.3139, 0.2906, 0.288, 0.2715)]  # the paper-scale records
    assert "more than 2.8 times its standard error from chance" in page.random_words(five, 10_000)
    assert "for this one trained model" in page.random_words(two[:1], 10_000)


@needs_data
def test_true_label_gradients_leak_and_random_ones_do_not():
    train, test = _mnist(5000), _mnist(2000, "test")
    p = SimpleNamespace(hidden=64, epochs=2, lr=0.01, batch_size=64, logit_scale=1.0)
    out = gradient_leak.run_seed(0, train, test, training.channel_stats(train.images), p)
    acc = {k: probe["acc"] for k, probe in out["probes"].items()}
    assert acc["true"] > acc["raw pixels"] > acc["random"]
    assert acc["true"] > 0.95 and acc["random"] < 0.5
    assert 0.08 < out["anatomy"]["p_true"] < 0.12  # an untrained net's softmax is nearly flat
    assert out["anatomy"]["follows_true_logit"] > 0.7 and out["anatomy"]["class_template"] > 0.6
    true, pixels = out["probes"]["true"], out["probes"]["raw pixels"]
    assert true["right"].float().mean().item() == acc["true"] and true["loss"] < pixels["loss"]
    row = gradient_leak.seed_row(0, out)
    metrics = gradient_leak.summarize([row])
    assert metrics["leak_true_acc"] == acc["true"] and math.isnan(metrics["leak_true_acc_sd"])
    assert metrics["raw_pixels_acc"] == acc["raw pixels"] and metrics["p_true"] == out["anatomy"]["p_true"]
    # the difference from the pixels is paired on the same test images: no larger than the unpaired error
    gap, se = row["leak_true_acc_over_pixels"], row["leak_true_acc_over_pixels_se"]
    assert gap == acc["true"] - acc["raw pixels"]
    assert 0 < se <= stats.gap_se(acc["true"], acc["raw pixels"], len(test.labels))


@pytest.mark.heavy
@needs_data
def test_finished_seeds_are_checkpointed_and_a_rerun_resumes(tmp_path, monkeypatch):
    mnist, test = _mnist(500), _mnist(200, "test")
    fashion = data.subset(data.load("fashion_mnist", "train"), 500)
    norms = {"mnist": ([0.13], [0.31]), "fashion": ([0.29], [0.35])}
    p = SimpleNamespace(seed=0, n_seeds=2, teacher_epochs=1, epochs=1, control_epochs=1, batch_size=128, lr=2e-3,
                        sweep_points=1)
    first = mnist_from_fashion.run_seeds(p, mnist, test, fashion, norms, checkpoints=tmp_path, log=None)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["seed0.pt", "seed10.pt"]  # no temporary files left

    def must_not_run(*args, **kwargs):
        raise AssertionError("a checkpointed seed was run again")

    monkeypatch.setattr(mnist_from_fashion, "run_seed", must_not_run)
    again = mnist_from_fashion.run_seeds(p, mnist, test, fashion, norms, checkpoints=tmp_path, log=None)
    rows = [[mnist_from_fashion.seed_row(n, s) for n, s in zip((0, 10), run)] for run in (first, again)]
    assert rows[0] == rows[1]
    assert torch.equal(again[1]["labels"]["own"], first[1]["labels"]["own"])


@pytest.mark.heavy
@needs_data
def test_a_seed_stopped_inside_a_network_resumes_in_it_and_ends_as_if_never_stopped(tmp_path, monkeypatch):
    """A full-profile seed trains a dozen nets for about an hour: stopped in its first student, the rerun reads
    the finished teacher back and goes on inside that student, and the seed's numbers are those of a run never
    stopped."""
    mnist, test = _mnist(500), _mnist(200, "test")
    fashion = data.subset(data.load("fashion_mnist", "train"), 500)
    norms = {"mnist": ([0.13], [0.31]), "fashion": ([0.29], [0.35])}
    p = SimpleNamespace(seed=0, n_seeds=1, teacher_epochs=2, epochs=2, control_epochs=1, batch_size=128, lr=2e-3,
                        sweep_points=2)
    straight = mnist_from_fashion.run_seeds(p, mnist, test, fashion, norms, log=None)
    real_save = training.save_checkpoint

    def stop_in_the_student(obj, path):
        real_save(obj, path)
        if Path(path).name == "seed0-student-own.pt":
            raise KeyboardInterrupt

    monkeypatch.setattr(training, "save_checkpoint", stop_in_the_student)
    with pytest.raises(KeyboardInterrupt):
        mnist_from_fashion.run_seeds(p, mnist, test, fashion, norms, checkpoints=tmp_path, log=None)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["seed0-given-own.pt", "seed0-student-own.pt",
                                                          "seed0-teacher.pt"]
    monkeypatch.setattr(training, "save_checkpoint", real_save)
    real_classify = mnist_from_fashion.classify

    def otherwise_on_fashion(model, images, norm):  # another process, where borderline answers come out otherwise
        answers = real_classify(model, images, norm)
        return (answers + 1) % 10 if len(images) == len(fashion.images) else answers

    monkeypatch.setattr(mnist_from_fashion, "classify", otherwise_on_fashion)  # the kept labels are read back
    epochs_trained, real_fit = [], training.fit

    def counted_fit(*args, checkpoint=None, **kwargs):
        start = training.load_checkpoint(checkpoint)["epoch"] if checkpoint and checkpoint.exists() else 0
        epochs_trained.append((checkpoint.name, kwargs["epochs"] - start))
        model, history = real_fit(*args, checkpoint=checkpoint, **kwargs)
        return model, [{**h, "seconds": 1.0} for h in history]  # a second an epoch, whichever sitting trained it

    monkeypatch.setattr(training, "fit", counted_fit)
    resumed = mnist_from_fashion.run_seeds(p, mnist, test, fashion, norms, checkpoints=tmp_path, log=None)
    assert epochs_trained[:2] == [("seed0-teacher.pt", 0), ("seed0-student-own.pt", 1)]
    row = mnist_from_fashion.seed_row(0, resumed[0])
    # the seed's training time counts the epochs of the earlier sitting too: teacher 2, students 2 + 2, the
    # sweep's one refit 2, control 1
    assert resumed[0]["train_seconds"] == 9.0
    assert row["student_acc"] == mnist_from_fashion.seed_row(0, straight[0])["student_acc"]
    assert sorted(f.name for f in tmp_path.iterdir()) == ["seed0.pt"]  # the networks' own files, no longer needed


def test_checkpoints_refuse_arbitrary_pickles(tmp_path):
    import pickle

    path = tmp_path / "evil.pt"
    torch.save({"fine": torch.ones(2), "odd": SimpleNamespace(a=1)}, path)  # not a plain container
    with pytest.raises(training.RunError, match=f"cannot read the checkpoint {path} .*delete it") as refused:
        training.load_checkpoint(path)
    assert isinstance(refused.value.__cause__, pickle.UnpicklingError)
    training.save_checkpoint({"x": torch.ones(2), "n": 3, "s": "a"}, path)
    assert training.load_checkpoint(path)["n"] == 3
    path.write_bytes(path.read_bytes()[:100])  # cut short (a full disk): named, not torch's reader error
    with pytest.raises(training.RunError, match="cannot read the checkpoint"):
        training.load_checkpoint(path)


def test_checkpoint_dir_depends_on_parameters():
    from leaklab import experiments, records

    quick = SimpleNamespace(**experiments.resolve("mnist_from_fashion", "quick"))
    other = SimpleNamespace(**experiments.resolve("mnist_from_fashion", "quick", {"epochs": 3}))
    seed = SimpleNamespace(**experiments.resolve("mnist_from_fashion", "quick", {"seed": 1}))
    assert records.checkpoint_dir("mnist_from_fashion", quick) == records.checkpoint_dir("mnist_from_fashion", quick)
    assert records.checkpoint_dir("mnist_from_fashion", quick) != records.checkpoint_dir("mnist_from_fashion", other)
    # the checkpoint files are named by seed (seed{N}.pt), so runs of other seeds share the directory
    assert records.checkpoint_dir("mnist_from_fashion", quick) == records.checkpoint_dir("mnist_from_fashion", seed)
