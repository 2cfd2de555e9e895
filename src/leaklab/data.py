"""MNIST, Fashion-MNIST and CIFAR-10, read from the official files, verified and cached.

Files are looked up, in this order, in the directories of ``$LEAKLAB_DATA`` (separated
by ``os.pathsep``, torchvision layout, never written to), in ``$LEAKLAB_CACHE/data``
(default ``~/.cache/leaklab``), and otherwise downloaded into that cache from the
official addresses, or from ``$LEAKLAB_DATA_URL`` (base URL(s) serving the same layout).
Parsed arrays are kept in memory and in ``$LEAKLAB_CACHE/parsed/*.npy``.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import secrets
import struct
import tarfile
import urllib.request
import warnings
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["CLASSES", "DataError", "Dataset", "download", "load"]

CLASSES: dict[str, list[str]] = {
    "mnist": [str(d) for d in range(10)],
    "fashion_mnist": ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                      "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"],
    "cifar10": ["airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"],
}
SPLITS = ("train", "test")


class DataError(Exception):
    """Any problem with the data: missing, truncated, corrupt, wrong checksum, failed download."""


# MNIST, Fashion-MNIST and CIFAR-10 alike: a result scored on this many test images used the whole test set,
# so only more seeds, not more images, can shrink its error (stats.Estimate.words)
TEST_SET_SIZE = 10000


class Dataset(NamedTuple):
    images: torch.Tensor  # uint8 [N, C, H, W]: [N, 1, 28, 28] (MNIST-likes) or [N, 3, 32, 32] (CIFAR-10)
    labels: torch.Tensor  # int64, [N]
    source: str           # where the data came from and how it was checked, for run records
    digest: str = ""      # SHA-256 over the files read: what a checkpoint key and a record identify the data by


# dataset -> (folder, title, mirrors, {file: (bytes, md5, sha256)}); published checksums
_IDX = {
    "mnist": ("MNIST", "MNIST", [
        "https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"], {
        "train-images-idx3-ubyte.gz": (9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                                       "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train-labels-idx1-ubyte.gz": (28881, "d53e105ee54ea40749a09fcbcd1e9432",
                                       "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "t10k-images-idx3-ubyte.gz": (1648877, "9fb629c4189551a2d022fa330f9573f3",
                                      "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "t10k-labels-idx1-ubyte.gz": (4542, "ec29112dd5afa0611ce80d1b7f02629c",
                                      "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6")}),
    "fashion_mnist": ("FashionMNIST", "Fashion-MNIST", [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"], {
        "train-images-idx3-ubyte.gz": (26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                                       "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train-labels-idx1-ubyte.gz": (29515, "25c81989df183df01b3e8a0aad5dffbe",
                                       "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "t10k-images-idx3-ubyte.gz": (4422102, "bef4ecab320f06d8554ea6380940ec79",
                                      "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "t10k-labels-idx1-ubyte.gz": (5148, "bb300cfdad3c16e7a12a480ee83cd310",
                                      "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5")}),
}
_CIFAR_TAR = "cifar-10-binary.tar.gz"
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
_CIFAR_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"
_CIFAR_DIR = "cifar-10-batches-bin"
_CIFAR_FILES = {"train": [f"data_batch_{k}.bin" for k in range(1, 6)], "test": ["test_batch.bin"]}
_RECORD = 1 + 3 * 32 * 32
_CIFAR_FILE_BYTES = 10000 * _RECORD
# Files written by ../shared/data/build_cifar10_bin.py: JPEG-recompressed pixels, so a
# match means the results must not be reported as official CIFAR-10.
_CIFAR_JPEG_SHA256 = {
    "data_batch_1.bin": "8da035fc1631e8ce5f25904206b8993b0f3ad02a504c0584d662e806fd76c12b",
    "data_batch_2.bin": "106eeaad9f1fa7a999292fdafe68ee909080f58aee038a76994035aedf40ba26",
    "data_batch_3.bin": "99cb88ba00fca88bf28c517a74307b6b78a346c6ea747a561cb8e660c787d5cb",
    "data_batch_4.bin": "76b482bc3bb79c0370e48ea71bb6e4f567a3770d224dc09a9ddc8cfa2369f294",
    "data_batch_5.bin": "490f5ead4f04a3eb71d5898eb551e0d8d2c592feb778fb9b109a006b3f231495",
    "test_batch.bin": "0ce179d0c0a5220739d6223197952896644ceabb648dacfdebd7f06789af543f",
}
_CIFAR_HINT = (f"set LEAKLAB_DATA to a directory holding {_CIFAR_DIR}/ (build one offline with "
               f"`python ../shared/data/build_cifar10_bin.py DIR`, then LEAKLAB_DATA=DIR) or {_CIFAR_TAR}")
_IDX_HINT = "set LEAKLAB_DATA to a directory holding the official files, for example ../shared/data"
_FORMAT = "leaklab-data-v2"  # bump when the parsed layout changes, so old .npy files are ignored

_memory: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # parsed arrays, keyed like the .npy files
_digest_memo: dict[tuple, dict[str, str]] = {}           # (path, size, mtime) -> checksums


def _clear_cache() -> None:
    """Forget parsed arrays and checksums held in memory (the .npy cache on disk stays)."""
    _memory.clear()
    _digest_memo.clear()


def _data_dirs() -> list[Path]:
    return [Path(p).expanduser() for p in os.environ.get("LEAKLAB_DATA", "").split(os.pathsep) if p]


def _cache_dir() -> Path:
    return Path(os.environ.get("LEAKLAB_CACHE") or "~/.cache/leaklab").expanduser()


def _fix(path: Path, hint: str) -> str:
    """How to repair a bad file depends on whether it is ours (cache) or the user's."""
    if _cache_dir() in Path(path).parents:
        return f"Delete {path} and run again to re-download it, or {hint}."
    return f"Replace it with the official file, or {hint}."


