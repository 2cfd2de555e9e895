"""The toy2d page: its tables, figures, sliders and the words its notebook glues, drawn from records
(this build's, or the committed paper-scale ones). The computation is `leaklab.toy2d`."""

from .. import stats
from ..experiments import EXPERIMENTS
from ..toy2d import case, distil, matched_radius, panels_from_record, sweep_stats, train_originals
from . import figures, widgets


def pooled_sweep(recs):
    """The eps sweeps of several records (same radii) as one sweep over all their seeds."""
    sweeps = [r["series"]["sweep"] for r in recs]
    return {"eps": sweeps[0]["eps"], **{k: [x for s in sweeps for x in s[k]] for k in ("seeds", "fits", "score",
                                                                                      "flipped")}}


# the paper's radius and points, which the full profile keeps
PAPER_EPS, PAPER_POINTS = (EXPERIMENTS["toy2d"].profiles["full"][k] for k in ("eps", "n_points"))


def sweep_landmarks(sweep):
    """The radius whose attack flips about as many points as the paper's figure shows (toy2d.matched_radius),
    with the score there."""
    mean, _, _ = sweep_stats(sweep)
    like_paper = matched_radius(sweep)
    return {"sweep_paper_flips_eps": sweep["eps"][like_paper], "sweep_paper_flips_score": mean[like_paper]}


def peak_words(sweep, n_points):
    """Where the sweep's mean score is highest, and which radii cannot be told apart from it by the noise rule:
    every seed scores at every radius, so each difference is paired seed by seed. A highest mean picked from a
    noisy curve is biased upwards, and a flat top has no place for its peak: the words say which it is."""
    scores = [row for row, fits in zip(sweep["score"], sweep["fits"]) if fits]
    if not scores:
        return "No seed of the sweep fitted its points, so it has no scores."
    eps, mean = sweep["eps"], sweep_stats(sweep)[0]
    best = max(range(len(mean)), key=mean.__getitem__)
    top = stats.estimate([row[best] for row in scores], null=n_points / 2).text("{:.1f}", f"/{n_points}", 1)
    level = [i for i in range(len(mean))
             if i == best or not stats.estimate([row[best] - row[i] for row in scores]).is_effect]
    said = f"The mean score is highest at ε = {eps[best]:.2f}, {top} over {stats.seeds_text(len(scores))}"
    if level == [best]:
        return f"{said}, above every other radius beyond noise (paired seed by seed)."
    low, high = f"{eps[level[0]]:.2f}", f"{eps[level[-1]]:.2f}"
    where = (f"every radius from ε = {low} to {high} scores" if level == list(range(level[0], level[-1] + 1)) else
             f"{len(level)} radii between ε = {low} and {high} score")
    return (f"{said}, but {where} within the noise of it (paired seed by seed): a plateau, on which this scale "
            "cannot place the peak.")


def panels_figure(recs):
    """Wallace's four panels for the first record's figure seed."""
    if not recs:
        return None
    return figures.toy_panels(panels_from_record(recs[0]))


def population_figure(recs):
    """The new net's score over all fitted seeds of the records, beside the random-label control."""
    if not recs:
        return None
    fitted = [row for r in recs for row in r["per_seed"] if row["fits"]]
    n = recs[0]["params"]["n_points"]
    return figures.score_distribution([r["student_correct"] for r in fitted], n,
                                      paper=EXPERIMENTS["toy2d"].metrics["student_correct_mean"].paper,
                                      chance=n / 2, control=[r["control_correct"] for r in fitted],
                                      eps=recs[0]["params"]["eps"])


def sweep_figure(recs):
    if not recs:
        return None
    sweep = pooled_sweep(recs)
    mean, sd, flips = sweep_stats(sweep)
    n = recs[0]["params"]["n_points"]
    return figures.eps_sweep(sweep["eps"], mean, sd, flips, n,
                             paper=EXPERIMENTS["toy2d"].metrics["student_correct_mean"].paper, paper_eps=PAPER_EPS,
                             chance=n / 2)


def eps_slider(out, record, p):
    """Show the static radius slider: the figure seed's four panels at every radius of this run's sweep."""
    from IPython.display import display

    live, sweep_eps = out["live"], record["series"]["sweep"]["eps"]
    paper = EXPERIMENTS["toy2d"].metrics["student_correct_mean"].paper
    frames = []
    for i, e in enumerate(sweep_eps):
        one = case(live["sweep_originals"], live["sweep"], 0, i)
        frames.append({"value": f"{e:.2f}", "png": figures.png_bytes(figures.toy_panels(one)),
                       "caption": f"new net: <b>{one['student_correct']}/{one['n_points']}</b> correct on the "
                                  f"original points; {int(one['flipped'].sum())} points flipped "
                                  f"(paper at {PAPER_EPS:g}: {paper:g}/{PAPER_POINTS}; "
                                  f"chance: {one['n_points'] // 2})"})
    display(widgets.frame_slider(frames, "eps", initial=min(range(len(sweep_eps)),
                                                            key=lambda i: abs(sweep_eps[i] - p.eps))))


