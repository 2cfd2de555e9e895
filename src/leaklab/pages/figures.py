"""Figures. Every one has a title, labelled axes and an opaque white background."""

import base64
import io
import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle
from matplotlib.ticker import FuncFormatter

# Wallace's colours: class 0 blue, class 1 red; light for regions, dark for points.
REGION_CMAP = ListedColormap(["#a9c4ff", "#f5a58c"])
POINT_COLORS = ["#3340c4", "#c0102a"]
PAPER_COLOR = "#d62728"
CHANCE_COLOR = "#7f7f7f"


class Table(str):
    """A table in MyST/GitHub Markdown that shows itself as a table in a notebook (and in the book)."""

    def _repr_markdown_(self):
        return str(self)


def _new_figure(*args, **kwargs):
    fig, axes = plt.subplots(*args, facecolor="white", **kwargs)
    return fig, axes


def _regions(ax, grid):
    ax.imshow(np.asarray(grid), origin="lower", extent=(0, 1, 0, 1), cmap=REGION_CMAP, vmin=0, vmax=1,
              interpolation="nearest")


def _points(ax, x, labels):
    ax.scatter(x[:, 0], x[:, 1], c=[POINT_COLORS[int(c)] for c in labels], s=22, edgecolors="white",
               linewidths=0.6, zorder=3)


def toy_panels(case, fig=None):
    """Wallace's four panels for one seed at one radius.

    `case` is a dict from `toy2d.case`: the original points and labels, the
    adversarial points, which flipped, both nets' decision regions and scores.
    """
    if fig is None:
        fig, axes = _new_figure(1, 4, figsize=(13, 3.7))
    else:
        fig.clear()
        axes = fig.subplots(1, 4)
    n, eps, x, y = case["n_points"], case["eps"], case["x"], case["y"]
    flipped = case["flipped"]

    _regions(axes[0], case["original_regions"])
    _points(axes[0], x, y)
    for px, py in x.tolist():
        axes[0].add_patch(Rectangle((px - eps, py - eps), 2 * eps, 2 * eps, fill=False, lw=0.7,
                                    ec="#555555", alpha=0.8))
    axes[0].set_title(f"(a) original net and data\nfits {case['original_correct']}/{n}", fontsize=10)

    _regions(axes[1], case["original_regions"])
    _points(axes[1], case["x_adv"][flipped], case["y_wrong"][flipped])
    axes[1].set_title(f"(b) adversarial points that flip\n{int(flipped.sum())} of {n}, with the wrong labels",
                      fontsize=10)

    _regions(axes[2], case["student_regions"])
    _points(axes[2], case["x_adv"][flipped], case["y_wrong"][flipped])
    axes[2].set_title("(c) new net trained on (b) only", fontsize=10)

    _regions(axes[3], case["student_regions"])
    _points(axes[3], x, y)
    axes[3].set_title(f"(d) new net on the original data\n{case['student_correct']}/{n} correct", fontsize=10)

    for ax in axes:
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="$x_1$", aspect="equal")
    axes[0].set_ylabel("$x_2$")
    fig.suptitle(f"seed {case['seed']}, l∞ radius eps = {eps:.2f}", fontsize=11)
    fig.tight_layout()
    return fig


def score_distribution(scores, n_points, paper, chance, control=None, eps=None):
    """Histogram of the new net's score over seeds, beside the paper's single number and chance."""
    fig, ax = _new_figure(figsize=(7, 3.8))
    bins = [b - 0.5 for b in range(n_points + 2)]
    ax.hist(scores, bins=bins, color="#4c72b0", alpha=0.85, label=f"new net ({len(scores)} seeds)")
    if control is not None:
        ax.hist(control, bins=bins, color=CHANCE_COLOR, alpha=0.45, label="control: random labels")
    ax.axvline(paper, color=PAPER_COLOR, lw=2, label=f"paper: {paper}/{n_points}")
    ax.axvline(chance, color="black", ls="--", lw=1.2, label=f"chance: {chance:g}/{n_points}")
    ax.set(xlabel=f"correct on the {n_points} original points", ylabel="seeds",
           title=f"Score of the new net over seeds{'' if eps is None else f' (eps = {eps:.2f})'}")
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def eps_sweep(eps, score_mean, score_sd, flipped_mean, n_points, paper, paper_eps, chance):
    """Mean score and mean number of flipped points against the radius; the ± 1 sd band where there is a spread
    (`score_sd` None: one seed)."""
    fig, (ax, ax2) = _new_figure(1, 2, figsize=(11, 3.8))
    ax.plot(eps, score_mean, "o-", color="#4c72b0", ms=4, label="new net, mean over seeds")
    if score_sd is not None:
        ax.fill_between(eps, [m - s for m, s in zip(score_mean, score_sd)],
                        [m + s for m, s in zip(score_mean, score_sd)], color="#4c72b0", alpha=0.2, label="± 1 sd")
    ax.plot([paper_eps], [paper], "*", color=PAPER_COLOR, ms=14, label=f"paper: {paper}/{n_points}")
    ax.axhline(chance, color="black", ls="--", lw=1.2, label="chance")
    ax.set(xlabel="l∞ radius eps", ylabel=f"correct of {n_points}", title="New net's score against eps")
    # below the axes: inside, the chance line ran through it
    ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    ax2.plot(eps, flipped_mean, "o-", color="#dd8452", ms=4)
    ax2.set(xlabel="l∞ radius eps", ylabel="flipped points (mean)",
            title="How many points the attack flips", ylim=(0, n_points))
    fig.tight_layout()
    return fig