def _digests(path: Path) -> dict[str, str]:
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _digest_memo:
        md5, sha = hashlib.md5(), hashlib.sha256()
        try:
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    md5.update(chunk)
                    sha.update(chunk)
        except OSError as e:
            raise DataError(f"cannot read {path}: {e}") from e
        _digest_memo[key] = {"md5": md5.hexdigest(), "sha256": sha.hexdigest()}
    return _digest_memo[key]


def download(url: str, dest, *, md5=None, sha256=None, size=None, timeout=30) -> Path:
    """Fetch ``url`` to ``dest``, checking size and checksums; ``dest`` only ever appears complete."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part-{secrets.token_hex(4)}")
    hashes = {"md5": hashlib.md5(), "sha256": hashlib.sha256()}
    got = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(tmp, "xb") as out:
            announced = resp.headers.get("Content-Length")
            while chunk := resp.read(1 << 20):
                out.write(chunk)
                got += len(chunk)
                for h in hashes.values():
                    h.update(chunk)
        # http.client may return a short body without any error when the server hangs up early.
        if announced is not None and got != int(announced):
            raise DataError(f"download of {url} was cut off after {got:,} of {int(announced):,} bytes; "
                            f"nothing was saved to {dest}. Run again.")
        wrong = [f"{got:,} bytes, expected {size:,}"] if size is not None and got != size else []
        for algo, want in (("md5", md5), ("sha256", sha256)):
            if want and hashes[algo].hexdigest() != want.lower():
                wrong.append(f"{algo.upper()} {hashes[algo].hexdigest()}, expected {want}")
        if wrong:
            raise DataError(f"downloaded {url} but it is not the expected file ({'; '.join(wrong)}); "
                            f"nothing was saved to {dest}.")
        os.replace(tmp, dest)
    except DataError:
        raise
    except (OSError, http.client.HTTPException, ValueError) as e:  # URLError, timeouts, IncompleteRead
        raise DataError(f"download of {url} to {dest} failed: {type(e).__name__}: {e}") from e
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _locate(rel: str, urls: list[str], hint: str, **checks) -> tuple[Path, str]:
    """Find ``rel`` in LEAKLAB_DATA, then the cache, else download it; return (path, where)."""
    for root in _data_dirs():
        if (root / rel).is_file():
            return root / rel, "from a LEAKLAB_DATA directory"
    cached = _cache_dir() / "data" / rel
    if cached.is_file():
        return cached, "from the download cache"
    bases = os.environ.get("LEAKLAB_DATA_URL", "").split()
    if bases:
        urls = [b.rstrip("/") + "/" + rel for b in bases]
    errors = []
    for url in urls:
        try:
            download(url, cached, **checks)
            return cached, f"downloaded from {url.rsplit('/', 1)[0]}/"
        except DataError as e:
            errors.append(f"  - {e}")
    searched = [str(d) for d in _data_dirs()] or ["LEAKLAB_DATA not set"]
    raise DataError(f"{rel} was not found in LEAKLAB_DATA ({', '.join(searched)}) nor in the cache "
                    f"{cached.parent}, and every download failed:\n" + "\n".join(errors)
                    + f"\nNo internet? Then {hint}.")


def _parse_idx(path: Path, magic: int) -> np.ndarray:
    """Read a gzipped IDX file of unsigned bytes (magic 0x803 images, 0x801 labels)."""
    what = "images" if magic == 0x803 else "labels"
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as e:  # not gzip, cut-off stream, corrupt data
        raise DataError(f"{path}: cannot decompress it ({e}); expected a gzipped IDX {what} file. "
                        + _fix(path, _IDX_HINT)) from e
    head = 4 + 4 * (magic & 0xFF)
    found = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
    if found != magic or len(raw) < head:
        found = "a file too short for the header" if found is None or found == magic else f"0x{found:08x}"
        raise DataError(f"{path}: expected an IDX {what} file (magic 0x{magic:08x}), found {found}. "
                        + _fix(path, _IDX_HINT))
    dims = struct.unpack(f">{magic & 0xFF}I", raw[4:head])
    need = int(np.prod(dims))
    if len(raw) - head != need:
        raise DataError(f"{path}: header says {' x '.join(map(str, dims))} = {need:,} bytes of {what}, "
                        f"but the file holds {len(raw) - head:,}; it is truncated or corrupt. "
                        + _fix(path, _IDX_HINT))
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


def _parse_cifar(data: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Split CIFAR-10 binary records (label byte + R, G, B 32x32 planes) into images and labels."""
    if not data or len(data) % _RECORD:
        raise DataError(f"{where}: {len(data):,} bytes is not a whole number of {_RECORD}-byte "
                        f"CIFAR-10 records; it is truncated or not CIFAR-10 binary. {_CIFAR_HINT}.")
    rec = np.frombuffer(data, np.uint8).reshape(-1, _RECORD)
    if rec[:, 0].max() > 9:
        i = int(np.argmax(rec[:, 0] > 9))
        raise DataError(f"{where}: record {i} has label byte {rec[i, 0]}, expected 0..9; "
                        f"it is corrupt or not CIFAR-10 binary. {_CIFAR_HINT}.")
    return rec[:, 1:].reshape(-1, 3, 32, 32), rec[:, 0]


