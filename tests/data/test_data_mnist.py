"""MNIST built in: read from $FEATMATCH_DATA/mnist or the cache, else downloaded (loopback server) and verified."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from featmatch.data import load_dataset
from featmatch.data.mnist import FILES, SHA256, MNISTUnavailableError, fetch_mnist, load_mnist, mnist_folders

ALL = [name for pair in FILES.values() for name in pair]


@pytest.fixture(scope="module")
def mnist_source() -> Path:
    """The real MNIST files (tests/conftest.py points FEATMATCH_DATA at ../shared/data)."""
    root = os.environ.get("FEATMATCH_DATA")
    folder = Path(root) / "mnist" if root else None
    assert folder is not None and all((folder / f"{n}.gz").is_file() for n in ALL), (
        "these tests read real MNIST: set FEATMATCH_DATA to a folder whose mnist/ holds the four .gz files "
        "(this project keeps them in ../shared/data)"
    )
    return folder


@pytest.fixture
def empty_places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """FEATMATCH_DATA and the cache point at empty folders; returns the data root."""
    monkeypatch.setenv("FEATMATCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FEATMATCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "data"


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    drop: set[str] = set()

    def do_GET(self) -> None:
        name = self.path.rsplit("/", 1)[-1]
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if name in self.drop:  # half the file, then the connection closes
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def _serve(files: dict[str, bytes], drop: set[str] | None = None) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"files": files, "drop": drop or set()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mnist/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def good_files(mnist_source: Path) -> dict[str, bytes]:
    return {f"{n}.gz": (mnist_source / f"{n}.gz").read_bytes() for n in ALL}


@pytest.fixture
def server(good_files: dict[str, bytes]) -> Iterator[str]:
    yield from _serve(good_files)


def _closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"  # nothing listens there any more


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


# --- reading -------------------------------------------------------------------------------


def test_load_dataset_mnist_reads_the_real_files(mnist_source: Path) -> None:
    train, test = load_dataset("mnist"), load_dataset("mnist", "test")
    assert train.name == "mnist" and train.kind == "image"
    assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
    assert float(train.x.min()) == -1.0 and float(train.x.max()) == 1.0
    # The published figures: per-class training counts, mean pixel 0.1307 on [0, 1].
    counts = np.bincount(train.y.numpy(), minlength=10).tolist()
    assert counts == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert abs(float((train.x + 1).mean() / 2) - 0.1307) < 1e-4
    assert train.y.dtype.is_floating_point is False and int(test.y.max()) == 9


def test_size_takes_a_seeded_subset(mnist_source: Path) -> None:
    a, b = load_dataset("mnist", size=100, seed=3), load_dataset("mnist", size=100, seed=3)
    assert len(a) == 100 and bool((a.x == b.x).all())


def test_data_folder_comes_before_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATMATCH_DATA", str(tmp_path / "d"))
    monkeypatch.setenv("FEATMATCH_CACHE", str(tmp_path / "c"))
    assert mnist_folders() == [tmp_path / "d" / "mnist", tmp_path / "c" / "data" / "mnist"]
    monkeypatch.delenv("FEATMATCH_DATA")
    assert mnist_folders() == [tmp_path / "c" / "data" / "mnist"]


def test_uncompressed_files_in_the_cache_are_read(
    mnist_source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "cache" / "data" / "mnist"
    folder.mkdir(parents=True)
    for name in ALL:
        (folder / name).write_bytes(gzip.decompress((mnist_source / f"{name}.gz").read_bytes()))
    monkeypatch.delenv("FEATMATCH_DATA")
    monkeypatch.setenv("FEATMATCH_CACHE", str(tmp_path / "cache"))
    assert load_mnist("test").x.shape == (10000, 1, 28, 28)


def test_a_file_with_other_contents_is_named_and_kept(mnist_source: Path, empty_places: Path) -> None:
    folder = empty_places / "mnist"
    folder.mkdir(parents=True)
    for name in ALL:
        shutil.copy(mnist_source / f"{name}.gz", folder)
    bad = folder / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(bad.read_bytes()))
    data[-1] = (data[-1] + 1) % 10
    bad.write_bytes(gzip.compress(bytes(data)))
    with pytest.raises(MNISTUnavailableError, match=r"t10k-labels-idx1-ubyte\.gz.*SHA-256") as info:
        load_mnist("test")
    assert "\n" not in str(info.value)
    assert bad.is_file()  # the user's file is never deleted


# --- downloading ---------------------------------------------------------------------------


def test_download_from_a_mirror_verifies_and_places_every_file(server: str, empty_places: Path) -> None:
    paths = fetch_mnist(mirrors=[server], progress=False)
    folder = empty_places / "mnist"
    assert sorted(paths) == sorted(ALL)
    assert _leftovers(folder) == sorted(f"{n}.gz" for n in ALL)  # no temporary files
    for name, path in paths.items():
        assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == SHA256[name]
    assert load_mnist("train", size=10).x.shape == (10, 1, 28, 28)


def test_environment_mirrors_are_used(server: str, empty_places: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FEATMATCH_MNIST_MIRRORS", f"{_closed_port()}, {server}")
    assert load_dataset("mnist", "test").x.shape == (10000, 1, 28, 28)


def test_a_corrupt_copy_is_refused_and_the_next_mirror_used(good_files: dict[str, bytes], empty_places: Path) -> None:
    corrupt = dict(good_files)
    raw = bytearray(gzip.decompress(corrupt["train-labels-idx1-ubyte.gz"]))
    raw[100] ^= 1
    corrupt["train-labels-idx1-ubyte.gz"] = gzip.compress(bytes(raw))
    bad_gen, good_gen = _serve(corrupt), _serve(good_files)
    bad, good = next(bad_gen), next(good_gen)
    try:
        fetch_mnist(mirrors=[bad, good], progress=False)
        assert _leftovers(empty_places / "mnist") == sorted(f"{n}.gz" for n in ALL)
        # Only the corrupt mirror: an error, and no file of that name left behind.
        (empty_places / "mnist" / "train-labels-idx1-ubyte.gz").unlink()
        with pytest.raises(MNISTUnavailableError, match="SHA-256"):
            fetch_mnist(mirrors=[bad], progress=False)
        assert "train-labels-idx1-ubyte.gz" not in _leftovers(empty_places / "mnist")
        assert not [n for n in _leftovers(empty_places / "mnist") if n.endswith(".tmp")]
    finally:
        for gen in (bad_gen, good_gen):
            gen.close()


def test_a_dropped_connection_leaves_nothing_partial(good_files: dict[str, bytes], empty_places: Path) -> None:
    gen = _serve(good_files, drop={"train-images-idx3-ubyte.gz"})
    url = next(gen)
    try:
        with pytest.raises(MNISTUnavailableError, match=r"train-images-idx3-ubyte\.gz could not be downloaded"):
            fetch_mnist(mirrors=[url], progress=False)
    finally:
        gen.close()
    assert _leftovers(empty_places / "mnist") == []  # the first file failed: nothing there at all


def test_offline_is_one_line_naming_the_folder_files_and_variable(empty_places: Path) -> None:
    with pytest.raises(MNISTUnavailableError) as info:
        fetch_mnist(mirrors=[_closed_port()], timeout=5, progress=False)
    message = str(info.value)
    assert "\n" not in message
    assert str(empty_places / "mnist") in message and "FEATMATCH_DATA" in message
    for name in ALL:
        assert f"{name}.gz" in message
    assert _leftovers(empty_places / "mnist") == []


def test_cli_offline_exits_2_with_one_line(empty_places: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FEATMATCH_MNIST_MIRRORS": _closed_port(), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "featmatch", "train", "--data", "mnist", "--steps", "1", "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "MNIST is not available" in errors[0] and "FEATMATCH_DATA" in errors[0]
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("checkpoints/*.pt"))
