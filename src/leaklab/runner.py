"""Run one experiment and write its record: `compute` calls the library directly (no Jupyter needed,
so it runs on a bare GPU machine); `run` executes the claim notebook with papermill, which calls the
same library function and glues the same record."""

import importlib
import json
import os
import re
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

from . import experiments, records
from .experiments import RunError

BUILD = experiments.ROOT / "_build"


def _cell_error(executed_path):
    """The traceback of the first failing cell of an executed notebook, without colour codes."""
    nb = json.loads(Path(executed_path).read_text())
    for i, cell in enumerate(nb["cells"]):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                tb = "\n".join(out.get("traceback", [])) or f"{out['ename']}: {out['evalue']}"
                src = "".join(cell.get("source", ""))
                return (f"cell {i} failed:\n{src}\n---\n" + re.sub(r"\x1b\[[0-9;]*m", "", tb))
    return "the notebook failed outside any cell"


def resolved_data_dirs():
    """LEAKLAB_DATA with each directory made absolute, as the build hands it to the kernels."""
    return os.pathsep.join(str(Path(d).expanduser().resolve())
                           for d in os.environ.get("LEAKLAB_DATA", "").split(os.pathsep) if d)


def check_data(runs):
    """Find, verify and parse every dataset the runs need ({experiment: its resolved parameters}), before any
    notebook starts.

    Raises data.DataError with the fix. Relative LEAKLAB_DATA directories are made
    absolute here, because the kernels run in notebooks/, not where the user typed.
    """
    if os.environ.get("LEAKLAB_DATA"):
        os.environ["LEAKLAB_DATA"] = resolved_data_dirs()
    needed = dict.fromkeys(pair for name, params in runs.items() for pair in experiments.data_needed(name, params))
    if needed:
        from . import data

        for dataset, split in needed:
            data.load(dataset, split)


def check_writable(directory, what):
    """Make `directory` and write a file in it, or stop with one line that names it: before any work, so
    that nothing a run computes is lost to a place it cannot write."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".leaklab-write-check-"):
            pass
    except OSError as err:
        raise experiments.ParameterError(f"cannot write {what} to {directory}: {err.strerror or err}") from None


def check_device(params):
    """A device the parameters name must exist here (checked before any data is read)."""
    if params.get("device") == "cuda":
        from . import training

        training.resolve_device("cuda")


def preflight(name, params, results_dir, *more_dirs):
    """Everything that can be checked before the work starts: the device, every directory the run writes
    (records, checkpoints, anything else named) and the data."""
    check_device(params)
    check_writable(Path(results_dir) if results_dir else records.RESULTS / name, "the record")
    check_writable(records.checkpoint_root(), "checkpoints (set LEAKLAB_CHECKPOINTS to move them)")
    for directory in more_dirs:
        check_writable(directory, "the executed notebook")
    check_data({name: params})


# A page cell draws from records in seconds or minutes. Only the cell that calls the experiment's compute may run
# for hours. A cell with a widget can hang for good under nbclient (jupyter/nbclient#312, seen here twice while
# another kernel ran): the limit turns such a hang into one message instead of a build that never ends.
PAGE_CELL_MINUTES = 20


def cell_timeout(cell):
    """Seconds a cell may run: none for the compute cell, PAGE_CELL_MINUTES for every other."""
    return None if ".compute(" in cell.source else PAGE_CELL_MINUTES * 60


def execute(name, params, output_path, log_output=False):
    """Run a notebook with papermill; return the record it published and the wall time.

    `params` must already be resolved (experiments.resolve), so nothing slow runs
    before they are checked.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError

    exp = experiments.get(name)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    os.environ[records.BATCH_ENV] = "1"  # for the kernel papermill starts, which inherits the environment
    try:
        papermill.execute_notebook(str(exp.notebook), str(output_path), parameters=params,
                                   cwd=str(exp.notebook.parent), progress_bar=False, log_output=log_output,
                                   kernel_name="python3", timeout_func=cell_timeout)
    except papermill.PapermillExecutionError:
        raise RunError(f"{name}: {_cell_error(output_path)}\n(executed notebook: {output_path})") from None
    except CellTimeoutError as err:
        raise RunError(f"{name}: a cell ran past its {PAGE_CELL_MINUTES} minutes and was stopped ({err}). Only "
                       f"the compute cell may run longer; a cell that hangs with a widget is jupyter/nbclient#312: "
                       f"run it again.\n(executed notebook: {output_path})") from None
    finally:
        os.environ.pop(records.BATCH_ENV)  # this process's later kernels (a JupyterLab a test starts) are not batch
    wall = time.perf_counter() - start
    return records.read_from_notebook(output_path), wall


def compute_payload(name, params, log=print):
    """Call `name`'s library function with resolved `params`; return its record payload and wall time."""
    module = importlib.import_module(f"leaklab.{name}")
    start = time.perf_counter()
    out = module.compute(SimpleNamespace(**params), log=log)
    return records.payload(name, params, out), time.perf_counter() - start


def _write(name, profile, params, payload, wall, commit, stamp, results_dir):
    record = records.complete(payload, wall, commit)
    out_dir = Path(results_dir) if results_dir else records.RESULTS / name
    base = f"{stamp}-{profile}-seed{params.get('seed', 0)}"
    path, n = out_dir / f"{base}.json", 1
    while path.exists():  # two runs finished in the same second: keep both
        path, n = out_dir / f"{base}-{n}.json", n + 1
    return records.save(record, path), record


def run(name, profile="quick", overrides=None, results_dir=None, log_output=False):
    """`leaklab run`: check, execute the notebook (kept under _build/runs/), write the record.
    Returns (record path, record, executed notebook)."""
    params = experiments.resolve(name, profile, overrides)
    experiments.check_page(name, params)
    preflight(name, params, results_dir, BUILD / "runs")
    if note := off_profile_note(name, params):
        print(note)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    executed = BUILD / "runs" / f"{name}-{profile}-{stamp}.ipynb"
    commit = records.git_commit()
    payload, wall = execute(name, params, executed, log_output)
    path, record = _write(name, profile, params, payload, wall, commit, stamp, results_dir)
    return path, record, executed


def off_profile_note(name, params):
    """For a full-profile run with other parameters than the full profile's (fewer epochs, a narrower net...), the
    line that says so before it starts, and what becomes of its record: listed on the page but pooled nowhere, or,
    for another setting, a variant (`experiments.Experiment.setting`)."""
    exp = experiments.get(name)
    changed = experiments.departures(name, params, beside=exp.parts) if params["profile"] == "full" else {}
    if not changed:
        return None
    fate = ("its record is a variant, another setting: no paper-scale number pools it, and a page shows it only "
            "where it asks for one" if set(changed) <= set(exp.setting) else
            "the page will list its record but pool none of its numbers")
    return f"note: this run departs from the full profile in {experiments.departures_text(changed)}, so it is not " \
           f"paper scale: {fate}"


def compute(name, profile="quick", overrides=None, results_dir=None, log=print):
    """`leaklab compute`: check, call the experiment's library function (no notebook), write the same
    record `run` writes. Returns (record path, record)."""
    params = experiments.resolve(name, profile, overrides)
    preflight(name, params, results_dir)
    if log and (note := off_profile_note(name, params)):
        log(note)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    commit = records.git_commit()
    payload, wall = compute_payload(name, params, log)
    return _write(name, profile, params, payload, wall, commit, stamp, results_dir)