def _idx_files(name: str, split: str):
    folder, title, mirrors, table = _IDX[name]
    paths, wheres = [], []
    for fname in (f"{'train' if split == 'train' else 't10k'}-{kind}-ubyte.gz"
                  for kind in ("images-idx3", "labels-idx1")):
        hint = f"set LEAKLAB_DATA to a directory holding {folder}/raw/{fname}, for example ../shared/data"
        size, md5, sha = table[fname]
        path, where = _locate(f"{folder}/raw/{fname}", [m + fname for m in mirrors], hint,
                              md5=md5, sha256=sha, size=size)
        found = _digests(path)
        for algo, want in (("md5", md5), ("sha256", sha)):
            if found[algo] != want:
                raise DataError(f"{path}: {algo.upper()} is {found[algo]}, expected {want} (the official "
                                f"{fname}, {size:,} bytes; this file has {path.stat().st_size:,} bytes). "
                                + _fix(path, hint))
        paths.append(path)
        wheres.append(where)

    def parse():
        images, labels = _parse_idx(paths[0], 0x803), _parse_idx(paths[1], 0x801)
        if images.shape[1:] != (28, 28) or len(images) != len(labels) or (labels.size and labels.max() > 9):
            raise DataError(f"{paths[0]} and {paths[1]}: expected N x 28 x 28 images and N labels "
                            f"in 0..9, got {images.shape} and {labels.shape}. {_fix(paths[0], _IDX_HINT)}")
        return images[:, None], labels  # one layout for every dataset: [N, C, H, W]

    source = f"{title} {split}, official files (MD5 + SHA-256 verified) {' and '.join(dict.fromkeys(wheres))}"
    return paths, source, parse


