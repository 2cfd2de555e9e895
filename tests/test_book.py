"""The book builds from the notebooks, shows this build's numbers, and leaves the tree clean."""

import dataclasses
import json
import os
import re
import subprocess
import time

import pytest

from leaklab import experiments, runner

ROOT = experiments.ROOT


def text_of(path):
    """A page's text with tags removed (glued numbers sit in their own <span>)."""
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", path.read_text()))
    return text.replace("\u2019", "'")  # Sphinx's smart quotes


def test_build_leaves_no_tracked_file_modified(tree_status_before_build, built_book):
    """Where this session built the book; a build made before it (`make book` in .ci/run) checked itself
    (book.check_tracked_untouched, below)."""
    from leaklab import book

    assert book.tracked_status() == tree_status_before_build


def test_a_build_that_changes_a_tracked_file_fails(tmp_path, monkeypatch):
    from leaklab import book

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    git("init", "-q")
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b.md").write_text("b")
    git("add", "a.ipynb", "b.md")
    git("commit", "-q", "-m", "x")
    monkeypatch.setattr(book, "ROOT", tmp_path)
    (tmp_path / "b.md").write_text("edited before the build")  # already changed: not the build's doing
    before = book.tracked_status()
    (tmp_path / "_build").mkdir()
    (tmp_path / "_build" / "out.html").write_text("untracked output")
    book.check_tracked_untouched(before)
    (tmp_path / "a.ipynb").write_text('{"outputs": 1}')
    with pytest.raises(experiments.RunError, match=r"changed tracked files.*: a\.ipynb$"):
        book.check_tracked_untouched(before)


def scorecard_rows(page):
    """The scorecard's rows as {column header: cell text}, footnote markers dropped."""
    table = next(t for t in re.findall(r"<table.*?</table>", page, flags=re.S) if "this build" in t)
    def cell(html):
        text = re.sub(r"<[^>]+>", " ", re.sub(r'<a class="footnote-reference.*?</a>', "", html))
        return re.sub(r"\s+", " ", text).strip().replace("\u2019", "'")

    heads = [cell(h) for h in re.findall(r"<th.*?</th>", table, flags=re.S)]
    return [dict(zip(heads, (cell(c) for c in re.findall(r"<td.*?</td>", row, flags=re.S))))
            for row in re.findall(r"<tr.*?</tr>", table, flags=re.S) if "<td" in row]


def test_front_page_has_the_scorecard_from_this_builds_record(built_book):
    from leaklab import records

    record = json.loads((ROOT / "_build" / "records" / "toy2d.json").read_text())
    page = (built_book / "book" / "intro.html").read_text()  # index.html redirects here
    assert "Reproduction scorecard" in page
    rows = scorecard_rows(page)
    row = next(r for r in rows if r["claim"] == "toy2d")
    metric = experiments.EXPERIMENTS["toy2d"].metrics["student_correct_mean"]
    assert row["paper"] == "23" and row["what"] == metric.short
    assert row["this build"] == f"{metric.fmt.format(record['metrics']['student_correct_mean'])} (quick)"
    full = records.full_records("toy2d")
    ours = row["ours at paper scale (mean ± sd)"]
    if full:
        from leaklab.pages import paper_scale

        head = paper_scale.summary("toy2d", full)[0]  # the seeds, and how many of them scored (fitted nets)
        assert head["n_seeds"] == sum(len(r["per_seed"]) for r in full)
        assert f"({paper_scale.seeds_count_text(head)}, cpu)" in ours
        rows_full = [r for rec in full for r in rec["per_seed"] if r["fits"]]
        est = experiments.estimate("toy2d", "student_correct_mean", rows_full)
    else:
        assert ours == "none yet"
        est = experiments.estimate("toy2d", "student_correct_mean", [r for r in record["per_seed"] if r["fits"]])
    assert row["verdict"].startswith(experiments.verdict("toy2d", "student_correct_mean", est))
    # the full description of every row sits in a footnote under the table
    assert metric.label[1:] in text_of(built_book / "book" / "intro.html")
    # setup numbers are never called an effect
    for r in rows:
        if r["what"] in {m.short for e in experiments.EXPERIMENTS.values() for m in e.metrics.values() if m.setup}:
            assert r["verdict"].split(" (")[0] in ("matches the paper", "differs from the paper", "not run"), r


