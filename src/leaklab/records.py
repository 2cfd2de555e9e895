"""Run records: what a run measured, beside the paper's numbers, with where it came from.

Every experiment module has one `compute(p)` that returns its results as plain data:
the metrics, one row of numbers per seed (`per_seed`), the series its page draws
(`series`: curves, histories, matrices) and, where a figure needs arrays or a
trained model, files to keep beside the record (`files`: {suffix: bytes}). `leaklab
compute` calls it directly; a notebook calls it too and ends with `publish(...)`, which
glues every metric (for the prose, via myst-nb) and the record as JSON, so that
`leaklab run` and `leaklab book` read the same record back from the executed notebook.
Either way the record is completed with what only the caller knows (wall time, git
commit) and written atomically, its files beside it with the same name.
"""

import base64
import datetime
import hashlib
import importlib
import io
import json
import math
import os
import platform
import statistics
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

from . import experiments, stats
from .files import atomic, write_atomic

RECORD_GLUE_NAME = "leaklab_record"
# set in a notebook kernel's environment by runner.execute: the notebook runs as a batch (`leaklab run`, `leaklab
# book`), where no one can move a live widget (pages.widgets)
BATCH_ENV = "LEAKLAB_BATCH"
RESULTS = experiments.ROOT / "results"
_STARTED = {}  # experiment name: when its notebook checked its parameters, the start of the page's run


def plain(value):
    """`value` with every float that is not a number (an sd over one seed) as None, JSON's null:
    an undefined statistic is stored as undefined."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def payload(name, params, out):
    """The record's body from what `name`'s compute() returned (`out`) for `params`."""
    exp = experiments.get(name)
    missing = set(exp.metrics) - set(out["metrics"])
    if missing:
        raise ValueError(f"{name} did not measure: {', '.join(sorted(missing))}")
    params = dict(vars(params)) if not isinstance(params, dict) else dict(params)
    body = {
        "experiment": name,
        "profile": params["profile"],
        "params": params,
        "metrics": {k: float(math.nan if v is None else v) for k, v in out["metrics"].items()},
        "paper": {k: m.paper for k, m in exp.metrics.items() if m.paper is not None},
        "device": out["device"],
        "data": out.get("data", {}),
        "per_seed": out["per_seed"],
        "series": out.get("series", {}),
        "files": sorted(out.get("files", {})),
    }
    if out.get("parts"):  # what a record holds besides its per-seed rows (a piece of a full profile)
        body["parts"] = list(out["parts"])
    body = plain(body)
    body["_files"] = dict(out.get("files", {}))  # bytes, written beside the JSON, never into it
    return body


def publish(name, params, out):
    """In a notebook: glue each metric and the record (as JSON); return the record for the page to draw."""
    from myst_nb import glue  # only inside a kernel

    body = payload(name, params, out)
    for key, value in body["metrics"].items():
        if value is not None:
            glue(key, value, display=False)
    wire = {**{k: v for k, v in body.items() if k != "_files"},
            "_files": {k: base64.b64encode(v).decode() for k, v in body["_files"].items()}}
    glue(RECORD_GLUE_NAME, json.dumps(wire, allow_nan=False), display=False)
    # what made this run, for the page's "This build's run" (the record the runner writes adds the same provenance)
    seconds = time.monotonic() - _STARTED.get(name, time.monotonic())
    glue_words({"made_by": made_by({**body, "provenance": provenance(seconds, git_commit())}),
                "noise_rule": stats.noise_rule()})
    return body


def n_test(record):
    """How many test images each accuracy of a record was measured on (None where it has no test set)."""
    series = record.get("series", {})
    return series.get("n_test", series.get("n_eval"))


def in_batch():
    """Whether this kernel runs a notebook as a batch (BATCH_ENV)."""
    return os.environ.get(BATCH_ENV) == "1"


def glue_words(words):
    """In a notebook: glue the prose's words ({name: number, or text read as Markdown})."""
    from IPython.display import Markdown
    from myst_nb import glue

    for name, value in words.items():
        glue(name, Markdown(value) if isinstance(value, str) else value, display=False)


