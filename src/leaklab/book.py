"""`leaklab book`: execute every notebook of the book, then render it with execution off.

Nothing tracked is touched: the executed notebooks, this build's run records and
the generated scorecard go to a staging copy of the book under `_build/`, and
jupyter-book renders that copy.
"""

import ast
import hashlib
import json
import re
import shutil
import subprocess
import sys
import time

import yaml

from . import data, experiments, records, runner
from .pages import paper_scale

ROOT = experiments.ROOT
BUILD = ROOT / "_build"
STAGE = BUILD / "stage"
HTML = BUILD / "html"
SOURCES = ("_config.yml", "_toc.yml", "book", "_vendor")
# Everything a build reads: when none of it changed since the last build, that build is still this one.
INPUTS = SOURCES + ("notebooks", "src/leaklab", "results", "pyproject.toml")
STAMP = HTML / ".leaklab-inputs.json"


def inputs_digest(profile):
    """A digest of everything a build of `profile` reads: sources, notebooks, library, records, and
    where the data come from."""
    # resolved as the build resolves it (runner.check_data), so that a relative path names the same build
    h = hashlib.sha256(f"{profile}\n{runner.resolved_data_dirs()}\n".encode())
    for item in INPUTS:
        path = ROOT / item
        files = sorted(f for f in path.rglob("*") if f.is_file() and "__pycache__" not in f.parts
                       and ".ipynb_checkpoints" not in f.parts) if path.is_dir() else [path]
        for f in files:
            if f.exists():
                h.update(str(f.relative_to(ROOT)).encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def is_current(profile="quick"):
    """Whether _build/html is a build of `profile` from exactly the present inputs (so tests may reuse it)."""
    try:
        return json.loads(STAMP.read_text())["inputs"] == inputs_digest(profile)
    except (OSError, ValueError, KeyError):
        return False


def toc_files():
    """The files of _toc.yml, in book order, without suffix (e.g. 'notebooks/toy2d')."""
    def walk(node):
        if isinstance(node, dict):
            for key in ("root", "file"):
                if key in node:
                    yield node[key]
            for value in node.values():
                if isinstance(value, (list, dict)):
                    yield from walk(value)
        elif isinstance(node, list):
            for item in node:
                yield from walk(item)

    return list(walk(yaml.safe_load((ROOT / "_toc.yml").read_text())))


def claim_notebooks():
    return [f.split("/", 1)[1] for f in toc_files() if f.startswith("notebooks/")]


def scorecard(build_records, results_dir):
    """The front page's table (MyST markdown), one row per paper number: claim, what (its full description
    in a footnote), paper, ours at paper scale, this build, verdict.

    The paper-scale column pools the committed full records exactly as each page's "At paper scale"
    section does (paper_scale.summary), so the two always agree. The verdict follows the noise rule
    (experiments.verdict): on the paper-scale records when there are any, else on this build."""
    lines = ["| claim | what | paper | ours at paper scale (mean ± sd) | this build | verdict |",
             "|---|---|---|---|---|---|"]
    notes = []
    for name, exp in experiments.EXPERIMENTS.items():
        build = build_records.get(name)
        full = records.full_records(name, results_dir)
        devices = ", ".join(dict.fromkeys(r["device"].split(" (")[0] for r in full))
        # the data copy the numbers were measured on, named in each row's footnote (a piece of a record that holds
        # no seed, such as other datasets' cells, does not count)
        measured = [r for r in full if r["per_seed"]] + ([build] if build else [])
        jpeg = (" Measured on the JPEG-recompressed copy of CIFAR-10, not the official pixels."
                if data.jpeg_copy(s for r in measured for s in r.get("data", {}).get("sources", [])) else "")
        for i, row in enumerate(paper_scale.summary(name, full)):
            key, metric = row["key"], row["metric"]
            note = f"{name}-{key}".replace("_", "-")
            if full:
                judged, basis = full, ""
            else:
                judged, basis = ([build], f" (this {build['profile']} build)") if build else ([], "")
            # the cell gives the verdict's word; its reasons (how many seeds would tell, ...) go to the footnote
            verdict = paper_scale.verdict(name, key, judged)
            word, _, reason = verdict.partition(": ")
            which_way = next((way for start, way in experiments.NOT_REPRODUCED_WAYS.items()
                              if reason.startswith(start)), None)
            cell = f"{word} ({which_way})" if word == "not reproduced" and which_way else word
            notes.append(f"[^{note}]: {metric.label[0].upper()}{metric.label[1:]}."
                         + (f" Verdict: {word}, {reason}." if reason else "") + jpeg)
            value = build["metrics"].get(key) if build else None
            # a quick build's count is of fewer images than the paper's: say of how many
            total = metric.out_of and value is not None and build.get("params", {}).get(metric.out_of)
            here = (f"{paper_scale.text(metric, value)}{f' of {total:,}' if total else ''} ({build['profile']})"
                    if build else "not run")
            ours = (f"{paper_scale.pooled_text(row)} ({paper_scale.seeds_count_text(row)}, {devices})" if full
                    else "none yet")
            claim = f"{{doc}}`{exp.name} <../notebooks/{exp.name}>`" if i == 0 else ""  # once per claim
            lines.append(f"| {claim} | {metric.short or metric.label}[^{note}] "
                         f"| {metric.plain(metric.paper)}{f' ({metric.source})' if metric.source else ''} | {ours} "
                         f"| {here} | {cell}{basis} |")
    table = "\n".join(lines)
    return f":::{{container}} leaklab-scorecard\n{table}\n:::\n\n" + "\n".join(notes) + "\n"


def stage_sources():
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    for item in SOURCES:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, STAGE / item)
        elif src.exists():
            shutil.copy2(src, STAGE / item)
    (STAGE / "notebooks").mkdir()