def test_toy2d_page_shows_glued_numbers_and_the_static_slider(built_book):
    record = json.loads((ROOT / "_build" / "records" / "toy2d.json").read_text())
    html = (built_book / "notebooks" / "toy2d.html").read_text()
    page = text_of(built_book / "notebooks" / "toy2d.html")
    m = record["metrics"]
    assert f"{m['student_correct_mean']:.1f}/32" in page
    assert f"{m['control_correct_mean']:.1f}/32" in page
    assert f"{m['original_fit_rate']:.1%}" in page
    assert html.count('class="leaklab-frame-slider"') == 1
    assert "injected-parameters" not in html  # the check cell prints the parameters instead
    assert "application/vnd.jupyter.widget-state+json" not in html  # no widget scripts from a CDN
    assert record["provenance"]["wall_time_s"] > 0


@pytest.mark.parametrize("name, expected", [
    ("mnist_from_fashion", ["teacher_acc", "student_acc", "student_mnistnorm_acc", "control_acc", "agreement"]),
    ("gradient_leak", ["leak_true_acc", "raw_pixels_acc", "leak_random_acc", "follows_true_logit",
                       "class_template"]),
])
def test_mnist_pages_show_this_builds_numbers_and_figures(built_book, name, expected):
    """Each page's numbers, figures and its one static slider ("Move it yourself")."""
    record = json.loads((ROOT / "_build" / "records" / f"{name}.json").read_text())
    html = (built_book / "notebooks" / f"{name}.html").read_text()
    page = text_of(built_book / "notebooks" / f"{name}.html")
    metrics = experiments.EXPERIMENTS[name].metrics
    for key in expected:  # the prose rounds percentages to one or two decimals
        value = record["metrics"][key]
        shown = {f"{value:.2%}", f"{value:.1%}"} if "%" in metrics[key].fmt else {metrics[key].fmt.format(value)}
        assert any(s in page for s in shown), f"{key} = {shown} is not on the {name} page"
    assert "{glue" not in page and "glue:text" not in page  # every glue reference resolved
    assert html.count("<img") >= 2  # the figures
    assert html.count('class="leaklab-frame-slider"') == 1
    assert record["profile"] == "quick" and record["data"]["sources"][0].startswith("MNIST train")


def toy2d_with_cell(tmp_path, monkeypatch, source):
    """Make the toy2d experiment run a copy of its notebook with one more code cell, right after its parameters
    are checked (before any work)."""
    nb = json.loads((ROOT / "notebooks" / "toy2d.ipynb").read_text())
    at = next(i for i, c in enumerate(nb["cells"]) if "notebook_params" in "".join(c["source"]))
    nb["cells"].insert(at + 1, {"cell_type": "code", "id": "added", "metadata": {}, "outputs": [],
                                "execution_count": None, "source": source})
    changed = tmp_path / "toy2d.ipynb"
    changed.write_text(json.dumps(nb))
    exp = dataclasses.replace(experiments.EXPERIMENTS["toy2d"])
    object.__setattr__(exp, "notebook", changed)
    monkeypatch.setitem(experiments.EXPERIMENTS, "toy2d", exp)


def test_a_failing_cell_stops_the_run_and_shows_its_error(tmp_path, monkeypatch):
    toy2d_with_cell(tmp_path, monkeypatch, "raise RuntimeError('boom: a deliberately failing cell')")
    with pytest.raises(experiments.RunError) as err:
        runner.execute("toy2d", experiments.resolve("toy2d"), tmp_path / "out.ipynb")
    assert "boom: a deliberately failing cell" in str(err.value)
    assert "raise RuntimeError" in str(err.value)  # the failing cell's source


def test_the_kernel_of_a_batch_run_knows_it_and_this_process_forgets_it(tmp_path, monkeypatch):
    """The notebook's kernel sees the batch flag, so its live sliders are not made (pages.widgets); the flag
    leaves this process's environment afterwards, so a JupyterLab started later (tests/test_browser.py) makes them."""
    from leaklab import records

    toy2d_with_cell(tmp_path, monkeypatch, "from leaklab import records\n"
                    "raise RuntimeError(f'batch: {records.in_batch()}')  # stops the run here")
    with pytest.raises(experiments.RunError, match="batch: True"):
        runner.execute("toy2d", experiments.resolve("toy2d"), tmp_path / "out.ipynb")
    assert records.BATCH_ENV not in os.environ


