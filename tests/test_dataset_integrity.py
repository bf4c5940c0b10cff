"""Integrity of the files a data home holds: ``shiftlab datasets`` and ``local_state``.

Every test works on real files: a temporary data home holding copies of two small
datasets of ../shared/datasets (mushrooms: one needed file and one companion file;
wine_quality: two needed files and one companion file). Files are corrupted by flipping
one bit in place, which keeps their size, so only the sha256 can tell. The CLI runs as a
user would run it (a real subprocess), which also means a fresh process with no
in-memory memo: what it knows between two listings comes from ``.verified.json``.

A digest is cached only for a file whose times were ``SETTLE_SECONDS`` old when it was
hashed (see "Integrity" in shiftlab.data.home), and copying a file sets its ctime to
now: tests that need the cache in play start from ``settled_home``, which waits that
long once.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shiftlab.data.catalog import dataset_info, is_available, local_state
from shiftlab.data.home import SETTLE_SECONDS, VERIFIED_CACHE, check_files

pytestmark = pytest.mark.data

FOLDERS = ("uci_mushrooms", "uci_wine_quality_red_white")
MUSHROOMS = "uci_mushrooms/agaricus-lepiota.data"
MUSHROOMS_NAMES = "uci_mushrooms/agaricus-lepiota.names"
WINE_WHITE = "uci_wine_quality_red_white/winequality-white.csv"


@pytest.fixture
def home(tmp_path, shared_data_home) -> Path:
    """A writable data home with copies of the mushrooms and wine_quality files."""
    root = tmp_path / "data_home"
    for folder in FOLDERS:
        shutil.copytree(shared_data_home / folder, root / folder)
    for path in [root, *root.rglob("*")]:  # the snapshot is read-only; the copy is not
        path.chmod(0o755 if path.is_dir() else 0o644)
    return root


@pytest.fixture
def settled_home(home) -> Path:
    """``home`` once its files are old enough for their digests to be cached."""
    time.sleep(SETTLE_SECONDS + 0.2)
    return home


def flip(path: Path, offset: int = 1000) -> None:
    """Flip one bit of ``path`` in place (same size, new modification time)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)[0]
        fh.seek(offset)
        fh.write(bytes([byte ^ 1]))


def shiftlab(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "shiftlab.cli", *args], capture_output=True,
                         text=True, timeout=180, env=env)
    assert out.returncode == 0, out.stderr
    return out


def local_column(stdout: str, name: str) -> str:
    """The ``local`` cell of dataset ``name``'s row in the ``shiftlab datasets`` table."""
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if cells and cells[0] == name:
            return cells[-1]
    raise AssertionError(f"no row for {name!r} in:\n{stdout}")


def read_cache(home: Path) -> dict:
    return json.loads((home / VERIFIED_CACHE).read_text())["files"]


# ----------------------------------------------------------------------------- the CLI
def test_listing_reports_a_flipped_byte_then_recovers(settled_home):
    """yes -> corrupt (one bit flipped, same size) -> yes (bit restored), in the CLI.

    The first listing caches the digests; the flip keeps the size but moves the mtime,
    so the cached digest is not used and the file is hashed again.
    """
    home = settled_home
    target = home / MUSHROOMS
    out = shiftlab("datasets", "--data-home", str(home))
    assert local_column(out.stdout, "mushrooms") == "yes"
    assert local_column(out.stdout, "wine_quality") == "yes"
    assert local_column(out.stdout, "phishing") == "no"
    assert "corrupt" not in out.stdout
    assert MUSHROOMS in read_cache(home)  # the digests are cached from now on

    flip(target)
    out = shiftlab("datasets", "--data-home", str(home))
    assert local_column(out.stdout, "mushrooms") == "corrupt"
    assert local_column(out.stdout, "wine_quality") == "yes"
    # One line says which file, what is wrong, and how to get a good copy again.
    (advice,) = [line for line in out.stdout.splitlines() if line.startswith("mushrooms:")]
    assert f"corrupt: {MUSHROOMS} sha256 mismatch" in advice
    assert f"delete {target}" in advice and "fetch_dataset('mushrooms')" in advice

    info = shiftlab("datasets", "--data-home", str(home), "info", "mushrooms")
    assert "corrupt" in info.stdout and f"{MUSHROOMS} sha256 mismatch" in info.stdout

    flip(target)  # the same bit again: the original bytes, with yet another mtime
    out = shiftlab("datasets", "--data-home", str(home))
    assert local_column(out.stdout, "mushrooms") == "yes"
    assert "corrupt" not in out.stdout


