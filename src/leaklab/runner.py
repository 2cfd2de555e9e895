"""Execute claim notebooks with papermill and turn them into run records."""

import json
import os
import re
import time
from pathlib import Path

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


def check_data(names):
    """Find, verify and parse every dataset the experiments need, before any notebook starts.

    Raises data.DataError with the fix. Relative LEAKLAB_DATA directories are made
    absolute here, because the kernels run in notebooks/, not where the user typed.
    """
    if os.environ.get("LEAKLAB_DATA"):
        os.environ["LEAKLAB_DATA"] = os.pathsep.join(
            str(Path(d).expanduser().resolve()) for d in os.environ["LEAKLAB_DATA"].split(os.pathsep) if d)
    needed = dict.fromkeys(pair for name in names for pair in experiments.get(name).datasets)
    if needed:
        from . import data

        for dataset, split in needed:
            data.load(dataset, split)


def execute(name, params, output_path, log_output=False):
    """Run a notebook with papermill; return its record payload and wall time.

    `params` must already be resolved (experiments.resolve), so nothing slow runs
    before they are checked.
    """
    import papermill

    exp = experiments.get(name)
    output_path = Path(output_path)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    try:
        papermill.execute_notebook(str(exp.notebook), str(output_path), parameters=params,
                                   cwd=str(exp.notebook.parent), progress_bar=False, log_output=log_output,
                                   kernel_name="python3")
    except papermill.PapermillExecutionError:
        raise RunError(f"{name}: {_cell_error(output_path)}\n(executed notebook: {output_path})") from None
    wall = time.perf_counter() - start
    return records.read_from_notebook(output_path), wall


def run(name, profile="quick", overrides=None, results_dir=None, log_output=False):
    """`leaklab run`: check, execute, keep the executed notebook, write the record. Returns its path."""
    params = experiments.resolve(name, profile, overrides)
    check_data([name])
    stamp = time.strftime("%Y%m%d-%H%M%S")
    executed = BUILD / "runs" / f"{name}-{profile}-{stamp}.ipynb"
    commit = records.git_commit()
    payload, wall = execute(name, params, executed, log_output)
    record = records.complete(payload, wall, commit)
    record["executed_notebook"] = str(executed.relative_to(experiments.ROOT))
    out_dir = Path(results_dir) if results_dir else experiments.ROOT / "results" / name
    base = f"{stamp}-{profile}-seed{params.get('seed', 0)}"
    path, n = out_dir / f"{base}.json", 1
    while path.exists():  # two runs finished in the same second: keep both
        path, n = out_dir / f"{base}-{n}.json", n + 1
    path = records.save(record, path)
    return path, record