def notebook_params(name, namespace):
    """Check the parameters a notebook was given (its globals), print them, glue them for the prose and
    return them resolved.

    Papermill injects any `-p NAME VALUE` as a variable, misspelt or not, so every
    public, non-module, non-callable global at this point must be a parameter.
    """
    given = {k: v for k, v in namespace.items()
             if not k.startswith("_") and k not in ("In", "Out", "exit", "quit", "get_ipython")
             and not callable(v) and type(v).__name__ != "module"}
    profile = given.pop("profile", "quick")
    _STARTED[name] = time.monotonic()
    p = SimpleNamespace(**experiments.resolve(name, profile, given))
    experiments.check_page(name, vars(p))
    width = max(map(len, vars(p)))
    for key, value in vars(p).items():
        print(f"{key:>{width}} = {value}")
    glue_words(vars(p))  # the prose quotes this run's parameters, not typed-in defaults
    return p


def read_from_notebook(path):
    """The record that `publish` glued into an executed notebook."""
    import ast

    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        for out in cell.get("outputs", []):
            scrap = out.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") == RECORD_GLUE_NAME:
                # under papermill, glue prefixes its mime types ("application/papermill.record/"); the
                # text is the repr of the JSON string
                body = json.loads(ast.literal_eval(out["data"][scrap.get("mime_prefix", "") + "text/plain"]))
                body["_files"] = {k: base64.b64decode(v) for k, v in body["_files"].items()}
                return body
    raise ValueError(f"{path} has no {RECORD_GLUE_NAME!r}: did the notebook reach its publish() cell?")


def arrays(record):
    """The arrays kept beside a record (its .npz), as {name: numpy array}."""
    import numpy as np

    with np.load(io.BytesIO(file_bytes(record, ".npz")), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def kept_arrays(record):
    """The arrays kept beside a record (`arrays`), or {} for a record without an .npz (made before it kept one)."""
    if ".npz" not in record.get("files", ()) and ".npz" not in record.get("_files", {}):
        return {}
    return arrays(record)


def file_bytes(record, suffix):
    """A file kept beside a record: from memory for this run's record, from disk for a loaded one."""
    if suffix in record.get("_files", {}):
        return record["_files"][suffix]
    if "_path" in record and suffix in record.get("files", ()):
        return Path(record["_path"]).with_suffix(suffix).read_bytes()
    raise FileNotFoundError(f"the {record['experiment']} record has no {suffix} file")


def to_npz(**named_arrays):
    """Arrays as the bytes of a compressed .npz (for `files`)."""
    import numpy as np

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **named_arrays)
    return buffer.getvalue()


def packed_bits(flags):
    """Per-image booleans (a torch or numpy array: right or wrong, image by image) as bytes of 8 images
    each (numpy.packbits), for a record's .npz: 10,000 test images take 1,250 bytes."""
    import numpy as np

    flags = flags.cpu().numpy() if hasattr(flags, "cpu") else np.asarray(flags)
    return np.packbits(flags.astype(bool))


def unpacked_bits(packed, n):
    """The first `n` booleans of `packed_bits`."""
    import numpy as np

    return np.unpackbits(np.asarray(packed, dtype=np.uint8), count=n).astype(bool)


def git_commit(root=None):
    """The commit of the working tree at `root` (the project's), marked '-dirty' when tracked files
    differ from it. A copy of the tree without its .git (a lent GPU machine gets one) names its commit in
    LEAKLAB_COMMIT."""
    def git(*args):
        return subprocess.run(["git", *args], cwd=root or experiments.ROOT, capture_output=True,
                              text=True).stdout.strip()
    commit = git("rev-parse", "HEAD")
    if not commit:
        return os.environ.get("LEAKLAB_COMMIT", "unknown")
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
    """The record: the payload plus provenance (`commit`: git_commit() taken before the run)."""
    return {**payload, "provenance": provenance(wall_time_s, commit)}


