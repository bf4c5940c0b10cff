"""Data home resolution, sha256 verification and downloads.

Downloads run against a real HTTP server on 127.0.0.1 (``http.server`` in a thread) that
serves a temporary copy of some ../shared/datasets files, one of them corrupted, into a
fresh temporary data home. Nothing here touches the internet: every download goes to
the local mirror (or to a closed local port for the offline case).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import socket
import stat
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from shiftlab.data.catalog import dataset_info, is_available
from shiftlab.data.home import (
    DataFile,
    default_data_home,
    fetch_file,
    get_data_home,
    get_feature_cache_dir,
    is_writable,
    sha256_file,
    verify_file,
)
from shiftlab.data.loaders import fetch_dataset, load_dataset, load_mushrooms
from shiftlab.exceptions import ChecksumError, DatasetNotAvailableError, DownloadError

pytestmark = pytest.mark.data
network = pytest.mark.network

# Files the mirror serves (small ones), relative to the data home.
SERVED = (
    "uci_mushrooms/agaricus-lepiota.data",
    "uci_mushrooms/agaricus-lepiota.names",
    "uci_phishing_websites/phishing.arff",
    "uci_wine_quality_red_white/winequality-red.csv",
    "uci_wine_quality_red_white/winequality-white.csv",
)
CORRUPTED = "uci_wine_quality_red_white/winequality-white.csv"


class _Mirror:
    def __init__(self, root: Path):
        self.root = root
        self.requests: Counter[str] = Counter()
        handler = functools.partial(_CountingHandler, self, directory=str(root))
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def count(self, path: str) -> int:
        return self.requests["/" + path]


class _CountingHandler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, mirror: _Mirror, *args, **kwargs):
        self.mirror = mirror
        super().__init__(*args, **kwargs)

    def do_GET(self):
        self.mirror.requests[self.path] += 1
        super().do_GET()

    def log_message(self, format, *args):  # keep the test output clean
        pass


@pytest.fixture(scope="module")
def mirror(shared_data_home, tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    for rel in SERVED:
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shared_data_home / rel, dest)
    # Same size, one byte changed: only the sha256 can tell.
    data = bytearray((root / CORRUPTED).read_bytes())
    data[1000] = ord("9") if data[1000] != ord("9") else ord("8")
    (root / CORRUPTED).write_bytes(bytes(data))
    m = _Mirror(root)
    m.thread.start()
    yield m
    m.server.shutdown()
    m.server.server_close()


@pytest.fixture
def fresh_home(tmp_path, monkeypatch, mirror):
    """An empty data home (not even created yet) and downloads going to the mirror."""
    home = tmp_path / "data_home"
    monkeypatch.setenv("SHIFTLAB_DATA", str(home))
    monkeypatch.setenv("SHIFTLAB_DATA_MIRROR", mirror.url)
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path / "feature_cache"))
    return home


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _leftovers(home: Path) -> list[str]:
    return sorted(p.name for p in home.rglob("*") if p.is_file()) if home.exists() else []


# ----------------------------------------------------------------------- data home
def test_data_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SHIFTLAB_DATA", str(tmp_path / "from_env"))
    assert get_data_home() == tmp_path / "from_env"
    # The argument wins over the environment variable.
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_data_home("~/data") == tmp_path / "home" / "data"
    monkeypatch.delenv("SHIFTLAB_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_data_home() == default_data_home()
    if os.name == "posix" and not os.uname().sysname == "Darwin":
        assert get_data_home() == tmp_path / "xdg" / "shiftlab"
        monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # invalid per the XDG spec
        assert get_data_home() == tmp_path / "home" / ".cache" / "shiftlab"
        monkeypatch.delenv("XDG_CACHE_HOME")
        assert get_data_home() == tmp_path / "home" / ".cache" / "shiftlab"
    assert not (tmp_path / "xdg").exists()  # resolving never creates folders


def test_readonly_detection_and_feature_cache_dir(monkeypatch, tmp_path, shared_data_home):
    assert not is_writable(shared_data_home)  # r-x, even for the super-user
    assert is_writable(tmp_path / "not" / "yet" / "created")
    monkeypatch.delenv("SHIFTLAB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert get_feature_cache_dir(tmp_path / "rw") == tmp_path / "rw" / "_features"
    # A read-only data home is never written to: the per-user cache is used instead.
    assert get_feature_cache_dir(shared_data_home) == default_data_home() / "_features"
    monkeypatch.setenv("SHIFTLAB_CACHE", str(tmp_path / "explicit"))
    assert get_feature_cache_dir(shared_data_home) == tmp_path / "explicit"


@network
def test_shared_home_works_read_only(shared_data_home, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_DATA_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    before = sorted(p.name for p in shared_data_home.rglob("*"))
    ds = load_mushrooms(data_home=shared_data_home)
    assert ds.sizes() == {"enlarging": 3516, "tapering": 4608}
    assert sorted(p.name for p in shared_data_home.rglob("*")) == before


# ------------------------------------------------------------------------ download
@network
def test_download_into_fresh_home_then_reuse(fresh_home, mirror):
    entry = dataset_info("mushrooms").file("agaricus-lepiota.data")
    before = mirror.count(entry.path)
    assert not is_available("mushrooms")
    ds = load_dataset("mushrooms")
    assert ds.sizes() == {"enlarging": 3516, "tapering": 4608}
    local = fresh_home / "uci_mushrooms" / "agaricus-lepiota.data"
    assert local.is_file() and sha256_file(local) == entry.sha256
    assert is_available("mushrooms")
    assert mirror.count(entry.path) == before + 1
    # The companion .names file is not needed by the loader, so it was not fetched.
    assert _leftovers(fresh_home) == ["agaricus-lepiota.data"]
    # Second load: served from the data home, no new request.
    again = load_mushrooms()
    assert np.array_equal(again["tapering"][0], ds["tapering"][0])
    assert mirror.count(entry.path) == before + 1
    assert stat.S_IMODE(local.stat().st_mode) & stat.S_IRUSR


@network
def test_fetch_dataset_includes_companion_files(fresh_home, mirror):
    paths = fetch_dataset("mushrooms", base_url=mirror.url)
    assert [p.name for p in paths] == ["agaricus-lepiota.data", "agaricus-lepiota.names"]
    info = dataset_info("mushrooms")
    for p, f in zip(paths, info.files, strict=True):
        assert sha256_file(p) == f.sha256


@network
def test_corrupted_download_raises_and_caches_nothing(fresh_home, mirror):
    entry = dataset_info("wine_quality").file("winequality-white.csv")
    with pytest.raises(ChecksumError) as err:
        load_dataset("wine_quality")
    msg = str(err.value)
    assert "winequality-white.csv" in msg
    assert f"expected sha256 {entry.sha256}" in msg
    assert sha256_file(mirror.root / CORRUPTED) in msg  # the actual digest
    assert "nothing was written" in msg
    folder = fresh_home / "uci_wine_quality_red_white"
    # The red file was fine and is kept; no trace of the white one, not even a .part.
    assert _leftovers(fresh_home) == ["winequality-red.csv"]
    assert not (folder / "winequality-white.csv").exists()
    assert not is_available("wine_quality")


@network
def test_offline_download_error(fresh_home, monkeypatch):
    port = _closed_port()
    monkeypatch.setenv("SHIFTLAB_DATA_MIRROR", f"http://127.0.0.1:{port}/")
    with pytest.raises(DownloadError) as err:
        load_dataset("phishing")
    msg = str(err.value)
    assert "Missing file 'uci_phishing_websites/phishing.arff'" in msg
    assert str(fresh_home) in msg  # where it was looked for
    assert f"http://127.0.0.1:{port}/uci_phishing_websites/phishing.arff" in msg  # URL tried
    assert "by hand" in msg and "SHIFTLAB_DATA" in msg  # how to fix it
    assert not fresh_home.exists()  # not even the empty folders stay behind


@network
def test_http_error_is_a_download_error(fresh_home, mirror):
    # The mirror does not serve the Office-Caltech files: 404.
    with pytest.raises(DownloadError, match="HTTP 404"):
        load_dataset("office_caltech10_surf")
    assert _leftovers(fresh_home) == []


@network
def test_download_false_and_missing_url(fresh_home, monkeypatch):
    with pytest.raises(DatasetNotAvailableError, match="download=False") as err:
        load_dataset("mushrooms", download=False)
    assert "Pass download=True" in str(err.value)
    # The reconstructed 20 Newsgroups archive has no upstream URL: only a mirror has it.
    monkeypatch.delenv("SHIFTLAB_DATA_MIRROR")
    with pytest.raises(DatasetNotAvailableError, match="no public URL serves these exact bytes"):
        load_dataset("twenty_newsgroups")


@network
def test_missing_file_in_read_only_home(tmp_path, mirror, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_DATA_MIRROR", mirror.url)
    home = tmp_path / "ro"
    home.mkdir()
    home.chmod(0o555)
    try:
        with pytest.raises(DatasetNotAvailableError, match="read-only"):
            load_mushrooms(data_home=home)
    finally:
        home.chmod(0o755)
    assert _leftovers(home) == []


@network
def test_url_fallback_order(tmp_path, mirror, shared_data_home):
    good = dataset_info("phishing").files[0]
    served = f"{mirror.url}/{good.path}"
    corrupt = f"{mirror.url}/{CORRUPTED}"
    dead = f"http://127.0.0.1:{_closed_port()}/x"
    entry = DataFile(good.path, good.sha256, good.size, (dead, corrupt, served))
    path = fetch_file(entry, tmp_path / "a", True)  # the third URL works
    assert sha256_file(path) == good.sha256
    bad = DataFile(good.path, good.sha256, good.size, (dead, corrupt))
    with pytest.raises(ChecksumError, match="No download .* had the expected sha256"):
        fetch_file(bad, tmp_path / "b", True)
    assert _leftovers(tmp_path / "b") == []


# ---------------------------------------------------------------- local checksums
def test_corrupted_local_file_is_reported_not_deleted(tmp_path, shared_data_home):
    entry = dataset_info("phishing").files[0]
    local = tmp_path / entry.path
    local.parent.mkdir(parents=True)
    data = bytearray((shared_data_home / entry.path).read_bytes())
    data[-5] ^= 1
    local.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match="Delete it and load again") as err:
        load_dataset("phishing", data_home=tmp_path)
    assert entry.sha256 in str(err.value) and str(local) in str(err.value)
    assert local.read_bytes() == bytes(data)  # the user's file is left alone


def test_verification_memo_notices_changes(tmp_path, shared_data_home):
    entry = dataset_info("wine_quality").file("winequality-red.csv")
    local = tmp_path / "copy.csv"
    shutil.copyfile(shared_data_home / entry.path, local)
    assert verify_file(local, entry) == local
    assert verify_file(local, entry) == local  # memoised: same size and mtime
    data = bytearray(local.read_bytes())
    data[200] = ord("7") if data[200] != ord("7") else ord("6")
    local.write_bytes(bytes(data))
    st = local.stat()
    os.utime(local, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a later write
    with pytest.raises(ChecksumError):
        verify_file(local, entry)


def test_truncated_local_file_reports_size(tmp_path, shared_data_home):
    entry = dataset_info("mushrooms").file("agaricus-lepiota.data")
    local = tmp_path / entry.path
    local.parent.mkdir(parents=True)
    local.write_bytes((shared_data_home / entry.path).read_bytes()[:1000])
    with pytest.raises(ChecksumError, match=f"1000 bytes instead of {entry.size}"):
        load_mushrooms(data_home=tmp_path, download=False)


@pytest.fixture
def digits_home(tmp_path, monkeypatch, shared_data_home):
    """A writable data home holding the digit files of the shared one (USPS and the
    MNIST test set), as a user's home before the MNIST training set is downloaded."""
    home = tmp_path / "digits_home"
    for entry in dataset_info("mnist_usps_full").required_files:
        dest = entry.local_path(home)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(entry.local_path(shared_data_home), dest)
    monkeypatch.setenv("SHIFTLAB_DATA", str(home))
    return home