def test_a_page_cell_that_hangs_is_stopped_with_one_message(tmp_path, monkeypatch):
    toy2d_with_cell(tmp_path, monkeypatch, "import time\ntime.sleep(600)  # a hang")
    monkeypatch.setattr(runner, "PAGE_CELL_MINUTES", 0.1)
    start = time.monotonic()
    with pytest.raises(experiments.RunError) as err:
        runner.execute("toy2d", experiments.resolve("toy2d"), tmp_path / "out.ipynb")
    assert time.monotonic() - start < 60
    assert "ran past its 0.1 minutes" in str(err.value) and "time.sleep(600)" in str(err.value)


def test_scorecard_pools_the_seeds_of_the_full_records_only(tmp_path):
    from leaklab import book, records
    from leaklab.pages import paper_scale

    def record(profile, scores, **changed):
        rows = [{"seed": i, "n_points": 32, "fits": True, "student_correct": v, "control_correct": 16,
                 "flipped": 20} for i, v in enumerate(scores)]
        return {"experiment": "toy2d", "profile": profile, "per_seed": rows, "device": "cpu (2 threads)",
                "params": experiments.resolve("toy2d", profile, changed),
                "metrics": {"student_correct_mean": sum(scores) / len(scores)}}

    made = [("full", [20, 22], {}), ("full", [24, 22], {"seed": 5, "sweep_seeds": 3}), ("quick", [5], {}),
            ("full", [1, 1], {"steps": 10})]  # a full-profile record below its scale: listed, never pooled
    for i, (profile, scores, changed) in enumerate(made):
        records.save(record(profile, scores, **changed), tmp_path / "toy2d" / f"{i}.json")
    table = book.scorecard({"toy2d": record("quick", [21])}, tmp_path)
    row = next(line for line in table.splitlines() if "toy2d <" in line)
    cells = [c.strip() for c in row.split("|")[1:-1]]
    assert cells[2] == "23" and cells[4] == "21.0 (quick)"
    # the four full seeds pooled (20, 22, 24, 22): mean 22.0, sample sd 1.6; the quick record left out
    assert cells[3] == "22.0 ± 1.6 (4 seeds, cpu)"
    assert cells[5] == "reproduced"
    assert paper_scale.left_out("toy2d", tmp_path).endswith("- `3.json`: steps 10 (full: 1500)")
    assert paper_scale.left_out("toy2d", tmp_path / "nothing") == ""
    empty = book.scorecard({}, tmp_path / "nothing")
    assert "| 23 | none yet | not run | not run |" in empty
    # numbers measured on the JPEG copy of CIFAR-10 say so in their row's footnote; others do not
    jpeg = {"data": {"sources": ["CIFAR-10 (JPEG-recompressed copy) test, not the official pixels"]}}
    card = book.scorecard({"fgsm_leak": {**record("quick", [21]), **jpeg}}, tmp_path / "nothing")
    (note,) = [line for line in card.splitlines() if line.startswith("[^fgsm-leak-leak-gap]:")]
    assert note.endswith("Measured on the JPEG-recompressed copy of CIFAR-10, not the official pixels.")
    assert "JPEG" not in next(line for line in card.splitlines() if line.startswith("[^toy2d-"))


def test_every_claim_page_shows_its_paper_scale_records_or_says_there_are_none(built_book):
    from leaklab import records, stats
    from leaklab.pages import paper_scale

    front = text_of(built_book / "book" / "intro.html")
    for name in experiments.EXPERIMENTS:
        page = text_of(built_book / "notebooks" / f"{name}.html")
        assert "At paper scale" in page and ("This build’s run" in page or "This build's run" in page)
        full = records.full_records(name)
        if not full:
            assert "No paper-scale record of this experiment is committed yet" in page
            assert f"leaklab compute {name} --profile full" in page
            if "device" in experiments.get(name).params:  # the CIFAR chapters: say plainly what it takes
                assert "meant for a GPU, and takes hours to days on a CPU" in page
            continue
        head = paper_scale.summary(name, full)[0]
        assert f"{paper_scale.pooled_text(head)} ({stats.seeds_text(head['n_seeds'])}" in page
        assert head["metric"].plain(head["paper"]) in page
        for r in full:  # which commit and device made each record
            assert r["provenance"]["git_commit"][:10] in page and r["device"] in page
        assert paper_scale.pooled_text(head) in front  # the scorecard shows the same pooled number


