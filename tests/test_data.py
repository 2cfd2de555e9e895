"""Tests for leaklab.data: parsing, verification, downloads, caching, and the real data sets."""
import functools
import gzip
import hashlib
import http.server
import io
import os
import shutil
import struct
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from leaklab import data
from leaklab.data import DataError

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
MNIST_RAW = SHARED / "MNIST" / "raw"
CIFAR_NAMES = [f"data_batch_{k}.bin" for k in range(1, 6)] + ["test_batch.bin"]
# Skipped on a machine without the offline copy; never in CI, which always has it beside the clone.
needs_shared = pytest.mark.skipif(not MNIST_RAW.is_dir() and not os.environ.get("CI"),
                                  reason=f"offline data copy not found at {SHARED}")


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Every test gets an empty cache, no local data dirs, and a download address that refuses at once."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("LEAKLAB_CACHE", str(cache))
    monkeypatch.delenv("LEAKLAB_DATA", raising=False)
    monkeypatch.setenv("LEAKLAB_DATA_URL", "http://127.0.0.1:9")  # never the internet from tests
    data._clear_cache()
    yield cache
    data._clear_cache()


def write_idx(path, array, magic):
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))
    return path


def cifar_records(images, labels):
    return b"".join(bytes([int(l)]) + im.tobytes() for im, l in zip(images, labels))


# --- parsing ---------------------------------------------------------------------------------

def test_idx_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 0, 9, 1, 7], np.uint8)
    np.testing.assert_array_equal(data._parse_idx(write_idx(tmp_path / "i.gz", images, 0x803), 0x803), images)
    np.testing.assert_array_equal(data._parse_idx(write_idx(tmp_path / "l.gz", labels, 0x801), 0x801), labels)


def test_cifar_roundtrip():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 3, 32, 32), dtype=np.uint8)
    labels = np.array([9, 0, 4], np.uint8)
    got_images, got_labels = data._parse_cifar(cifar_records(images, labels), "x.bin")
    np.testing.assert_array_equal(got_images, images)
    np.testing.assert_array_equal(got_labels, labels)
    # the record is label, then the whole R plane, then G, then B
    rec = cifar_records(images[:1], labels[:1])
    assert rec[1:1025] == images[0, 0].tobytes() and rec[2049:] == images[0, 2].tobytes()


@pytest.mark.parametrize("kind", ["truncated", "wrong_magic", "not_gzip", "cut_gzip", "empty"])
def test_bad_idx_names_file(tmp_path, kind):
    path = tmp_path / f"{kind}-images-idx3-ubyte.gz"
    header = struct.pack(">4I", 0x803, 5, 28, 28)
    body = {
        "truncated": gzip.compress(header + bytes(3 * 28 * 28)),
        "wrong_magic": gzip.compress(struct.pack(">4I", 0x801, 5, 28, 28) + bytes(5 * 28 * 28)),
        "not_gzip": b"<html>404 Not Found</html>" * 10,
        "cut_gzip": gzip.compress(header + np.random.default_rng(3).bytes(5 * 28 * 28))[:2000],
        "empty": gzip.compress(b""),
    }[kind]
    path.write_bytes(body)
    with pytest.raises(DataError) as err:
        data._parse_idx(path, 0x803)
    assert path.name in str(err.value)


def test_bad_cifar_names_file():
    images, labels = np.zeros((2, 3, 32, 32), np.uint8), np.array([1, 2], np.uint8)
    with pytest.raises(DataError, match="short_batch.bin"):
        data._parse_cifar(cifar_records(images, labels)[:-100], "short_batch.bin")
    with pytest.raises(DataError, match=r"bad_batch.bin: record 1 has label byte 10"):
        data._parse_cifar(cifar_records(images, [1, 10]), "bad_batch.bin")


# --- loading from LEAKLAB_DATA: verification and error messages -------------------------------

def test_unknown_name_or_split():
    with pytest.raises(DataError, match="'mnist', 'fashion_mnist', 'cifar10'"):
        data.load("imagenet")
    with pytest.raises(DataError, match="'train', 'test'"):
        data.load("mnist", "val")


@needs_shared
def test_checksum_mismatch_names_file(tmp_path, monkeypatch):
    raw = tmp_path / "d" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(MNIST_RAW / "t10k-images-idx3-ubyte.gz", raw)
    bad = bytearray((MNIST_RAW / "t10k-labels-idx1-ubyte.gz").read_bytes())
    bad[100] ^= 0xFF
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(bad)
    monkeypatch.setenv("LEAKLAB_DATA", str(tmp_path / "d"))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: MD5 is .* expected ec29112d"):
        data.load("mnist", "test")