def image_grid(rows, row_labels, title, col_labels=None, titles=None, cmap="gray", vmin=0, vmax=None,
               xlabels=None, title_size=12, colorbar=None):
    """Images in a grid: rows [r][c] of 2-D arrays, one label per row (on the left), an optional
    label per column and per image (`titles[r][c]` above it, `xlabels[r][c]` below it); with `colorbar` (its
    label), a colour scale beside the grid, for images whose colours are values."""
    n_rows, n_cols = len(rows), len(rows[0])
    fig, axes = _new_figure(n_rows, n_cols, figsize=(1.15 * n_cols + 1.2, 1.3 * n_rows + 0.6), squeeze=False)
    for r in range(n_rows):
        for c in range(n_cols):
            ax = axes[r][c]
            shown = ax.imshow(rows[r][c], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if titles is not None:
                ax.set_title(titles[r][c], fontsize=title_size, fontweight="bold")
            elif r == 0 and col_labels is not None:
                ax.set_title(col_labels[c], fontsize=10)
            if xlabels is not None:
                ax.set_xlabel(xlabels[r][c], fontsize=title_size - 1)
        axes[r][0].set_ylabel(row_labels[r], fontsize=9, rotation=0, ha="right", va="center")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 0.9, 1) if colorbar else None)
    if colorbar:  # in the strip the layout left free on the right
        fig.colorbar(shown, cax=fig.add_axes((0.915, 0.15, 0.012, 0.7)), label=colorbar)
    return fig


def label_histograms(counts, names, title, xlabel="digit the teacher gave", ylabel="Fashion images"):
    """Side-by-side bars: counts[k][d] is how often labelling `names[k]` gave class d."""
    fig, ax = _new_figure(figsize=(8, 3.6))
    width = 0.8 / len(counts)
    for k, (row, name) in enumerate(zip(counts, names)):
        ax.bar([d + (k - (len(counts) - 1) / 2) * width for d in range(len(row))], row, width=width, label=name)
    ax.axhline(sum(counts[0]) / len(counts[0]), color="black", ls="--", lw=1, label="uniform")
    ax.set(xticks=range(len(counts[0])), xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(frameon=False, fontsize=9)
    fig.tight_layout()
    return fig


def heatmap(matrix, row_names, col_names, title, xlabel, ylabel, fmt="{:.0%}"):
    """A matrix of shares with its values written in the cells."""
    fig, ax = _new_figure(figsize=(8, 5.5))
    _shares_on(ax, matrix, row_names, col_names, title, xlabel, ylabel, fmt)
    fig.tight_layout()
    return fig


def _shares_on(ax, matrix, row_names, col_names, title, xlabel, ylabel, fmt="{:.0%}"):
    """Draw a matrix of shares, its values written in the cells, on `ax` (with its colour bar)."""
    im = ax.imshow(matrix, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(row_names)):
        for j in range(len(col_names)):
            v = float(matrix[i][j])
            if v >= 0.005:
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                        color="white" if v > 0.6 else "black")
    ax.set(xticks=range(len(col_names)), yticks=range(len(row_names)), yticklabels=row_names, xlabel=xlabel,
           ylabel=ylabel, title=title)
    # slanted: CIFAR-10's class names side by side ran into each other ("airplaneautomobile")
    ax.set_xticklabels(col_names, rotation=40, ha="right", rotation_mode="anchor")
    ax.figure.colorbar(im, ax=ax, fraction=0.03)