def training_seconds(series):
    """The seconds of every training epoch a record's series holds (any per-epoch history: a list of dicts with
    "epoch" and "seconds"; or a seed's whole `train_seconds`), however many sittings they were trained in."""
    if isinstance(series, dict):
        return sum(v if k == "train_seconds" and isinstance(v, (int, float)) else training_seconds(v)
                   for k, v in series.items())
    if isinstance(series, list):
        if series and all(isinstance(h, dict) and "epoch" in h and "seconds" in h for h in series):
            return sum(h["seconds"] for h in series)
        return sum(training_seconds(v) for v in series)
    return 0.0


def time_text(record):
    """The record's wall time; for a run resumed over several sittings (its epochs trained for longer than its
    last process ran), also the training time of all its epochs."""
    from .training import duration  # imports torch, which this module leaves out until it is needed

    wall, trained = record["provenance"]["wall_time_s"], training_seconds(record.get("series", {}))
    if trained > 1.1 * wall:
        return (f"{duration(trained)} of training, partly in earlier runs it resumed from (this one "
                f"{duration(wall)}, evaluation included)")
    return duration(wall)


def made_by(record):
    """What made a record, in one line: profile, seeds, device, commit, torch, data copy, time and date."""
    prov = record["provenance"]
    commit = prov["git_commit"]
    seeds = record["per_seed"]
    held = (f"{len(seeds)} seed(s) ({', '.join(str(row['seed']) for row in seeds[:5])}"
            f"{', …' if len(seeds) > 5 else ''})" if seeds else "none of the headline's seeds")
    held += "".join(f"; {part}" for part in record.get("parts", []))
    return (f"{record['profile']} profile, {held}; {record['device']}; commit `{commit[:10]}`"
            f"{' (dirty tree)' if commit.endswith('-dirty') else ''}; torch {prov['torch']}; "
            f"data: {'; '.join(record['data']['sources'])}; {time_text(record)}; {prov['date'][:10]}")


def mean_sd(values):
    """Mean and sample standard deviation of per-seed numbers; the sd of one seed is undefined (NaN)."""
    values = [float(v) for v in values]
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else math.nan)


def seed_values(recs, key):
    """Every seed's value of `key`, over all the records' per-seed rows that hold it (a run that did not
    train a network stores None for it)."""
    return [row[key] for r in recs for row in r["per_seed"] if row.get(key) is not None]


def mean_sd_text(values, fmt="{:.2%}"):
    """'mean ± sd' of per-seed values as a table shows them; just the value for one seed."""
    mean, sd = mean_sd(values)
    return fmt.format(mean) + (f" ± {fmt.format(sd)}" if len(values) > 1 else " (one seed)")


def summarize_rows(rows, spread=()):
    """{key: mean over the per-seed rows} for every key of the rows but "seed", plus KEY_sd (sample sd
    over seeds) for each key in `spread`. Rows that hold None for a key (a network the run did not
    train) are left out of its mean; a key no row holds is NaN (stored as null)."""
    metrics = {}
    for key in dict.fromkeys(k for row in rows for k in row if k != "seed"):
        values = [row[key] for row in rows if row.get(key) is not None]
        metrics[key], sd = mean_sd(values) if values else (math.nan, math.nan)
        if key in spread:
            metrics[key + "_sd"] = sd
    return metrics


# Parameters that pick which networks a run trains (and under which seeds), not how any one of them is
# trained: the checkpoint files themselves are named by seed and network, so runs that differ only here
# share their finished networks (a later run of the controls resumes the teacher of an earlier one).
SELECTION_PARAMS = ("seed", "n_seeds", "students", "labels")


def checkpoint_root():
    """Where runs keep their finished pieces: $LEAKLAB_CHECKPOINTS, else ~/.cache/leaklab/checkpoints.
    Outside the work tree, so that a fresh clone of the same commit resumes a run another one started."""
    chosen = os.environ.get("LEAKLAB_CHECKPOINTS")
    return Path(chosen).expanduser() if chosen else Path.home() / ".cache" / "leaklab" / "checkpoints"