@needs_shared
def test_bad_file_in_cache_says_delete(isolated):
    raw = isolated / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    shutil.copy(MNIST_RAW / "t10k-images-idx3-ubyte.gz", raw)
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"truncated")
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte.gz: MD5 .*this file has 9 bytes\). Delete "):
        data.load("mnist", "test")


def test_missing_everywhere_says_how_to_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", str(tmp_path / "nowhere"))
    with pytest.raises(DataError) as err:
        data.load("fashion_mnist", "test")
    msg = str(err.value)
    assert "http://127.0.0.1:9/FashionMNIST/raw/t10k-images-idx3-ubyte.gz" in msg
    assert "LEAKLAB_DATA" in msg and "../shared/data" in msg
    with pytest.raises(DataError, match="build_cifar10_bin.py"):
        data.load("cifar10", "test")


def test_cifar_bin_dir_checks(tmp_path, monkeypatch):
    bins = tmp_path / "cifar-10-batches-bin"
    bins.mkdir()
    monkeypatch.setenv("LEAKLAB_DATA", str(tmp_path))
    records = np.zeros((10000, 3073), np.uint8)
    records[:, 0] = np.arange(10000) % 10
    (bins / "test_batch.bin").write_bytes(records.tobytes()[:-3073])
    with pytest.raises(DataError, match=r"test_batch.bin: expected 30,730,000 bytes .* it has 30,726,927"):
        data.load("cifar10", "test")

    (bins / "test_batch.bin").write_bytes(records.tobytes())
    ds = data.load("cifar10", "test")  # a full-size file we do not know: accepted, but said so
    assert ds.images.shape == (10000, 3, 32, 32) and ds.labels[:12].tolist() == [*range(10), 0, 1]
    assert "unverified local copy" in ds.source and str(tmp_path) not in ds.source

    data._clear_cache()
    records[7, 0] = 12
    (bins / "test_batch.bin").write_bytes(records.tobytes())
    with pytest.raises(DataError, match=r"test_batch.bin: record 7 has label byte 12"):
        data.load("cifar10", "test")
    with pytest.raises(DataError, match=r"data_batch_1.bin: expected .* it is missing"):
        data.load("cifar10", "train")


def test_cifar_tar_is_read_in_place(tmp_path, monkeypatch):
    images = np.random.default_rng(2).integers(0, 256, (4, 3, 32, 32), dtype=np.uint8)
    payload = cifar_records(images, [5, 6, 7, 8])
    tar_path = tmp_path / "cifar-10-binary.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tf:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    monkeypatch.setenv("LEAKLAB_DATA", str(tmp_path))
    with pytest.raises(DataError, match="cifar-10-binary.tar.gz: MD5 is .* expected c32a1d4a"):
        data.load("cifar10", "test")
    monkeypatch.setattr(data, "_CIFAR_MD5", hashlib.md5(tar_path.read_bytes()).hexdigest())
    ds = data.load("cifar10", "test")
    assert torch.equal(ds.images, torch.from_numpy(images)) and ds.labels.tolist() == [5, 6, 7, 8]
    assert "official binary (MD5 verified)" in ds.source
    with pytest.raises(DataError, match="member cifar-10-batches-bin/data_batch_1.bin is missing"):
        data.load("cifar10", "train")


# --- digests: what checkpoint keys and records identify the data by ------------------------------