def test_second_listing_reads_digests_from_the_cache(settled_home):
    """A listing in a fresh process takes a file's digest from .verified.json unhashed.

    Proof: a forged digest recorded under the file's true stat stamp is believed (the
    intact file is reported corrupt), until ``--recheck`` hashes the file and repairs it.
    """
    home = settled_home
    shiftlab("datasets", "--data-home", str(home))
    cache = read_cache(home)
    record = cache[MUSHROOMS]
    st = (home / MUSHROOMS).stat()
    assert (record["size"], record["mtime_ns"], record["ctime_ns"], record["inode"]) == (
        st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
    assert record["sha256"] == dataset_info("mushrooms").file("agaricus-lepiota.data").sha256

    record["sha256"] = "0" * 64
    (home / VERIFIED_CACHE).write_text(json.dumps({"format": 1, "files": cache}))
    out = shiftlab("datasets", "--data-home", str(home))
    assert local_column(out.stdout, "mushrooms") == "corrupt"  # the file was not read

    out = shiftlab("datasets", "--data-home", str(home), "--recheck")
    assert local_column(out.stdout, "mushrooms") == "yes"
    assert read_cache(home)[MUSHROOMS]["sha256"] != "0" * 64
    assert local_column(shiftlab("datasets", "--data-home", str(home)).stdout,
                        "mushrooms") == "yes"


# ----------------------------------------------------------------------- local_state
def test_flip_with_mtime_put_back_is_still_detected(settled_home):
    """Size and mtime as cached, yet corrupt: os.utime moves st_ctime, part of the stamp.

    This is the documented trade-off: the cache key is the stat stamp (size, mtime,
    ctime, inode), not the content, and ctime is what an ``os.utime`` cannot restore.
    """
    home = settled_home
    target = home / MUSHROOMS
    assert local_state("mushrooms", home).state == "yes"
    before = target.stat()
    flip(target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = target.stat()
    record = read_cache(home)[MUSHROOMS]
    assert (after.st_size, after.st_mtime_ns) == (record["size"], record["mtime_ns"])

    state = local_state("mushrooms", home)
    assert (state.state, state.file.path, state.problem) == (
        "corrupt", MUSHROOMS, "sha256 mismatch")
    assert not state.available and not is_available("mushrooms", home)


def test_states_partial_no_and_size_mismatch(home, tmp_path):
    (home / WINE_WHITE).unlink()
    state = local_state("wine_quality", home)
    assert (state.state, state.file.path, state.problem) == ("partial", WINE_WHITE, "missing")
    assert not state.available and not is_available("wine_quality", home)
    assert "fetch_dataset('wine_quality')" in state.advice("wine_quality")

    empty = local_state("wine_quality", tmp_path / "nowhere")
    assert (empty.state, empty.file, empty.available) == ("no", None, False)
    assert not (tmp_path / "nowhere").exists()  # checking creates nothing

    target = home / MUSHROOMS
    target.write_bytes(target.read_bytes()[:-10])
    state = local_state("mushrooms", home)
    assert state.state == "corrupt" and state.problem.startswith("size mismatch (373694 bytes")


def test_corrupt_companion_file_leaves_the_dataset_loadable(home):
    """A bad file the loader does not read is reported, but is_available stays true."""
    flip(home / MUSHROOMS_NAMES, offset=10)
    state = local_state("mushrooms", home)
    assert (state.state, state.file.path, state.available) == ("corrupt", MUSHROOMS_NAMES, True)
    assert is_available("mushrooms", home)


def test_is_available_rejects_a_corrupt_file_and_writes_nothing(home):
    assert is_available("mushrooms", home)
    flip(home / MUSHROOMS)
    assert not is_available("mushrooms", home)
    assert not (home / VERIFIED_CACHE).exists()  # a query, not a listing: no cache file


def test_read_only_home_is_checked_without_writing(home, shared_data_home):
    before = sorted(p.name for p in shared_data_home.rglob("*"))
    assert local_state("mushrooms", shared_data_home).state == "yes"
    assert sorted(p.name for p in shared_data_home.rglob("*")) == before

    flip(home / MUSHROOMS)
    home.chmod(0o555)
    try:
        assert local_state("mushrooms", home).state == "corrupt"
        assert local_state("wine_quality", home).state == "yes"
        assert sorted(p.name for p in home.iterdir()) == sorted(FOLDERS)
    finally:
        home.chmod(0o755)


def test_unreadable_cache_is_ignored_and_replaced(settled_home):
    home = settled_home
    (home / VERIFIED_CACHE).write_text("{not json")
    assert local_state("mushrooms", home).state == "yes"
    assert read_cache(home)[MUSHROOMS]["size"] == 373704
    assert [p.name for p in home.iterdir() if p.name.startswith(VERIFIED_CACHE + ".")] == []


def test_recheck_and_check_files_without_cache_update(settled_home):
    home = settled_home
    files = dataset_info("wine_quality").files
    assert check_files(files, home, update_cache=False).state == "yes"
    assert not (home / VERIFIED_CACHE).exists()
    assert check_files(files, home, recheck=True).state == "yes"
    assert set(read_cache(home)) == {f.path for f in files}


def test_just_written_files_are_hashed_but_not_cached(home):
    """Files changed less than SETTLE_SECONDS before hashing get no cached digest.

    Their stamp could still change within the same timestamp tick, so the next listing
    hashes them again (a flip in that tick is then still caught).
    """
    assert local_state("mushrooms", home).state == "yes"
    cached = read_cache(home) if (home / VERIFIED_CACHE).exists() else {}
    assert MUSHROOMS not in cached
    flip(home / MUSHROOMS)
    assert local_state("mushrooms", home).state == "corrupt"


def test_home_does_not_import_the_catalog():
    """The catalog <-> home import cycle is gone: home.py imports no catalog."""
    import shiftlab.data.home as home_module

    tree = ast.parse(Path(home_module.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not [name for name in imported if "catalog" in name]