@pytest.mark.parametrize("name, expected, sliders", [
    ("cifar_mislabeled", ["teacher_train_acc", "teacher_test_acc", "student_acc", "random_wrong_acc",
                          "true_labels_acc", "student_agreement"], 1),
    ("fgsm_leak", ["clean_acc", "fgsm_acc", "leak_gap", "leak_gap_predicted", "leak_gap_least_likely",
                   "leak_gap_random", "loss_eps0", "loss_rise", "loss_drop"], 1),
])
def test_cifar_pages_show_this_builds_numbers_figures_and_scale(built_book, name, expected, sliders):
    record = json.loads((ROOT / "_build" / "records" / f"{name}.json").read_text())
    html = (built_book / "notebooks" / f"{name}.html").read_text()
    page = text_of(built_book / "notebooks" / f"{name}.html")
    metrics = experiments.EXPERIMENTS[name].metrics
    for key in expected:
        value = record["metrics"][key]
        if value is None:  # undefined in this run: a loss curve with no interior peak has no rise, and says so
            assert key == "loss_rise" and "no peak inside it" in page
            continue
        fmt = metrics[key].fmt
        shown = ({f"{value:.2%}", f"{value:.1%}", f"{value:+.2%}", f"{100 * value:+.2f}"} if "%" in fmt
                 else {fmt.format(value), f"{value:.3f}", f"{value:+.3f}"})
        assert any(s in page for s in shown), f"{key} = {shown} is not on the {name} page"
    assert "{glue" not in page and "glue:text" not in page
    assert html.count("<img") >= 2
    assert html.count('class="leaklab-frame-slider"') == sliders
    # the quick profile is scaled down and the page says how; the data is labelled as the JPEG copy
    assert "differs from the paper-scale (full) profile in" in page and "(full: " in page
    assert "JPEG-recompressed copy" in page and "JPEG-recompressed copy" in record["data"]["sources"][0]
    assert "application/vnd.jupyter.widget-state+json" not in html


def test_progress_bars_render_as_their_last_state():
    from leaklab import book

    text = "epoch 1:  10%|#\repoch 1: 100%|##########| 10/10 [loss=1.9]\n\repoch 2:  50%\repoch 2: 100% done\nend"
    assert book.terminal_text(text) == "epoch 1: 100%|##########| 10/10 [loss=1.9]\nepoch 2: 100% done\nend"


def test_progress_bar_updates_sent_as_separate_outputs_render_as_one_final_line(tmp_path):
    from leaklab import book

    def stream(name, text):
        return {"output_type": "stream", "name": name, "text": text}

    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": "", "outputs": [
        stream("stdout", "seed 0\n"), stream("stderr", "\rtrain 1/2:   0%|"), stream("stderr", "\rtrain 1/2:  80%|"),
        stream("stderr", "\rtrain 1/2: 100%| done\n"), stream("stdout", "seed 1\n")]}], "metadata": {}}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    book.prepare_for_rendering(path)
    outputs = json.loads(path.read_text())["cells"][0]["outputs"]
    assert [(o["name"], o["text"]) for o in outputs] == [
        ("stdout", "seed 0\n"), ("stderr", "train 1/2: 100%| done\n"), ("stdout", "seed 1\n")]


def branch_notebook(case):
    """An executed notebook as papermill leaves it: a glued verdict (Markdown, under papermill's mime prefix),
    a paragraph for each outcome, and one paragraph that always shows."""
    glued = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "case", "mime_prefix": "p/"}},
             "data": {"p/text/markdown": case, "p/text/plain": "<IPython.core.display.Markdown object>"}}
    markdown = lambda text: {"cell_type": "markdown", "metadata": {}, "source": text}  # noqa: E731
    return {"metadata": {}, "cells": [
        {"cell_type": "code", "metadata": {}, "source": "glue", "outputs": [glued]},
        markdown("<!-- when case is leaks -->\nIt leaks."), markdown("<!-- when case is flat or unsettled -->\nNo."),
        markdown("Always.")]}


@pytest.mark.parametrize("case, page", [("leaks", ["It leaks."]), ("flat", ["No."]), ("unsettled", ["No."])])
def test_a_page_shows_the_branch_of_the_argument_that_holds(case, page):
    from leaklab import book

    nb = branch_notebook(case)
    book.keep_holding_branches(nb, "nb.ipynb")
    assert [c["source"].split("\n")[-1] for c in nb["cells"][1:]] == page + ["Always."]


def test_a_verdict_no_branch_names_or_a_branch_on_no_verdict_stops_the_build():
    from leaklab import book

    with pytest.raises(experiments.RunError, match="no branch says"):
        book.keep_holding_branches(branch_notebook("opposite"), "nb.ipynb")
    nb = branch_notebook("leaks")
    nb["cells"][1]["source"] = "<!-- when kase is leaks -->\nIt leaks."
    with pytest.raises(experiments.RunError, match="did not glue"):
        book.keep_holding_branches(nb, "nb.ipynb")