@needs_shared
def test_digest_is_the_sha256_of_the_files_sha256s(monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", str(SHARED))
    ds = data.load("mnist", "test")
    files = [MNIST_RAW / f"t10k-{kind}-ubyte.gz" for kind in ("images-idx3", "labels-idx1")]
    expected = hashlib.sha256(" ".join(hashlib.sha256(f.read_bytes()).hexdigest() for f in files).encode())
    assert ds.digest == expected.hexdigest()
    assert data.load("mnist", "train").digest != ds.digest


def test_a_changed_byte_changes_the_digest(tmp_path, monkeypatch):
    bins = tmp_path / "cifar-10-batches-bin"
    bins.mkdir()
    records = np.zeros((10000, 3073), np.uint8)
    (bins / "test_batch.bin").write_bytes(records.tobytes())
    monkeypatch.setenv("LEAKLAB_DATA", str(tmp_path))
    before = data.load("cifar10", "test").digest
    records[5, 100] = 1  # one pixel
    (bins / "test_batch.bin").write_bytes(records.tobytes())
    data._clear_cache()
    assert data.load("cifar10", "test").digest != before


def test_subset_keeps_the_first_items_and_says_how_many():
    ds = data.Dataset(torch.arange(10).view(10, 1), torch.arange(10), "somewhere", "abc")
    three = data.subset(ds, 3)
    assert three.labels.tolist() == [0, 1, 2] and three.images.shape == (3, 1)
    assert three.source == ds.source and three.digest not in ("", ds.digest)
    assert data.subset(ds, 4).digest != three.digest  # 3 images never pass for 4
    assert data.subset(ds, 10) is ds and data.subset(ds, 99) is ds  # all of it is the data set itself


def test_a_held_out_split_is_the_end_of_the_set_and_never_shares_an_item_or_a_digest_with_the_rest():
    ds = data.Dataset(torch.arange(10).view(10, 1), torch.arange(10), "somewhere", "abc")
    rest, held = data.hold_out(ds, 3)
    assert rest.labels.tolist() == list(range(7)) and held.labels.tolist() == [7, 8, 9]
    assert rest.digest == data.subset(ds, 7).digest  # the same items, the same digest
    assert held.digest not in (ds.digest, rest.digest, data.subset(ds, 3).digest)
    assert data.subset(rest, 5).labels.tolist() == [0, 1, 2, 3, 4]


# --- downloads from a local HTTP server -------------------------------------------------------

class Handler(http.server.SimpleHTTPRequestHandler):
    """Serves ../shared/data; /short/<path> sends half the file (honest length),
    /cut/<path> announces the full length and hangs up after half."""
    timeout = 10  # a stuck client cannot hold a server thread for long

    def log_message(self, *args):
        pass

    def do_GET(self):
        for prefix in ("/short/", "/cut/"):
            if self.path.startswith(prefix):
                body = (SHARED / self.path[len(prefix):]).read_bytes()
                half = body[: len(body) // 2]
                self.send_response(200)
                self.send_header("Content-Length", str(len(half if prefix == "/short/" else body)))
                self.end_headers()
                self.wfile.write(half)
                self.close_connection = True
                return
        super().do_GET()


@pytest.fixture(scope="module")
def server():
    if not MNIST_RAW.is_dir() and not os.environ.get("CI"):
        pytest.skip(f"offline data copy not found at {SHARED}")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(SHARED)))
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def files_under(path):
    return sorted(p.relative_to(path).as_posix() for p in Path(path).rglob("*") if p.is_file())


