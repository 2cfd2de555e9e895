"""The gradient-sign label leak: sign(dCE/dx) of an *untrained* net carries the label it was computed with.

For logits z = f(x) and softmax p, the gradient of the cross-entropy for label t is
dCE/dx = sum_k (p_k - [k = t]) dz_k/dx. An untrained net gives p close to uniform, so
the class t enters with weight -(1 - p_t), about -0.9, and every other class with
about +0.1: the sign of the gradient mostly follows -dz_t/dx, a pattern fixed by the
weights and shared by similar images. Computed with the true label, it writes the
label into the features.
"""

import torch
import torch.nn.functional as F

from . import attacks, data, models, records, stats, training

TARGETS = attacks.ATTACK_LABELS


def random_mlp(seed, hidden, norm, logit_scale=1.0):
    """The untrained 3-layer MLP (784 -> hidden -> hidden -> 10), PyTorch's default init with its last layer
    (weights and bias) times `logit_scale`, seeing pixels in [0, 1] through `norm`. Scaling the logits leaves the
    sign of every class's logit gradient as it was and changes only how peaked the softmax is: the one thing the
    page's argument says decides how much of the label the gradient's sign carries."""
    torch.manual_seed(seed)
    net = models.mlp([784, hidden, hidden, 10])
    with torch.no_grad():
        net[-1].weight.mul_(logit_scale)
        net[-1].bias.mul_(logit_scale)
    return models.Normalized(net, *norm).eval()


def sign_features(model, images, labels, target, seed=0, batch_size=2000):
    """clip(sign(dCE(f(x), t)/dx) + 1, 0, 1) for every image: 1 where the gradient is >= 0, else 0.

    Returned as uint8 [N, 784]."""
    generator = torch.Generator().manual_seed(seed)
    out = []
    for x_u8, y in zip(images.split(batch_size), labels.split(batch_size)):
        grad, _ = attacks.loss_gradient(model, training.unit_pixels(x_u8), y, target, generator)
        out.append((grad.sign() + 1).clamp(0, 1).flatten(1).to(torch.uint8))
    return torch.cat(out)


def as_images(features):
    """0/1 feature bits [N, 784] as the uint8 images [N, 1, 28, 28] the minibatch loop takes: 0 and 255,
    which it reads as exactly 0 and 1."""
    return (features * 255).view(-1, 1, 28, 28)


def probe(train_images, train_labels, test_images, test_labels, p, seed):
    """A linear classifier (784 -> 10) trained on uint8 images (pixels, or feature bits by `as_images`) with plain
    SGD (no momentum, no weight decay, a constant learning rate), on the test images: its accuracy, its
    right-or-wrong per image (so that two classifiers' difference is paired on the same images) and its mean
    cross-entropy, which goes on measuring how well it reads the label when the accuracy sits at 100%."""
    torch.manual_seed(seed)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 10))
    linear, _ = training.fit(linear, train_images, train_labels, epochs=p.epochs, batch_size=p.batch_size, lr=p.lr,
                             optimizer=training.momentum_sgd(momentum=0.0, weight_decay=0.0, decay=False),
                             augment=False, seed=seed, device="cpu", progress=False)
    logits = training.logits_of(linear, test_images)
    return {"acc": training.accuracy(logits.argmax(1), test_labels), "right": logits.argmax(1) == test_labels,
            "loss": F.cross_entropy(logits, test_labels).item()}


@torch.no_grad()
def anatomy(model, images, labels, batch_size=2000):
    """Where the leak comes from, measured on `images`.

    p_true: the untrained net's mean softmax probability of the true class (so the
    true class's weight in dCE/dz is -(1 - p_true)); p_max: its mean largest softmax probability, how peaked
    it is whatever the class (its predicted class's weight); follows_true_logit: the share
    of pixels where sign(dCE/dx) equals sign(-dz_y/dx), the true class's logit
    gradient alone; class_template: the share of an image's feature bits equal to
    the majority bit of its class (0.5 would mean no class pattern).
    """
    p_true, p_max, follows, bits = [], [], [], []
    for x_u8, y in zip(images.split(batch_size), labels.split(batch_size)):
        with torch.enable_grad():
            x = training.unit_pixels(x_u8).requires_grad_()
            logits = model(x)
            (g_ce,) = torch.autograd.grad(F.cross_entropy(logits, y, reduction="sum"), x, retain_graph=True)
            (g_true,) = torch.autograd.grad(logits.gather(1, y[:, None]).sum(), x)
        probs = logits.softmax(1)
        p_true.append(probs.gather(1, y[:, None]).squeeze(1))
        p_max.append(probs.max(1).values)
        follows.append((g_ce.sign() == -g_true.sign()).flatten(1).float().mean(1))
        bits.append((g_ce >= 0).flatten(1))
    bits = torch.cat(bits)
    majority = torch.stack([bits[labels == c].float().mean(0) >= 0.5 for c in range(10)])
    return {
        "p_true": torch.cat(p_true).mean().item(),
        "p_max": torch.cat(p_max).mean().item(),
        "follows_true_logit": torch.cat(follows).mean().item(),
        "class_template": (bits == majority[labels]).float().mean().item(),
    }