def sample_sweep(sizes, per_seed, index, shares, lines, *, title, xlabel, ylabel, class_names, matrix_title,
                 matrix_xlabel, matrix_ylabel):
    """One frame of a sample-size slider. Left: accuracy against the number of training images (log scale;
    per_seed[k] holds every seed's accuracy at sizes[k], their mean joined by a line), with reference `lines`
    ({label: accuracy}, e.g. the teacher and chance) and size `index` ringed. Right: `shares`, the confusion of
    the ringed size as shares of each true class."""
    fig, (left, right) = _new_figure(1, 2, figsize=(12, 5.2), gridspec_kw={"width_ratios": [1.1, 1]})
    means = [float(np.mean(v)) for v in per_seed]
    left.plot(sizes, means, "-", color="#4c72b0", lw=2, label="mean over seeds" if len(per_seed[0]) > 1 else None)
    for k, values in enumerate(per_seed):
        left.plot([sizes[k]] * len(values), values, "o", color="#4c72b0", ms=5,
                  label="one seed" if k == 0 else None)
    left.plot([sizes[index]], [means[index]], "o", ms=15, mfc="none", mec="black", mew=2, zorder=4,
              label=f"shown right: {sizes[index]:,} images")
    for (label, value), style in zip(lines.items(), ("--", ":", "-.")):
        left.axhline(value, color=PAPER_COLOR if style == "--" else CHANCE_COLOR, ls=style, lw=1.3,
                     label=f"{label}: {value:.1%}")
    left.set_xscale("log", base=2)
    left.set_xticks(sizes, [f"{n:,}" for n in sizes], rotation=40, ha="right", rotation_mode="anchor")
    left.minorticks_off()
    left.set(ylim=(0, 1.02), xlabel=xlabel, ylabel=ylabel, title=title)
    # below the axes: inside, it covered the points wherever the accuracies lay
    left.legend(frameon=False, fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2)
    _shares_on(right, shares, class_names, class_names, matrix_title, matrix_xlabel, matrix_ylabel)
    fig.tight_layout()
    return fig


def accuracy_bars(names, per_seed, title, paper=None, paper_label="paper", chance=0.1,
                  xlabel="MNIST test accuracy"):
    """Horizontal bars of accuracies: the mean over seeds, ± 1 sd where there are several, and a dot for
    every seed (per_seed: one list of values per bar); the paper's number and chance marked."""
    fig, ax = _new_figure(figsize=(8, 0.5 * len(names) + 1.4))
    y = list(range(len(names)))[::-1]
    means = [float(np.mean(v)) for v in per_seed]
    sds = [float(np.std(v, ddof=1)) if len(v) > 1 else 0.0 for v in per_seed]
    ax.barh(y, means, xerr=sds, color="#4c72b0", alpha=0.85, capsize=3)
    for yi, values in zip(y, per_seed):
        ax.plot(values, [yi] * len(values), "o", color="black", ms=3.5, alpha=0.7,
                label="one seed" if yi == y[0] else None)
    papers = paper if isinstance(paper, (list, tuple)) else [None] * len(names)
    for yi, m, sd, values in zip(y, means, sds, per_seed):
        # the bar's own value inside its base, where nothing else on the row is drawn and no reader takes it for
        # the paper's star; a bar too short to hold it gets it just past its error bar
        if m > 0.15:
            ax.text(0.012, yi, f"{m:.1%}", va="center", ha="left", fontsize=9, color="white", fontweight="bold",
                    bbox=dict(facecolor="#4c72b0", edgecolor="none", pad=1), zorder=5)  # over the chance line
        else:
            ax.text(max([m + sd, *values]) + 0.02, yi, f"{m:.1%}", va="center", fontsize=9,
                    bbox=dict(facecolor="white", edgecolor="none", pad=1))
    if isinstance(paper, (list, tuple)):  # one paper number per bar, None where the paper gives none
        marked = [(p, yi) for p, yi in zip(papers, y) if p is not None]
        ax.plot([p for p, _ in marked], [yi for _, yi in marked], "*", color=PAPER_COLOR, ms=14,
                label=paper_label)
    elif paper is not None:
        ax.axvline(paper, color=PAPER_COLOR, lw=2, label=f"{paper_label}: {paper:.0%}")
    ax.axvline(chance, color="black", ls="--", lw=1.2, label=f"chance: {chance:.0%}")
    ax.set(yticks=y, yticklabels=names, xlim=(0, 1.12), xlabel=xlabel, title=title)
    # below the axes: inside, it covered the numbers of the bars that reach the right
    ax.legend(frameon=False, fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=3)
    fig.tight_layout()
    return fig


def loss_curves(eps, curves, title, paper_points=None, marker=None, ax=None):
    """Mean cross-entropy against eps: curves {name: losses}; the first is drawn bold. `paper_points`
    [(eps, loss)] are values read off the source's figure; `marker` an eps to mark on the first curve."""
    fig, ax = _new_figure(figsize=(7, 3.8)) if ax is None else (ax.figure, ax)
    for i, (name, loss) in enumerate(curves.items()):
        ax.plot(eps, loss, lw=2.4 if i == 0 else 1.2, alpha=1 if i == 0 else 0.75, label=name)
    first = next(iter(curves.values()))
    ax.axhline(first[0], color=CHANCE_COLOR, ls=":", lw=1)
    if paper_points:
        ax.plot(*zip(*paper_points), "*", color=PAPER_COLOR, ms=13, label="blog's figure (read off)")
    if marker is not None:
        i = min(range(len(eps)), key=lambda k: abs(eps[k] - marker))
        ax.plot([eps[i]], [first[i]], "o", color="black", ms=8, zorder=4)
    ax.set(xlabel="FGSM eps (0-255 scale), true-label direction", ylabel="mean test cross-entropy", title=title)
    ax.legend(frameon=False, fontsize=8)
    return fig


