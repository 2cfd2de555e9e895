"""The "At paper scale" section of every claim page: the committed full-profile records of one
experiment, pooled over their seeds, beside the paper's numbers, with where they came from.

The scorecard on the front page reads the same records through the same `records.pooled`, so
the two always agree.
"""

import statistics

from .. import experiments, records, stats


def verdict(name, key, recs):
    """The noise-rule verdict (experiments.verdict) on one metric, pooled over the records' scored seeds."""
    n_test = records.n_test(recs[0]) if recs else None
    rows = [row for r in recs for row in r["per_seed"] if row.get("fits", True)]
    est = experiments.estimate(name, key, rows, n_test)
    metric = experiments.get(name).metrics[key]
    if est is None and any(k in row for row in rows for k in metric.of or (metric.seed_key or key,)):
        return "undefined in these runs"  # measured, and undefined in every seed
    return experiments.verdict(name, key, est, n_test)


def summary(name, recs):
    """Per scorecard row: the metric, the paper's number, the pooled value, its spread over seeds
    and every seed's own value (None where a record holds no per-seed value for it)."""
    exp = experiments.get(name)
    pooled = records.pooled(name, recs) or {}
    seeds = [row for r in recs for row in r["per_seed"]]
    scored = [row for row in seeds if row.get("fits", True)]  # the toy scores only nets that fit their points
    out = []
    for key, spread in experiments.scorecard_rows(name):
        per_seed = [v for v in (experiments.seed_value(name, key, row) for row in scored) if v is not None]
        measured = sum(experiments.seed_value(name, key, row) is not None for row in seeds)
        out.append({"key": key, "metric": exp.metrics[key], "paper": exp.metrics[key].paper,
                    "value": pooled.get(key), "sd": pooled.get(spread) if spread else None,
                    "per_seed": per_seed, "n_seeds": len(seeds), "n_measured": measured})
    return out


def text(metric, value):
    """A metric's value as the pages write it; an undefined one (null in the record) as 'undefined'. A
    difference of accuracies in points, as the paper's number beside it is written (not '%')."""
    if value is None:
        return "undefined"
    if metric.kind == "difference" and metric.in_percent:
        return f"{100 * value:+.2f} points"
    return metric.fmt.format(value)


def pooled_text(row):
    """A summary row's pooled value as the section and the scorecard write it: 'mean ± sd'."""
    m, value, sd = row["metric"], row["value"], row["sd"]
    if sd is None or value is None:
        return text(m, value)
    if m.kind == "difference" and m.in_percent:
        return f"{100 * value:+.2f} ± {100 * sd:.2f} points"
    return f"{text(m, value)} ± {text(m, sd).lstrip('+')}"


def seeds_count_text(row):
    """'3 seeds'; '3000 seeds, 2866 scored' where only some seeds' nets are scored (the toy scores only nets that
    fit their points); '600 of 3000 seeds measure it, 576 scored' where only some seeds measured the row's number
    (the toy's second row: only the sweep's seeds)."""
    scored, measured, n_seeds = len(row["per_seed"]), row.get("n_measured", row["n_seeds"]), row["n_seeds"]
    seeds = (stats.seeds_text(n_seeds) if measured == n_seeds else
             f"{measured} of {n_seeds} seeds measure it")
    return seeds + (f", {scored} scored" if scored != measured else "")


def provenance_lines(recs):
    """One line per record: its file, then what made it (records.made_by)."""
    return [f"- `{r['_path'].rsplit('/', 1)[-1]}`: {records.made_by(r)}." for r in recs]


def table(name, recs):
    """The section's table (MyST markdown): paper, ours pooled over seeds, each seed, and the verdict the
    scorecard gives (the noise rule)."""
    head = ["| measure | paper | ours at paper scale (mean ± sd over seeds) | each seed | verdict |",
            "|---|---|---|---|---|"]
    for row in summary(name, recs):
        m = row["metric"]
        ours = f"{pooled_text(row)} ({seeds_count_text(row)})"
        shown = row["per_seed"] if len(row["per_seed"]) <= 10 else None
        each = (", ".join(text(m, v) for v in shown) if shown is not None else
                f"{len(row['per_seed'])} values, from {text(m, min(row['per_seed']))} to "
                f"{text(m, max(row['per_seed']))} (median {text(m, statistics.median(row['per_seed']))}); "
                "the figure below shows them all")
        head.append(f"| {m.label} | {m.plain(m.paper)} | {ours} | {each} | {verdict(name, row['key'], recs)} |")
    return "\n".join(head) + "\n\n" + VERDICT_BAND


# how the section's verdicts compare our mean with the paper's number: said where the reader meets them
VERDICT_BAND = ("The verdicts are the front page's scorecard's. An effect is first tested against its null by the "
                "noise rule; its size is then compared with the paper's number, which is one run of the paper's "
                "procedure, by the band a single new run of ours could fall in (our spread over seeds, with both "
                "numbers' sampling errors): wider than the noise line of our mean, so *reproduced* and *matches the "
                "paper* say that the paper's run could have been one of ours, not that the two agree to our mean's "
                "error.")


def missing(name):
    """What the section says when no full record is committed: the command and what it costs."""
    exp = experiments.get(name)
    gpu = ("Its full profile is meant for a GPU, and takes hours to days on a CPU. "
           if exp.needs_gpu else "")
    return (f"No paper-scale record of this experiment is committed yet. {gpu}One command makes one, after `make "
            f"install data` (on a GPU machine, `make TORCH=torch install data`) and, offline, with `LEAKLAB_DATA` set "
            f"as the README's \"Data\" says:\n\n```bash\n.venv/bin/leaklab compute {name} "
            f"--profile full\n```\n\nExpected time: {exp.full_cost}. It writes a record under "
            f"`results/{name}/`; commit it and this section shows it.")


def left_out(name, results_dir=None):
    """A paragraph naming the records made with the full profile but other parameters, which the section and the
    scorecard pool none of, with what each changed ('' when there are none)."""
    lines = [f"- `{r['_path'].rsplit('/', 1)[-1]}`: {experiments.departures_text(changed)}"
             for r, changed in records.off_profile_records(name, results_dir)]
    return ("\n\nLeft out: records made with the full profile but other parameters, whose numbers nothing here "
            "counts:\n\n" + "\n".join(lines)) if lines else ""


def section(name, results_dir=None):
    """Display the section's text (table and provenance, or what is missing, and the records left out); return the
    full records."""
    from IPython.display import Markdown, display

    recs = records.full_records(name, results_dir)
    text = (table(name, recs) + "\n\nMade by:\n\n" + "\n".join(provenance_lines(recs))) if recs else missing(name)
    display(Markdown(text + left_out(name, results_dir)))
    return recs