def _cifar_files(split: str):
    names = _CIFAR_FILES[split]
    for root in _data_dirs() + [_cache_dir() / "data"]:
        if (root / _CIFAR_DIR).is_dir():  # an extracted copy wins, and must be complete
            return _cifar_bins(root / _CIFAR_DIR, names, split)
        if (root / _CIFAR_TAR).is_file():
            break
    tar, where = _locate(_CIFAR_TAR, [_CIFAR_URL], _CIFAR_HINT, md5=_CIFAR_MD5)
    if _digests(tar)["md5"] != _CIFAR_MD5:
        raise DataError(f"{tar}: MD5 is {_digests(tar)['md5']}, expected {_CIFAR_MD5} (the official "
                        f"{_CIFAR_TAR}). " + _fix(tar, _CIFAR_HINT))

    def parse():
        members = {f"{_CIFAR_DIR}/{n}": None for n in names}
        try:
            with tarfile.open(tar, "r:gz") as tf:
                for m in tf:
                    if m.name in members:
                        members[m.name] = tf.extractfile(m).read()
        except (tarfile.TarError, OSError, EOFError, zlib.error) as e:
            raise DataError(f"{tar}: cannot read the archive ({e}). " + _fix(tar, _CIFAR_HINT)) from e
        missing = [m for m, b in members.items() if b is None]
        if missing:
            raise DataError(f"{tar}: member {missing[0]} is missing. " + _fix(tar, _CIFAR_HINT))
        return _concat(_parse_cifar(b, f"{tar}:{m}") for m, b in members.items())

    return [tar], f"CIFAR-10 {split}, official binary (MD5 verified) {where}", parse


def _cifar_bins(d: Path, names: list[str], split: str):
    paths = [d / n for n in names]
    for p in paths:
        size = p.stat().st_size if p.is_file() else None
        if size != _CIFAR_FILE_BYTES:
            found = "it is missing" if size is None else f"it has {size:,}"
            raise DataError(f"{p}: expected {_CIFAR_FILE_BYTES:,} bytes (10000 records of {_RECORD} bytes), "
                            f"{found}; the directory is incomplete or truncated. Rebuild it with "
                            f"`python ../shared/data/build_cifar10_bin.py {d.parent}`, or {_CIFAR_HINT}.")
    if all(_digests(p)["sha256"] == _CIFAR_JPEG_SHA256[p.name] for p in paths):
        source = (f"CIFAR-10 (JPEG-recompressed copy) {split}, not the official pixels; SHA-256 matches "
                  "the rebuild from shared/data")
    else:
        source = f"CIFAR-10 binary {split}, unverified local copy (no known checksum)"

    def parse():
        def read(p):
            try:
                return p.read_bytes()
            except OSError as e:
                raise DataError(f"cannot read {p}: {e}") from e
        return _concat(_parse_cifar(read(p), str(p)) for p in paths)

    return paths, source, parse


def _concat(parts) -> tuple[np.ndarray, np.ndarray]:
    images, labels = zip(*parts)
    return np.concatenate(images), np.concatenate(labels)