def along_eps(eps, curves, title, paper_acc=None, paper_loss=None, baseline=None):
    """Accuracy (left) and mean cross-entropy (right) against eps, one line per curve: curves {name: (accuracies,
    losses)}; `paper_acc` and `paper_loss` [(eps, value)] are the source's numbers, drawn as stars; `baseline`
    (name, eps, accuracy), a reference measured at one eps, is drawn as a cross."""
    fig, (acc_ax, loss_ax) = _new_figure(1, 2, figsize=(10.5, 3.8), layout="constrained")
    for i, (name, (acc, _)) in enumerate(curves.items()):
        acc_ax.plot(eps, [100 * a for a in acc], lw=2.4 if i == 0 else 1.2, label=name)
    if paper_acc:
        acc_ax.plot(*zip(*[(e, 100 * a) for e, a in paper_acc]), "*", color=PAPER_COLOR, ms=13,
                    label="the blog's numbers")
    if baseline:
        name, at, acc = baseline
        acc_ax.plot([at], [100 * acc], "x", color=CHANCE_COLOR, ms=10, mew=2.2, label=name)
    acc_ax.set(xlabel="FGSM eps (0-255 scale)", ylabel="test accuracy (%)")
    acc_ax.legend(frameon=False, fontsize=8)
    loss_curves(eps, {name: loss for name, (_, loss) in curves.items()}, "", paper_loss, ax=loss_ax)
    loss_ax.set(xlabel="FGSM eps (0-255 scale)", ylabel="mean test cross-entropy (log scale)")
    loss_ax.set_yscale("log")  # a loss that climbs tenfold along one step and one that dips, on one axis
    loss_ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # 1 and 0.1, not 10^0 and 10^-1
    loss_ax.yaxis.set_minor_formatter(FuncFormatter(  # 0.2, 0.3 and 0.5 of each decade, written plainly
        lambda v, _: f"{v:g}" if round(v / 10 ** math.floor(math.log10(v))) in (2, 3, 5) else ""))
    loss_ax.get_legend().remove()  # the left panel's legend names the same lines
    fig.suptitle(title)
    return fig


def training_curves(curves, title, reference=None, reference_label=""):
    """Mean training loss against epoch: curves {name: (epochs, losses)}; `reference` a loss drawn as a dotted
    line (a uniform guess's, say), labelled `reference_label`."""
    fig, ax = _new_figure(figsize=(7, 3.4))
    for name, (epochs, losses) in curves.items():
        ax.plot(epochs, losses, lw=1.6, marker=".", label=name)
    if reference is not None:
        ax.axhline(reference, color=CHANCE_COLOR, ls=":", lw=1.2, label=reference_label)
    ax.set(xlabel="epoch", ylabel="mean training cross-entropy", title=title)
    ax.set_ylim(bottom=0)
    ax.legend(frameon=False, fontsize=8)
    return fig


def fgsm_frame(images, predicted, labels, p_true, classes, eps, curve_eps, curve_loss, paper_points=None,
               mode="in eval mode"):
    """One frame of the eps slider: FGSM images at `eps` with the model's answers, above the loss curve (along
    the same step, computed as `mode` says) with that eps marked. images: uint8 [N, H, W, C]."""
    fig = plt.figure(figsize=(10, 5.2), facecolor="white")
    grid = fig.add_gridspec(2, len(images), height_ratios=[1, 1.6])
    for i, img in enumerate(images):
        ax = fig.add_subplot(grid[0, i])
        img = img.numpy()
        if img.shape[-1] == 1:  # grayscale
            ax.imshow(img[..., 0], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        else:
            ax.imshow(img, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        right = int(predicted[i]) == int(labels[i])
        ax.set_title(classes[int(predicted[i])], fontsize=9, fontweight="bold",
                     color="#2a7f2a" if right else PAPER_COLOR)
        ax.set_xlabel(f"{classes[int(labels[i])]}\np={float(p_true[i]):.2f}", fontsize=8)
    loss_curves(curve_eps, {"true-label FGSM training": curve_loss}, "", paper_points, eps,
                ax=fig.add_subplot(grid[1, :]))
    fig.suptitle(f"FGSM (true label, step computed {mode}) at eps = {eps:g}/255: prediction above (green right, "
                 "red wrong), true class and its probability below", fontsize=10)
    fig.tight_layout()
    return fig


def png_bytes(fig, dpi=72):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode()