@network
def test_mnist_training_set_is_downloaded_when_asked(digits_home, tmp_path, monkeypatch):
    # The real 60000-digit files are not on this machine: the mirror serves the test
    # set's files under the training files' names, and the catalog entries carry their
    # sums, so the loader's own fetch, checksum and reading run end to end.
    import dataclasses

    import shiftlab.data.loaders._images as images

    info = dataset_info("mnist_usps_full")
    root = tmp_path / "mnist_mirror"
    entries = []
    for entry in info.files:
        if entry.required:
            entries.append(entry)
            continue
        stand_in = digits_home / "digits_usps_mnist_full" / entry.filename.replace("train", "t10k")
        dest = root / entry.path
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(stand_in, dest)
        entries.append(dataclasses.replace(entry, sha256=sha256_file(dest),
                                           size=dest.stat().st_size))
    monkeypatch.setattr(images, "dataset_info",
                        lambda name: dataclasses.replace(info, files=tuple(entries)))
    server = _Mirror(root)
    server.thread.start()
    try:
        monkeypatch.setenv("SHIFTLAB_DATA_MIRROR", server.url)
        ds = images.load_mnist_usps_full(mnist_split="auto", usps_split="train")
    finally:
        server.server.shutdown()
        server.server.server_close()
    assert server.count("digits_usps_mnist_full/train-images-idx3-ubyte.gz") == 1
    assert ds.metadata["options"]["mnist_split"] == "train"
    assert "digits_usps_mnist_full/train-images-idx3-ubyte.gz" in ds.metadata["files"]
    assert ds["mnist"][0].shape == (10000, 784) and ds["usps"][0].shape == (7291, 784)
    # Once downloaded it is read from the data home (the mirror is gone).
    again = images.load_mnist_usps_full(mnist_split="train", usps_split="train")
    np.testing.assert_array_equal(again["mnist"][1], ds["mnist"][1])


@network
def test_mnist_training_set_offline(digits_home, monkeypatch):
    monkeypatch.setenv("SHIFTLAB_DATA_MIRROR", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(DownloadError) as err:
        load_dataset("mnist_usps_full", mnist_split="train")
    assert "mnist_split='test'" in str(err.value)  # the way out is named
    with pytest.warns(UserWarning, match="uses the 10000 digits of the MNIST test set"):
        ds = load_dataset("mnist_usps_full", mnist_split="auto")
    assert ds.metadata["options"]["mnist_split"] == "test"
    assert ds["mnist"][0].shape == (10000, 784)
    assert _leftovers(digits_home / "digits_usps_mnist_full") == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", "usps.h5"]