def class_means(features, labels):
    """The mean feature image of each class, [10, 28, 28]."""
    return torch.stack([features[labels == c].float().mean(0) for c in range(10)]).view(10, 28, 28)


def run_seed(seed, train, test, norm, p):
    """One untrained MLP: sign features for every target label, a linear classifier on each,
    and one on raw pixels; accuracies on the test set. Test features are computed with
    the *test* images' own labels (true, predicted, ...), as a leaking attack would."""
    model = random_mlp(seed, p.hidden, norm, p.logit_scale)
    out = {"probes": {}, "test_features": {}, "anatomy": anatomy(model, test.images, test.labels)}
    for target in TARGETS:
        f_train = sign_features(model, train.images, train.labels, target, seed=seed)
        f_test = sign_features(model, test.images, test.labels, target, seed=seed + 1)
        out["probes"][target] = probe(as_images(f_train), train.labels, as_images(f_test), test.labels, p, seed)
        out["test_features"][target] = f_test
    out["probes"]["raw pixels"] = probe(train.images, train.labels, test.images, test.labels, p, seed)
    return out


FEATURES = {"true": "gradient for the true label", "predicted": "gradient for the predicted label",
            "least_likely": "gradient for the least-likely label", "random": "gradient for a random label",
            "raw pixels": "raw pixels (no gradient)"}
TEMPLATE_ROWS = ("true", "predicted", "random")  # the class-mean figure's rows


def metric_key(features):
    return "raw_pixels_acc" if features == "raw pixels" else f"leak_{features}_acc"


def over_pixels_key(features):
    """The key of a kind of features' accuracy minus the raw pixels' (its paired error: KEY_se)."""
    return f"{metric_key(features)}_over_pixels"


def seed_row(seed, s):
    """One MLP's numbers, as the record keeps them: every classifier's accuracy, each kind of features' accuracy
    minus the pixels' with its error paired on the same test images, the true-label classifier's test loss, and
    the anatomy of the leak."""
    probes, pixels = s["probes"], s["probes"]["raw pixels"]
    over = {}
    for target in TARGETS:
        over[over_pixels_key(target)] = probes[target]["acc"] - pixels["acc"]
        over[over_pixels_key(target) + "_se"] = stats.paired_gap_se(probes[target]["right"], pixels["right"])
    return {"seed": seed, **{metric_key(k): probes[k]["acc"] for k in FEATURES}, **over,
            "leak_true_loss": probes["true"]["loss"], **s["anatomy"]}


def right_key(seed, features):
    """The .npz name of one seed's classifier's right-or-wrong per test image (bit-packed)."""
    return f"seed{seed}_{metric_key(features)}_right"


def summarize(rows):
    """The record's metrics: means over seeds, and the spread of the true-label accuracy."""
    return records.summarize_rows(rows, spread=("leak_true_acc",))


def compute(p, log=print):
    """The whole experiment for parameters `p`: one untrained MLP per seed, linear classifiers on its
    gradient-sign features and on raw pixels; the record keeps each seed's accuracies and, beside it,
    the mean feature image of each class (the page's templates)."""
    mnist, test = data.load("mnist", "train"), data.load("mnist", "test")
    norm = training.channel_stats(mnist.images)  # MNIST's own mean and std, from the training images
    train = data.subset(mnist, p.n_train)
    rows, templates, right = [], [], {}
    for k in range(p.n_seeds):
        log(f"gradient_leak: MLP {k + 1} of {p.n_seeds} (seed {p.seed + k})")
        s = run_seed(p.seed + k, train, test, norm, p)
        rows.append(seed_row(p.seed + k, s))
        templates.append(torch.stack([class_means(s["test_features"][t], test.labels) for t in TEMPLATE_ROWS]))
        # per test image, so that a page can pair two records' classifiers (the same seed at two logit scales)
        right.update({right_key(p.seed + k, f): records.packed_bits(s["probes"][f]["right"]) for f in FEATURES})
    files = {".npz": records.to_npz(class_means=torch.stack(templates).half().numpy(), **right)}
    return {"metrics": summarize(rows), "per_seed": rows, "series": {"n_test": len(test.labels)},
            "files": files, "device": training.describe_device("cpu"), "data": records.describe_data(mnist, test)}