BRANCH = re.compile(r"\A\s*<!--\s*when\s+(\w+)\s+is\s+(\w+(?:\s+or\s+\w+)*)\s*-->")


def glued_values(nb):
    """{glue name: value} of an executed notebook: the Markdown text of glued words, else the value itself."""
    values = {}
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            if "name" in scrap:
                data, prefix = out.get("data", {}), scrap.get("mime_prefix", "")
                text = data.get(prefix + "text/markdown", data.get("text/markdown"))
                if text is None:
                    try:
                        text = ast.literal_eval("".join(data.get(prefix + "text/plain", "None")))
                    except (ValueError, SyntaxError):
                        text = None
                values[scrap["name"]] = "".join(text) if isinstance(text, list) else text
    return values


def keep_holding_branches(nb, where):
    """The notebook's argument branches where an outcome decides it. A Markdown cell that opens with
    `<!-- when NAME is VALUE -->` (or `VALUE or VALUE`) is what the page says when the verdict the notebook
    glued as NAME is one of those; every other branch is left out of the page (the notebook keeps all, so a
    reader of its source sees what each outcome would say; the comment itself shows in no rendering). A verdict
    no branch names is an error, never a page with the paragraph silently missing."""
    values, named, kept = glued_values(nb), {}, []
    for cell in nb["cells"]:
        match = BRANCH.match("".join(cell["source"])) if cell["cell_type"] == "markdown" else None
        if match:
            name, cases = match.group(1), set(match.group(2).split(" or "))
            if name not in values:
                raise experiments.RunError(f"{where}: a branch reads the verdict {name!r}, which the notebook "
                                           "did not glue")
            named.setdefault(name, set()).update(cases)
            if str(values[name]) not in cases:
                continue
        kept.append(cell)
    nb["cells"] = kept
    for name, cases in named.items():
        if str(values[name]) not in cases:
            raise experiments.RunError(f"{where}: the verdict {name} is {values[name]!r}, and no branch says "
                                       f"what the page should then say (branches: {', '.join(sorted(cases))})")