def _parsed(name: str, split: str, files: list[Path], parse) -> tuple[np.ndarray, np.ndarray]:
    """Parsed arrays from memory, else from the .npy cache, else parse and store (atomically)."""
    key = hashlib.sha256(" ".join([_FORMAT, name, split] + [_digests(p)["sha256"] for p in files])
                         .encode()).hexdigest()[:32]
    if key in _memory:
        return _memory[key]
    npy = [_cache_dir() / "parsed" / f"{name}-{split}-{key}-{part}.npy" for part in ("images", "labels")]
    try:
        arrays = tuple(np.load(p, allow_pickle=False) for p in npy)
        if arrays[0].dtype != np.uint8 or arrays[1].dtype != np.uint8 or len(arrays[0]) != len(arrays[1]):
            raise ValueError("unexpected contents")
    except (OSError, ValueError, EOFError):  # absent or damaged: the cache is disposable, parse again
        arrays = parse()
        try:
            npy[0].parent.mkdir(parents=True, exist_ok=True)
            for p, a in zip(npy, arrays):
                tmp = p.with_name(f".{p.name}.part-{secrets.token_hex(4)}")
                try:
                    with open(tmp, "xb") as f:
                        np.save(f, a)
                    os.replace(tmp, p)
                finally:
                    tmp.unlink(missing_ok=True)
        except OSError as e:
            warnings.warn(f"leaklab.data: could not write the parsed-data cache in {npy[0].parent}: {e}")
    _memory[key] = arrays
    return arrays


def jpeg_copy(sources):
    """Whether a record's data sources include the JPEG-recompressed CIFAR-10 copy: every number on it is labelled
    so, in figures and tables too."""
    return any("JPEG-recompressed" in s for s in sources)


def cifar_name(sources):
    """CIFAR-10's name as a figure or table gives it for a record with these data sources."""
    return "CIFAR-10 (JPEG copy)" if jpeg_copy(sources) else "CIFAR-10"


def describe(source):
    """A sentence for a chapter on where its data came from, flagging the JPEG copy of CIFAR-10."""
    if jpeg_copy([source]):
        return ("CIFAR-10 (JPEG-recompressed copy): the official labels, classes and order, but every pixel "
                "carries JPEG error (PSNR 29.9 dB against the official images, as the copy's own README measures "
                "it), so our numbers are close to, not the same as, numbers on the official CIFAR-10. Source: "
                + source + ".")
    return "Source: " + source + "."


def load(name: str, split: str = "train") -> Dataset:
    """Load ``name`` ("mnist", "fashion_mnist", "cifar10"), ``split`` "train" or "test"."""
    if name not in CLASSES:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(map(repr, CLASSES))}")
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(map(repr, SPLITS))}")
    files, source, parse = _cifar_files(split) if name == "cifar10" else _idx_files(name, split)
    images, labels = _parsed(name, split, files, parse)
    digest = hashlib.sha256(" ".join(_digests(p)["sha256"] for p in files).encode()).hexdigest()
    # Fresh tensors each call, so a caller editing them in place cannot corrupt the cache.
    return Dataset(torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), source, digest)


def hold_out(ds: Dataset, n: int) -> tuple[Dataset, Dataset]:
    """(all but the last `n` items, the last `n`): a validation split carved from the end of a training set,
    never trained on; the digests say which part each is."""
    keep = len(ds.labels) - n
    return (Dataset(ds.images[:keep], ds.labels[:keep], ds.source, f"{ds.digest}[:{keep}]"),
            Dataset(ds.images[keep:], ds.labels[keep:], ds.source, f"{ds.digest}[{keep}:]"))


def subset(ds: Dataset, n: int) -> Dataset:
    """The first `n` items; the digest says which, so a checkpoint of n images never serves m."""
    if n >= len(ds.labels):
        return ds
    return Dataset(ds.images[:n], ds.labels[:n], ds.source, f"{ds.digest}[:{n}]")