def test_download_then_load_from_cache(server, isolated, monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", "")
    monkeypatch.setenv("LEAKLAB_DATA_URL", server)
    ds = data.load("mnist", "test")
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.bincount().tolist()[:3] == [980, 1135, 1032]
    assert f"downloaded from {server}/MNIST/raw/" in ds.source and "SHA-256 verified" in ds.source
    assert files_under(isolated / "data") == ["MNIST/raw/t10k-images-idx3-ubyte.gz",
                                              "MNIST/raw/t10k-labels-idx1-ubyte.gz"]
    # Later runs find the verified files in the cache: no server needed.
    data._clear_cache()
    monkeypatch.setenv("LEAKLAB_DATA_URL", "http://127.0.0.1:9")
    again = data.load("mnist", "test")
    assert torch.equal(again.images, ds.images) and "from the download cache" in again.source
    assert str(isolated) not in again.source  # a record names no directory of this machine
    assert again.digest == ds.digest  # the same files, wherever they were found


def test_truncated_download_leaves_nothing(server, isolated, monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA_URL", f"{server}/short")
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz.*824,438 bytes, expected 1,648,877"):
        data.load("mnist", "test")
    assert files_under(isolated) == []


@pytest.mark.parametrize("checks", [{}, {"size": 4542}, {"md5": "ec29112dd5afa0611ce80d1b7f02629c"}])
def test_interrupted_download_leaves_nothing(server, tmp_path, checks):
    dest = tmp_path / "dl" / "t10k-labels-idx1-ubyte.gz"
    with pytest.raises(DataError, match="cut off after 2,271 of 4,542 bytes|IncompleteRead"):
        data.download(f"{server}/cut/MNIST/raw/t10k-labels-idx1-ubyte.gz", dest, **checks, timeout=5)
    assert files_under(tmp_path / "dl") == []


def test_download_checks(server, tmp_path):
    url = f"{server}/MNIST/raw/t10k-labels-idx1-ubyte.gz"
    dest = tmp_path / "dl" / "labels.gz"
    with pytest.raises(DataError, match="SHA256 f7ae60f9.*expected 00ff"):
        data.download(url, dest, sha256="00ff" * 16)
    with pytest.raises(DataError, match="HTTP Error 404"):
        data.download(f"{server}/MNIST/raw/nope.gz", dest)
    assert files_under(tmp_path / "dl") == []
    assert data.download(url, dest, md5="ec29112dd5afa0611ce80d1b7f02629c", size=4542) == dest
    assert dest.read_bytes() == (MNIST_RAW / "t10k-labels-idx1-ubyte.gz").read_bytes()


# --- caches ------------------------------------------------------------------------------------

@needs_shared
def test_parsed_once_then_from_npy(isolated, monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", str(SHARED))
    first = data.load("mnist", "test")
    original = first.images[0].clone()
    first.images[0] = 77  # callers get their own tensors, the cache is not affected
    assert len(list((isolated / "parsed").glob("mnist-test-*.npy"))) == 2

    def no_parsing(*args):
        raise AssertionError("parsed again although a parsed copy exists")

    monkeypatch.setattr(data, "_parse_idx", no_parsing)
    assert torch.equal(data.load("mnist", "test").images[0], original)  # in-process cache
    data._clear_cache()  # as in a new process: only the .npy files remain
    second = data.load("mnist", "test")
    assert torch.equal(second.labels, first.labels) and torch.equal(second.images[0], original)
    # a damaged parsed copy is ignored and rebuilt
    monkeypatch.undo()
    monkeypatch.setenv("LEAKLAB_DATA", str(SHARED))
    monkeypatch.setenv("LEAKLAB_CACHE", str(isolated))
    for npy in (isolated / "parsed").glob("*.npy"):
        npy.write_bytes(npy.read_bytes()[:1000])
    data._clear_cache()
    assert torch.equal(data.load("mnist", "test").labels, first.labels)
    monkeypatch.setattr(data, "_parse_idx", no_parsing)  # ... and rebuilt: the next process reads it, parsing nothing
    data._clear_cache()
    assert torch.equal(data.load("mnist", "test").labels, first.labels)


# --- the real data sets -------------------------------------------------------------------------

@needs_shared
def test_real_mnist_train(monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", str(SHARED))
    ds = data.load("mnist", "train")
    assert ds.images.shape == (60000, 1, 28, 28) and ds.images.dtype == torch.uint8
    assert ds.labels.dtype == torch.int64
    assert ds.labels.bincount().tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert "verified" in ds.source and "from a LEAKLAB_DATA directory" in ds.source
    assert str(SHARED) not in ds.source  # a record names no directory of this machine
    assert abs(ds.images.float().mean().item() / 255 - 0.1307) < 1e-4


@needs_shared
def test_real_fashion_test(monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", os.pathsep.join(["/nonexistent", str(SHARED)]))
    ds = data.load("fashion_mnist", "test")
    assert ds.images.shape == (10000, 1, 28, 28)
    assert ds.labels.bincount().tolist() == [1000] * 10
    assert "Fashion-MNIST" in ds.source and "verified" in ds.source
    assert len(data.CLASSES["fashion_mnist"]) == 10


@pytest.fixture(scope="session")
def cifar_bin_root(tmp_path_factory):
    """A directory holding cifar-10-batches-bin/ built from ../shared/data (about 10 s, once).
    Set LEAKLAB_CIFAR_BIN=DIR to keep it between runs: built there if missing, reused after."""
    def built(root):
        return all((root / "cifar-10-batches-bin" / n).is_file() and
                   (root / "cifar-10-batches-bin" / n).stat().st_size == 30730000 for n in CIFAR_NAMES)

    keep = os.environ.get("LEAKLAB_CIFAR_BIN")
    if keep and built(Path(keep)):
        return Path(keep)
    if not (SHARED / "build_cifar10_bin.py").is_file():
        pytest.skip(f"offline data copy not found at {SHARED}")
    pytest.importorskip("PIL", reason="Pillow is needed to build CIFAR-10 from ../shared/data/cifar10-jpeg")
    root = Path(keep) if keep else tmp_path_factory.mktemp("cifar")
    result = subprocess.run([sys.executable, str(SHARED / "build_cifar10_bin.py"), str(root)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return root


def test_real_cifar_jpeg_copy(cifar_bin_root, monkeypatch):
    monkeypatch.setenv("LEAKLAB_DATA", str(cifar_bin_root))
    ds = data.load("cifar10", "train")
    assert ds.images.shape == (50000, 3, 32, 32) and ds.images.dtype == torch.uint8
    assert ds.labels.bincount().tolist() == [5000] * 10
    assert "CIFAR-10 (JPEG-recompressed copy)" in ds.source
    mean = ds.images[:, 0].float().mean().item() / 255  # red channel, README: 0.4913
    assert abs(mean - 0.4913) < 1e-3
    assert data.CLASSES["cifar10"][ds.labels[0]] == "frog"
