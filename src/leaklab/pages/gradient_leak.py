"""The gradient_leak page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.gradient_leak`."""

from .. import data, experiments, records, stats
from ..gradient_leak import FEATURES, TEMPLATE_ROWS, metric_key
from . import figures


def accuracy_table(recs):
    if not recs:
        return None
    lines = ["| features of the linear classifier | MNIST test accuracy (mean ± sd over seeds) |", "|---|---|"]
    lines += [f"| {name} | {records.mean_sd_text(records.seed_values(recs, metric_key(k)))} |"
              for k, name in FEATURES.items()]
    return figures.Table("\n".join(lines))


def accuracy_figure(recs):
    if not recs:
        return None
    values = [records.seed_values(recs, metric_key(k)) for k in FEATURES]
    return figures.accuracy_bars(list(FEATURES.values()), values,
                                 "Linear classifiers on gradient-sign features of an untrained MLP",
                                 paper=recs[0]["paper"]["leak_true_acc"], paper_label="paper, true label")


def templates_figure(recs):
    """The mean feature image of each test class for the first record's first MLP, one row per label."""
    if not recs:
        return None
    record = recs[0]
    means = records.arrays(record)["class_means"][0].astype("float32")
    return figures.image_grid([[means[r, c] for c in range(10)] for r in range(len(TEMPLATE_ROWS))],
                              [f"{t.replace('_', '-')} label" for t in TEMPLATE_ROWS],
                              f"Mean gradient-sign feature of each MNIST test class (MLP seed "
                              f"{record['per_seed'][0]['seed']})",
                              col_labels=[f"digit {c}" for c in range(10)], cmap="RdBu_r", vmin=0, vmax=1)


def words(p, record):
    """{glue name: value or Markdown text} for the prose about this run."""
    rows, n_test = record["per_seed"], record["series"]["n_test"]
    paper = experiments.get("gradient_leak").metrics["leak_true_acc"].paper
    leak = stats.accuracy(rows, "leak_true_acc", n_test)
    close = stats.matches(leak, paper, stats.binomial_se(paper, n_test))
    return {"paper_acc": paper,
            "versus_paper": ("consistent with" if close else "higher than" if leak.value > paper else "lower than"),
            "leak_words": leak.words("{:.2f}", "%", 100, "chance (10%)"),
            "over_pixels_words": stats.accuracy_gap(rows, "leak_true_acc", "raw_pixels_acc", n_test).words(
                all_images=n_test >= data.TEST_SET_SIZE)}
