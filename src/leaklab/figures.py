"""Figures. Every one has a title, labelled axes and an opaque white background."""

import base64
import io

import matplotlib.pyplot as plt
from matplotlib.colors import ListedColormap
from matplotlib.patches import Rectangle

# Wallace's colours: class 0 blue, class 1 red; light for regions, dark for points.
REGION_CMAP = ListedColormap(["#a9c4ff", "#f5a58c"])
POINT_COLORS = ["#3340c4", "#c0102a"]
PAPER_COLOR = "#d62728"
CHANCE_COLOR = "#7f7f7f"


def _new_figure(*args, **kwargs):
    fig, axes = plt.subplots(*args, facecolor="white", **kwargs)
    return fig, axes


def _regions(ax, grid):
    ax.imshow(grid.numpy(), origin="lower", extent=(0, 1, 0, 1), cmap=REGION_CMAP, vmin=0, vmax=1,
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
    """Mean score and mean number of flipped points against the radius."""
    fig, (ax, ax2) = _new_figure(1, 2, figsize=(11, 3.8))
    ax.plot(eps, score_mean, "o-", color="#4c72b0", ms=4, label="new net, mean over seeds")
    ax.fill_between(eps, [m - s for m, s in zip(score_mean, score_sd)],
                    [m + s for m, s in zip(score_mean, score_sd)], color="#4c72b0", alpha=0.2, label="± 1 sd")
    ax.plot([paper_eps], [paper], "*", color=PAPER_COLOR, ms=14, label=f"paper: {paper}/{n_points}")
    ax.axhline(chance, color="black", ls="--", lw=1.2, label="chance")
    ax.set(xlabel="l∞ radius eps", ylabel=f"correct of {n_points}", title="New net's score against eps")
    ax.legend(frameon=False, fontsize=9)
    ax2.plot(eps, flipped_mean, "o-", color="#dd8452", ms=4)
    ax2.set(xlabel="l∞ radius eps", ylabel="flipped points (mean)",
            title="How many points the attack flips", ylim=(0, n_points))
    fig.tight_layout()
    return fig


def png_bytes(fig, dpi=72):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white")
    plt.close(fig)
    return buf.getvalue()


def data_uri(png):
    return "data:image/png;base64," + base64.b64encode(png).decode()