# every outcome the words functions can glue (pages.leak_conditions.words, pages.fgsm_leak.words,
# pages.mnist_from_fashion.words, pages.cifar_mislabeled.words)
BRANCH_CASES = {
    "leak_conditions": {"conjecture_case": {"label_read", "control_too", "unsettled"},
                        "paper_conjecture_case": {"label_read", "control_too", "unsettled", "no_record"},
                        "map_case": {"answered", "too_few", "no_map"},
                        "cells_grows_case": {"harder_leaks_more", "easier_leaks_more", "unclear", "not_answered"},
                        "cells_steps_case": {"every_step", "reversed", "partly", "not_answered"},
                        "cells_mnist_case": {"beyond_control", "leaks_control_too", "no_leak", "never_learned",
                                             "not_run"},
                        "least_likely_case": {"leaks", "no_leak", "attack_wins", "not_run", "true_quiet"},
                        "cifar_least_likely_case": {"leaks", "no_leak", "attack_wins", "not_run", "true_quiet"}},
    "fgsm_leak": {"scale_case": {"why_no_leak", "means"}, "open_question_case": {"answerable", "unanswerable"},
                  "full_case": {"none", "leaks", "within_noise", "attack_wins"},
                  "full_as_trained_case": {"none", "leaks", "within_noise", "attack_wins"}},
    "mnist_from_fashion": {"direction_case": {"carries_over", "reversed", "unclear"},
                           "gain_versus_paper_case": {"one_seed", "consistent", "smaller", "larger"}},
    "gradient_leak": {"versus_paper_case": {"higher", "lower", "consistent"}},
    "cifar_mislabeled": {"random_control_case": {"below_chance", "at_chance", "above_chance", "not_trained"}},
}


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_each_notebook_says_what_every_outcome_of_its_argument_means(name):
    from leaklab import book

    cells = json.loads(experiments.get(name).notebook.read_text())["cells"]
    cases = {}
    for cell in cells:
        match = book.BRANCH.match("".join(cell["source"])) if cell["cell_type"] == "markdown" else None
        if match:
            cases.setdefault(match.group(1), set()).update(re.split(r"\s+or\s+", match.group(2)))
    assert cases == BRANCH_CASES.get(name, {})


BIB_KEYS = ("wallace2019", "labelleak2017", "ilyas2019", "kurakin2017", "hinton2015", "he2016", "madry2018",
            "goodfellow2015", "lecun1998", "xiao2017", "krizhevsky2009", "kingma2015", "tramer2018")


def test_bibliography_has_every_cited_key_with_a_title_and_the_book_reads_it():
    """No build needed: the .bib parses, holds every key the pages may cite (with a title, an author and a
    year), _config.yml names it, and every {cite}`key` in the book's pages and notebooks is one of its keys."""
    import pybtex.database  # installed with sphinxcontrib-bibtex
    import yaml

    bib = pybtex.database.parse_file(str(ROOT / "book" / "references.bib"), bib_format="bibtex")
    for key in BIB_KEYS:
        assert key in bib.entries, f"book/references.bib has no entry {key}"
        entry = bib.entries[key]
        assert entry.fields.get("title", "").strip(), f"{key} has no title"
        assert entry.persons.get("author") and entry.fields.get("year", "").isdigit(), f"{key}: author or year"
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert "book/references.bib" in config["bibtex_bibfiles"]
    assert "book/references" in (ROOT / "_toc.yml").read_text()
    assert "{bibliography}" in (ROOT / "book" / "references.md").read_text()
    pages = [*(ROOT / "book").glob("*.md"), *(ROOT / "notebooks").glob("*.ipynb")]
    for page in pages:
        for keys in re.findall(r"\{cite(?::\w+)?\}`([^`]*)`", page.read_text()):
            for key in keys.split(","):
                assert key.strip() in bib.entries, f"{page.name} cites {key.strip()}, which is not in the .bib"


def test_no_page_shows_a_python_object_where_a_glued_phrase_belongs(built_book):
    # {glue:text} on a phrase glued as Markdown prints the object's repr ("<IPython.core.display.Markdown object>")
    for page in sorted((built_book / "notebooks").glob("*.html")):
        assert "IPython.core.display" not in page.read_text(), page.name