def prepare_for_rendering(path):
    """Adjust an executed notebook for the static book.

    The ipywidgets state saved by the kernel goes: with it, myst-nb would load
    widget scripts from a CDN, and the live slider needs a kernel anyway (the
    page has a static one). Of the argument's branches, only those that hold stay
    (keep_holding_branches). Papermill's injected-parameters cell is hidden: the
    cell after it prints every resolved parameter. Progress bars keep only what
    a terminal would end up showing: each line's text after its last carriage return,
    once the chunks the kernel sent one after another on the same stream are joined
    (a progress bar's updates arrive as separate outputs).
    """
    nb = json.loads(path.read_text())
    keep_holding_branches(nb, path.name)
    nb.get("metadata", {}).pop("widgets", None)
    for cell in nb["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags:
            tags.append("remove-cell")
        if "outputs" not in cell:
            continue
        outputs = []
        for out in cell["outputs"]:
            last = outputs[-1] if outputs else {}
            if out.get("output_type") == "stream" == last.get("output_type") and out["name"] == last["name"]:
                last["text"] = "".join(last["text"]) + "".join(out["text"])
            else:
                outputs.append(out)
        for out in outputs:
            if out.get("output_type") == "stream":
                out["text"] = terminal_text("".join(out["text"]))
        cell["outputs"] = outputs
    path.write_text(json.dumps(nb, indent=1))


def terminal_text(text):
    """Stream text as a terminal shows it: a carriage return overwrites its line."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def tracked_status():
    """`git status` of the tracked files ('' outside a git checkout)."""
    proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                          text=True)
    return proc.stdout if proc.returncode == 0 else ""


def check_tracked_untouched(before):
    """A build writes only under _build/; a tracked file it changed (a notebook saved with outputs, a record
    rewritten) fails it, so that `make book` catches it before the tests reuse the build."""
    changed = sorted(set(tracked_status().splitlines()) - set(before.splitlines()))
    if changed:
        raise experiments.RunError("the build changed tracked files (or they were edited while it ran): "
                                   + ", ".join(line[3:] for line in changed))


def build(profile="quick", log=print):
    """Execute, record, render. Returns the path of the HTML front page."""
    timings = []
    total = time.perf_counter()
    params = {name: experiments.resolve(name, profile) for name in claim_notebooks()}  # check all first
    runner.check_data(params)
    inputs, tracked_before = inputs_digest(profile), tracked_status()
    STAMP.unlink(missing_ok=True)  # a build cut short must not leave the last one's stamp beside its own records

    t = time.perf_counter()
    stage_sources()
    timings.append(("stage sources", time.perf_counter() - t))

    build_records = {}
    commit = records.git_commit()
    for name, p in params.items():
        log(f"executing notebooks/{name}.ipynb ({profile}) ...")
        executed = STAGE / "notebooks" / f"{name}.ipynb"
        payload, wall = runner.execute(name, p, executed)
        prepare_for_rendering(executed)
        build_records[name] = records.complete(payload, wall, commit)
        records.save(build_records[name], BUILD / "records" / f"{name}.json")
        timings.append((f"execute {name}", wall))

    t = time.perf_counter()
    (STAGE / "book" / "_scorecard.md").write_text(scorecard(build_records, ROOT / "results"))
    timings.append(("scorecard", time.perf_counter() - t))

    t = time.perf_counter()
    log("rendering with jupyter-book (execution off, warnings are errors) ...")
    out = BUILD / "jb"
    jupyter_book = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()"]
    proc = subprocess.run([*jupyter_book, "build", str(STAGE), "--path-output", str(out), "-W", "--keep-going", "-q"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise experiments.RunError("jupyter-book build failed:\n" + proc.stdout[-5000:] + proc.stderr[-5000:])
    if HTML.exists():
        shutil.rmtree(HTML)
    shutil.move(str(out / "_build" / "html"), HTML)
    check_tracked_untouched(tracked_before)
    STAMP.write_text(json.dumps({"profile": profile, "inputs": inputs}))
    timings.append(("jupyter-book build", time.perf_counter() - t))
    timings.append(("total", time.perf_counter() - total))

    log("\nstage                           seconds")
    for stage, seconds in timings:
        log(f"{stage:<30} {seconds:8.1f}")
    return HTML / "index.html"