def labels_verdict(fitted, control):
    """Whether the information is in the labels, from this run's numbers: the new net and the control train on
    the same flipped points and differ only in their labels, so their difference, seed by seed, is what the
    labels teach; `control` (judged against chance) says whether the points alone teach anything."""
    gap = stats.estimate([r["student_correct"] - r["control_correct"] for r in fitted])
    size = gap.words("{:+.1f}", " original points", 1, more="seeds")
    if gap.one_model:
        return (f"With one seed, the new net minus the control is {size}; so this run cannot show that the "
                "information is in the labels.")
    if not gap.is_effect:
        return (f"The new net minus the control is {size}; so this run cannot show that the information is in the "
                "labels.")
    if gap.value < 0:
        return (f"The control beats the new net (new net minus control: {size}): in this run the net's wrong labels "
                "teach less than random ones, so it does not show information in the labels.")
    if control.is_effect and control.value > control.null:
        return (f"The new net beats the control (new net minus control: {size}), though the points with random "
                "labels score above chance too: the labels add information beyond what the points alone give, and "
                "the labels come from the original net.")
    points = "cannot be told apart from chance" if not control.is_effect else "score below chance"
    return (f"The new net beats the control (new net minus control: {size}), and the points with random labels "
            f"{points}: the information is in the labels, and the labels come from the original net.")


def words(p, record, recs=()):
    """{glue name: value or Markdown text} for the prose about this run (and the paper-scale records' sweep),
    judged by the noise rule."""
    fitted = [row for row in record["per_seed"] if row["fits"]]
    paper = EXPERIMENTS["toy2d"].metrics["student_correct_mean"].paper
    chance = p.n_points / 2
    out = {"share_at_least_paper": sum(r["student_correct"] >= paper for r in fitted) / max(1, len(fitted)),
           **sweep_landmarks(record["series"]["sweep"]),
           "sweep_peak_words": peak_words(record["series"]["sweep"], p.n_points),
           # the paper's setting and numbers, from the registry
           "paper_eps": PAPER_EPS, "paper_points": PAPER_POINTS, "paper_score": paper, "paper_chance": PAPER_POINTS / 2,
           "paper_flips": EXPERIMENTS["toy2d"].metrics["flipped_mean"].paper,
           "attack_words": (f"{p.attack_steps}-step PGD, steps of size ε/4 with no random start" if p.attack == "pgd"
                            else "one-step FGSM of size ε"),
           "sweep_peak_full_words": (peak_words(pooled_sweep(recs), recs[0]["params"]["n_points"]) if recs else
                                     "No paper-scale record is committed yet.")}
    if fitted:
        count = dict(num="{:.1f}", unit=f"/{p.n_points}", scale=1, null_name=f"chance ({chance:g})", more="seeds")
        student = stats.estimate([r["student_correct"] for r in fitted], null=chance)
        control = stats.estimate([r["control_correct"] for r in fitted], null=chance)
        out["student_words"] = student.words(**count)
        out["control_words"] = control.words(**count, settle=False)  # built to sit at chance: nothing to settle
        out["labels_verdict"] = labels_verdict(fitted, control)
    else:
        out["student_words"] = out["control_words"] = "undefined: no seed's original net fitted its points"
        out["labels_verdict"] = "With no fitted seed, this run cannot say whether the information is in the labels."
    matched = [r["student_correct_matched"] for r in fitted if r.get("student_correct_matched") is not None]
    if matched:  # the claim where the flip counts match the paper's figure (the scorecard's second row)
        est = stats.estimate(matched, null=chance)
        out["matched_words"] = est.words("{:.1f}", f"/{p.n_points}", 1, f"chance ({chance:g})", more="seeds")
        # the paper's number is one seed: it is judged against the spread of one seed of ours (stats.matches)
        out["matched_versus_paper"] = (f"consistent, as one seed of ours (sd {est.seed_sd:.1f}) could be, with"
                                       if len(matched) > 1 and stats.matches(est, paper) else
                                       "a single seed beside" if len(matched) == 1 else
                                       "below" if est.value < paper else "above")
    else:
        out["matched_words"], out["matched_versus_paper"] = "undefined: no sweep seed fitted its points", "beside"
    return out


def live_slider(p, eps_step=0.01):
    """In Jupyter: an eps slider (and a seed box) that recompute the toy in the running kernel.

    One small net's 1000 Adam steps take about a second on a CPU, whatever its size (the time goes to per-step
    overhead). So a new seed trains the original net and, as one batched run (about as long as one net), a
    fresh net for every radius on the slider; moving the slider then only redraws."""
    grid = [round(i * eps_step, 6) for i in range(round(p.sweep_eps_max / eps_step) + 1)]
    paper = EXPERIMENTS["toy2d"].metrics["student_correct_mean"].paper

    def recompute(seed):
        originals = train_originals([seed], p.n_points, p.hidden, p.depth, p.steps, p.lr)
        return originals, distil(originals, grid, p.attack, p.attack_steps, p.hidden, p.depth, p.student_steps,
                                 p.lr)

    def draw(computed, index, fig):
        shown = case(*computed, 0, index)
        figures.toy_panels(shown, fig)
        return (f"new net: <b>{shown['student_correct']}/{shown['n_points']}</b> correct on the original points "
                f"(paper: {paper:g}/32, chance: {shown['n_points'] // 2})")

    initial = min(range(len(grid)), key=lambda i: abs(grid[i] - p.eps))
    return widgets.eps_seed_slider(grid, initial, p.seed, recompute, draw)