def checkpoint_dir(name, params, data=(), arithmetic="", picks=()):
    """Where a run of `name` with these parameters, on exactly this data, keeps its finished pieces, so
    that a killed run started again the same way resumes instead of starting over.

    The key covers the parameters (but the SELECTION_PARAMS, and `picks`: an experiment's own parameters that only
    pick which networks a run trains, where each network's file is named by what sets it apart), the data (`data`:
    the digests of the datasets used, see data.Dataset), the library's source and the arithmetic
    (`training.arithmetic`: the device's type, bf16 autocast, which LEAKLAB_BF16 or the CPU's own bf16 units
    switch, torch.compile and the torch release), so a run never resumes from pieces computed from other data, by
    other code or in other arithmetic. (`training.fit` checks each network's own training set against its
    checkpoint as well.)
    """
    given = {k: v for k, v in dict(vars(params)).items() if k not in SELECTION_PARAMS + tuple(picks)}
    digest = hashlib.sha256(json.dumps(given, sort_keys=True).encode())
    digest.update(json.dumps(list(data)).encode())
    for source in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(source.read_bytes())
    digest.update(arithmetic.encode())
    key = digest.hexdigest()[:16]
    return checkpoint_root() / name / key


def describe_data(*datasets):
    """What identifies the data of a run, for its record: each dataset's source and digest."""
    return {"sources": list(dict.fromkeys(ds.source for ds in datasets)),
            "sha256": [ds.digest for ds in datasets]}


def save(record, path):
    """Write the record's files beside it (same name, their suffix), then the JSON, each atomically."""
    path = Path(path)
    for suffix, blob in record.get("_files", {}).items():
        with atomic(path.with_suffix(suffix)) as tmp:
            Path(tmp).write_bytes(blob)
    body = {k: v for k, v in record.items() if not k.startswith("_")}
    write_atomic(path, json.dumps(plain(body), indent=2, sort_keys=True, allow_nan=False) + "\n")
    return path


def load(path):
    record = json.loads(Path(path).read_text())
    record["_path"] = str(path)
    return record


def load_all(directory):
    """Every record (*.json) under a directory, oldest first."""
    return [load(p) for p in sorted(Path(directory).glob("*.json"))]


def is_variant(name, record):
    """Whether a full record was made with another setting than the full profile's (experiments' `setting`). A
    record from before a setting's parameter existed was made with its default, the full profile's value."""
    exp = experiments.get(name)
    full = exp.profiles["full"]
    return any(record["params"].get(key, full[key]) != full[key] for key in exp.setting)


def off_profile(name, record):
    """{parameter: (the record's value, the full profile's)} for each way a full-profile record was made otherwise
    than the paper-scale run (fewer epochs, a narrower net, a longer curve...): experiments.departures, beside the
    parts it may hold alone and its setting (a variant). Empty for a paper-scale record or a variant."""
    exp = experiments.get(name)
    return experiments.departures(name, record["params"], beside=exp.parts + exp.setting)


def full_records(name, results_dir=None, variants=False):
    """The committed full-profile records of `name`, oldest first: the paper-scale ones, made with the full
    profile's setting; with variants=True the others (leak_conditions on CIFAR-10), which no pooled number counts.
    Neither holds a record made otherwise than the full profile (`off_profile_records`)."""
    return [r for r in load_all(Path(results_dir or RESULTS) / name)
            if r.get("profile") == "full" and is_variant(name, r) == variants and not off_profile(name, r)]


def off_profile_records(name, results_dir=None):
    """The full-profile records of `name` made otherwise than the full profile, which no page pools:
    (record, off_profile)."""
    return [(r, changed) for r in load_all(Path(results_dir or RESULTS) / name)
            if r.get("profile") == "full" and (changed := off_profile(name, r))]


def pooled(name, recs):
    """The metrics of several records of `name` taken as one run: their per-seed rows pooled and
    summarized by the experiment's own `summarize`. The scorecard and the pages both use this."""
    rows = [row for r in recs for row in r["per_seed"]]
    if not rows:
        return None
    metrics = importlib.import_module(f"leaklab.{name}").summarize(rows)
    return plain(metrics)
