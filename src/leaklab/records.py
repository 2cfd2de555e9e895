"""Run records: what a run measured, beside the paper's numbers, with where it came from.

A notebook ends with `publish(...)`, which glues every metric (for the prose, via
myst-nb) and one dict named `leaklab_record`. The runner (`leaklab run`,
`leaklab book`) reads that dict back from the executed notebook, adds what only
it knows (wall time, git commit) and writes the JSON atomically.
"""

import ast
import contextlib
import datetime
import hashlib
import json
import os
import platform
import statistics
import subprocess
import tempfile
from pathlib import Path

from . import experiments

RECORD_GLUE_NAME = "leaklab_record"


def publish(name, params, metrics, device="cpu", data_source="none"):
    """Glue each metric and the record's payload into the running notebook; return the payload."""
    from myst_nb import glue  # only inside a kernel

    exp = experiments.get(name)
    missing = set(exp.metrics) - set(metrics)
    if missing:
        raise ValueError(f"{name} did not measure: {', '.join(sorted(missing))}")
    metrics = {k: float(v) for k, v in metrics.items()}
    for key, value in metrics.items():
        glue(key, value, display=False)
    payload = {
        "experiment": name,
        "profile": vars(params)["profile"],
        "params": dict(vars(params)),
        "metrics": metrics,
        "paper": {k: m.paper for k, m in exp.metrics.items() if m.paper is not None},
        "device": device,
        "data_source": data_source,
    }
    glue(RECORD_GLUE_NAME, payload, display=False)
    return payload


def read_from_notebook(path):
    """The payload that `publish` glued into an executed notebook."""
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") == RECORD_GLUE_NAME:
                # under papermill, glue prefixes its mime types ("application/papermill.record/")
                return ast.literal_eval(out["data"][scrap.get("mime_prefix", "") + "text/plain"])
    raise ValueError(f"{path} has no {RECORD_GLUE_NAME!r}: did the notebook reach its publish() cell?")


def git_commit():
    """The commit of the working tree, marked '-dirty' when tracked files differ from it."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=experiments.ROOT, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "HEAD") or "unknown"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def provenance(wall_time_s, commit):
    import torch

    return {
        "git_commit": commit,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "wall_time_s": round(wall_time_s, 2),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def complete(payload, wall_time_s, commit):
    """The record: the notebook's payload plus provenance (`commit`: git_commit() taken before the run)."""
    return {**payload, "provenance": provenance(wall_time_s, commit)}


def mean_sd(values):
    """Mean and sample standard deviation of per-seed numbers (sd 0 for a single seed)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def seed_metrics(seeds, getters, spread=()):
    """{key: mean over seeds of getters[key](seed)}, plus KEY_sd (sample sd over seeds) for each key in
    `spread`: the record's metrics from per-seed results."""
    metrics = {}
    for key, get in getters.items():
        metrics[key], sd = mean_sd(get(s) for s in seeds)
        if key in spread:
            metrics[key + "_sd"] = sd
    return metrics


def checkpoint_dir(name, params):
    """Where a run of `name` with exactly these parameters keeps its finished pieces, so that a
    killed run started again with the same parameters resumes instead of starting over.

    The key covers the parameters and the library's source, so a change to the code
    never resumes from pieces computed by the old code.
    """
    digest = hashlib.sha256(json.dumps(dict(vars(params)), sort_keys=True).encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    key = digest.hexdigest()[:16]
    return experiments.ROOT / "_build" / "checkpoints" / name / key


@contextlib.contextmanager
def atomic(path):
    """Yield a temporary path beside `path`; when the block succeeds it replaces `path` in one step,
    so a run killed mid-write leaves the old file or none, never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(path, text):
    with atomic(path) as tmp:
        Path(tmp).write_text(text)


def save(record, path):
    write_atomic(path, json.dumps(record, indent=2, sort_keys=True) + "\n")
    return Path(path)


def load_all(directory):
    """Every record (*.json) under a directory, oldest first."""
    return [json.loads(p.read_text()) for p in sorted(Path(directory).glob("*.json"))]
