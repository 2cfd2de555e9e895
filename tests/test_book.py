"""The book builds from the notebooks, shows this build's numbers, and leaves the tree clean."""

import dataclasses
import json
import re
import subprocess

import pytest

from leaklab import experiments, runner

ROOT = experiments.ROOT


def text_of(path):
    """A page's text with tags removed (glued numbers sit in their own <span>)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", path.read_text()))


def test_build_leaves_no_tracked_file_modified(tree_status_before_build, built_book):
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                            capture_output=True, text=True).stdout
    assert status == tree_status_before_build


def test_front_page_has_the_scorecard_from_this_builds_record(built_book):
    record = json.loads((ROOT / "_build" / "records" / "toy2d.json").read_text())
    page = (built_book / "book" / "intro.html").read_text()  # index.html redirects here
    assert "Reproduction scorecard" in page
    row = page[page.index("toy2d</span>"):]
    row = re.sub(r"<[^>]+>", "", row[:row.index("</tr>")])
    ours = experiments.EXPERIMENTS["toy2d"].metrics["student_correct_mean"].fmt.format(
        record["metrics"]["student_correct_mean"])
    assert f"{ours} (quick)" in row
    assert "23.0" in row  # the paper's number
    assert experiments.verdict("toy2d", record["metrics"]["student_correct_mean"]) in row


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


def test_a_failing_cell_stops_the_run_and_shows_its_error(tmp_path, monkeypatch):
    nb = json.loads((ROOT / "notebooks" / "toy2d.ipynb").read_text())
    at = next(i for i, c in enumerate(nb["cells"]) if "notebook_params" in "".join(c["source"]))
    nb["cells"].insert(at + 1, {"cell_type": "code", "id": "boom", "metadata": {}, "outputs": [],
                                "execution_count": None,
                                "source": "raise RuntimeError('boom: a deliberately failing cell')"})
    broken = tmp_path / "toy2d.ipynb"
    broken.write_text(json.dumps(nb))
    exp = dataclasses.replace(experiments.EXPERIMENTS["toy2d"])
    object.__setattr__(exp, "notebook", broken)
    monkeypatch.setitem(experiments.EXPERIMENTS, "toy2d", exp)
    with pytest.raises(experiments.RunError) as err:
        runner.execute("toy2d", experiments.resolve("toy2d"), tmp_path / "out.ipynb")
    assert "boom: a deliberately failing cell" in str(err.value)
    assert "raise RuntimeError" in str(err.value)  # the failing cell's source
