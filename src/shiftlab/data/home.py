"""Where dataset files live, and how they get there: data home, download, sha256 checks.

Layout
------
Every dataset of the catalog (:mod:`shiftlab.data.catalog`) keeps its files in one
folder of the *data home*: ``<data home>/<folder>/<file>``. The folder names are those
of the project's shared dataset snapshot (``office_caltech10_surf``, ``uci_mushrooms``,
...), so pointing the data home at such a snapshot works as it is, even read-only.

The data home is, in order of precedence:

1. the ``data_home`` argument of a loader or of :func:`get_data_home`;
2. the environment variable ``SHIFTLAB_DATA``;
3. a per-user cache folder: ``$XDG_CACHE_HOME/shiftlab`` (``~/.cache/shiftlab`` when
   ``XDG_CACHE_HOME`` is unset) on Linux and other Unix systems,
   ``~/Library/Caches/shiftlab`` on macOS and ``%LOCALAPPDATA%\\shiftlab\\Cache`` on
   Windows, following each platform's convention for re-creatable data [1]_.

Integrity
---------
Each file has a sha256 digest recorded in the catalog. A file found in the data home
is checked before use (the result is memoised per process, keyed by the file's stat
stamp described below, so repeated loads do not hash again). A missing file is
downloaded, when allowed, to a temporary file *in the destination folder*, hashed while
it is written, and only renamed into place (an atomic ``os.replace``) once its digest
matches. A failed or corrupted download therefore never leaves a partial or wrong file
where a later load would find it, and concurrent processes downloading the same file
cannot see each other's half-written copies.

Listing what is in a data home (:func:`check_files`, behind
:func:`shiftlab.data.catalog.local_state`, :func:`~shiftlab.data.catalog.is_available`
and ``shiftlab datasets``) verifies every present file as well, so that a corrupted
file is reported as such instead of as available. So that a listing does not hash
every file every time, the digests it computes are kept in ``<data home>/.verified.json``
(:data:`VERIFIED_CACHE`), each under the file's path and *stat stamp*: size,
modification time, status-change time (``st_ctime``) and inode, in nanoseconds. A
second listing costs one ``stat`` per file. The JSON file is written atomically (a
temporary file in the data home, then ``os.replace``) and never in a read-only data
home, which then works as it is but is hashed at each listing.

*Trade-off.* The stamp, not the content, decides whether a file is hashed again. Any
write to a file moves its modification time, and putting that time back with
``os.utime`` moves its ``st_ctime``, which only the kernel sets: such edits are
noticed. A write within the same timestamp tick as the hashing could leave the stamp
unchanged (the "racy" case of git's index), so a digest is remembered, in the JSON file
and in the per-process memo alike, only for a file whose times were at least
:data:`SETTLE_SECONDS` old when hashing began; a fresher file is hashed again next time.
What still goes unnoticed is a file system without a real ``st_ctime`` (on Windows it
is the creation time, so an ``os.utime`` that restores the modification time goes
unnoticed there) or a clock set back by hand. ``recheck=True``
(``shiftlab datasets --recheck``) hashes every file again and refreshes the cache.

Mirrors
-------
``SHIFTLAB_DATA_MIRROR`` (or the ``base_url`` argument) replaces the upstream URLs by
``<mirror>/<folder>/<file>``, the same layout as the data home, so any static HTTP
server over a data home is a mirror. When a mirror is set, only the mirror is tried.

References
----------
.. [1] XDG Base Directory Specification, version 0.8, freedesktop.org, 2021.
   https://specifications.freedesktop.org/basedir-spec/latest/
.. [2] NIST, *Secure Hash Standard (SHS)*, FIPS PUB 180-4, 2015 (SHA-256).
   https://doi.org/10.6028/NIST.FIPS.180-4
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from shiftlab.exceptions import ChecksumError, DatasetNotAvailableError, DownloadError

__all__ = [
    "DATA_HOME_ENV",
    "FEATURE_CACHE_ENV",
    "MIRROR_ENV",
    "SETTLE_SECONDS",
    "VERIFIED_CACHE",
    "DataFile",
    "LocalState",
    "check_files",
    "default_data_home",
    "fetch_file",
    "fetch_files",
    "get_data_home",
    "get_feature_cache_dir",
    "is_writable",
    "sha256_file",
    "verify_file",
]

logger = logging.getLogger("shiftlab.data")

#: Environment variable naming the data home.
DATA_HOME_ENV = "SHIFTLAB_DATA"
#: Environment variable naming a mirror (base URL) to download from instead of upstream.
MIRROR_ENV = "SHIFTLAB_DATA_MIRROR"
#: Environment variable naming the folder for cached featurisations (text datasets).
FEATURE_CACHE_ENV = "SHIFTLAB_CACHE"
#: File of the data home that keeps the digests listings computed (see "Integrity").
VERIFIED_CACHE = ".verified.json"
#: A digest is remembered only for files whose times were this much older than the
#: hashing (seconds; covers the timestamp granularity of common file systems).
SETTLE_SECONDS = 1.0

_CHUNK = 1 << 20


@dataclass(frozen=True)
class DataFile:
    """One file of a dataset, as recorded in the catalog.

    Attributes
    ----------
    path : str
        Path relative to the data home, ``"<folder>/<file>"`` (POSIX separators).
    sha256 : str
        Hex sha256 digest of the exact bytes the loaders expect.
    size : int
        Size in bytes (reported when a file fails its checksum, to spot truncation).
    urls : tuple of str
        Public URLs that serve exactly these bytes, tried in order. Empty when no
        public upstream serves these bytes (a file reconstructed or re-compressed for
        the snapshot): such a file comes from a mirror or is placed by hand.
    origin : str
        Provenance: repository, commit and path the bytes were taken from.
    required : bool
        Whether the loader reads the file. Companion files (documentation, image
        names) are catalogued and verified but not needed to load the dataset.
    """

    path: str
    sha256: str
    size: int
    urls: tuple[str, ...] = ()
    origin: str = ""
    required: bool = True

    @property
    def folder(self) -> str:
        return self.path.split("/", 1)[0]

    @property
    def filename(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def local_path(self, data_home: str | os.PathLike | None = None) -> Path:
        """Where the file lives in the data home (whether or not it exists)."""
        return get_data_home(data_home).joinpath(*self.path.split("/"))

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "size": self.size,
            "urls": list(self.urls),
            "origin": self.origin,
            "required": self.required,
        }


# ------------------------------------------------------------------------ data home
def default_data_home() -> Path:
    """The per-user default data home (see the module docstring for each platform)."""
    if sys.platform.startswith("win"):
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        return Path(base) / "shiftlab" / "Cache"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "shiftlab"
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says relative values are invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "shiftlab"


def _expand(path: str | os.PathLike) -> Path:
    return Path(os.path.expandvars(os.path.expanduser(os.fspath(path))))


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Resolve the data home: argument, then ``$SHIFTLAB_DATA``, then the per-user default.

    ``~`` and environment variables in the path are expanded. The folder is *not*
    created here (a read-only data home is valid); downloads create it when needed.

    Parameters
    ----------
    data_home : str or path-like, optional
        Explicit data home; wins over the environment variable.

    Returns
    -------
    pathlib.Path
        Absolute path of the data home.
    """
    if data_home is not None and os.fspath(data_home) != "":
        return _expand(data_home).absolute()
    env = os.environ.get(DATA_HOME_ENV, "")
    if env:
        return _expand(env).absolute()
    return default_data_home().absolute()


def is_writable(path: str | os.PathLike) -> bool:
    """Whether new files may be created in ``path`` (or in its nearest existing parent).

    Besides :func:`os.access`, a folder without any write permission bit counts as
    read-only: ``os.access`` answers yes to the super-user for every folder, and a data
    snapshot marked read-only (``r-x``) must stay untouched whoever runs the code.
    """
    p = Path(path)
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    if not p.is_dir():
        return False
    mode = p.stat().st_mode
    return bool(mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)) and os.access(p, os.W_OK)


def get_feature_cache_dir(data_home: str | os.PathLike | None = None) -> Path:
    """Folder for cached featurisations (TF-IDF + SVD of the text datasets).

    ``$SHIFTLAB_CACHE`` when set; else ``<data home>/_features`` when the data home is
    writable; else ``<per-user default data home>/_features``, so that a read-only data
    home (a shared snapshot) is never written to.
    """
    env = os.environ.get(FEATURE_CACHE_ENV, "")
    if env:
        return _expand(env).absolute()
    home = get_data_home(data_home)
    if is_writable(home):
        return home / "_features"
    return default_data_home().absolute() / "_features"


# ---------------------------------------------------------------------- checksums
#: Per-process memo of verified files: resolved path -> (stat stamp, sha256 it matched).
_verified: dict[str, tuple[tuple[int, int, int, int], str]] = {}
_verified_lock = threading.Lock()


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    """The stat stamp a cached digest is trusted under (see "Integrity" above)."""
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)


def _settled(st: os.stat_result, hashed_from_ns: int) -> bool:
    """Whether the file's times were :data:`SETTLE_SECONDS` old when hashing began.

    Only then may its digest be remembered under its stamp: a write in the same
    timestamp tick as the hashing could leave the stamp as it was.
    """
    newest = max(st.st_mtime_ns, st.st_ctime_ns)
    return newest < hashed_from_ns - int(SETTLE_SECONDS * 1e9)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 digest of a file, read in 1 MiB chunks [2]_."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _checksum_message(what: str, path: Path, entry: DataFile, actual: str, fix: str) -> str:
    return (
        f"Checksum mismatch for {what} {entry.path!r} ({path}): expected sha256 "
        f"{entry.sha256}, got {actual}. {fix}"
    )


def verify_file(path: str | os.PathLike, entry: DataFile) -> Path:
    """Check that the file at ``path`` has the digest recorded in ``entry``.

    The outcome is memoised per process by the file's stat stamp (size, modification
    and status-change times, inode): a file that was verified and has not changed since
    is not hashed again (unless it had changed just before it was hashed; see
    :data:`SETTLE_SECONDS`).

    Raises
    ------
    ChecksumError
        The file's sha256 differs from the catalog's (message: file, expected and
        actual digests, and what to do).
    """
    path = Path(path)
    st = path.stat()
    key = os.fspath(path.resolve())
    with _verified_lock:
        hit = _verified.get(key)
    if hit is not None and hit == (_stamp(st), entry.sha256):
        return path
    hashed_from = time.time_ns()
    actual = sha256_file(path)
    if actual != entry.sha256:
        size_note = (
            f"It has {st.st_size} bytes instead of {entry.size} (truncated or another "
            "version). " if st.st_size != entry.size else ""
        )
        raise ChecksumError(
            _checksum_message(
                "file",
                path,
                entry,
                actual,
                size_note
                + "The local copy is corrupted or a different version. Delete it and load "
                "again to download it afresh (download=True), or replace it with the file "
                f"from {entry.urls[0] if entry.urls else 'the original snapshot'}.",
            )
        )
    if _settled(st, hashed_from):
        with _verified_lock:
            _verified[key] = (_stamp(st), entry.sha256)
    return path


# ------------------------------------------------------------------------ download
def _mirror_url(base_url: str, entry: DataFile) -> str:
    quoted = "/".join(urllib.parse.quote(part) for part in entry.path.split("/"))
    return base_url.rstrip("/") + "/" + quoted


def _candidate_urls(entry: DataFile, base_url: str | None) -> list[str]:
    base = base_url if base_url is not None else os.environ.get(MIRROR_ENV, "")
    if base:
        return [_mirror_url(base, entry)]
    return list(entry.urls)


def _download_to(url: str, dest: Path, entry: DataFile, timeout: float) -> None:
    """Download ``url`` into ``dest``'s folder and move it to ``dest`` if its sha256 is right.

    Raises ``urllib.error.URLError``/``OSError`` on transfer errors and
    :class:`ChecksumError` on a digest mismatch; in both cases no file is left behind.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        h = hashlib.sha256()
        request = urllib.request.Request(url, headers={"User-Agent": "shiftlab-data"})
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=timeout) as r:
            for chunk in iter(lambda: r.read(_CHUNK), b""):
                h.update(chunk)
                out.write(chunk)
        actual = h.hexdigest()
        if actual != entry.sha256:
            raise ChecksumError(
                _checksum_message(
                    "the download of",
                    dest,
                    entry,
                    actual,
                    f"The server at {url} sent different bytes (a corrupted transfer, a "
                    "changed upstream file or a wrong mirror); nothing was written to the "
                    "data home. Try again later, use another mirror "
                    f"({MIRROR_ENV}), or place a verified copy at {dest}.",
                )
            )
        # mkstemp creates 0600 files; make the cached copy readable like any download.
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def fetch_file(
    entry: DataFile,
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
    *,
    timeout: float = 60.0,
) -> Path:
    """Return the local path of a catalogued file, downloading and verifying it if needed.

    Parameters
    ----------
    entry : DataFile
        The catalog record of the file.
    data_home : str or path-like, optional
        Data home (see :func:`get_data_home`).
    download : bool, default=True
        Download the file when it is missing. With ``False`` a missing file raises
        :class:`~shiftlab.exceptions.DatasetNotAvailableError`.
    base_url : str, optional
        Mirror to download from (``<base_url>/<folder>/<file>``) instead of the upstream
        URLs; defaults to ``$SHIFTLAB_DATA_MIRROR``.
    timeout : float, default=60.0
        Socket timeout of each download attempt, in seconds.

    Returns
    -------
    pathlib.Path
        Path of the verified file in the data home.

    Raises
    ------
    ChecksumError
        The local file, or every downloaded copy, has a different sha256.
    DownloadError
        The file is missing and every URL failed (offline, HTTP error, ...).
    DatasetNotAvailableError
        The file is missing and cannot be downloaded: ``download=False``, no URL is
        known for it, or the data home is read-only.
    """
    home = get_data_home(data_home)
    dest = home.joinpath(*entry.path.split("/"))
    if dest.is_file():
        return verify_file(dest, entry)

    manual = (
        f"Place the file there by hand (sha256 {entry.sha256}), point {DATA_HOME_ENV} (or "
        f"data_home=) at a folder holding '{entry.path}', or set {MIRROR_ENV} to a mirror "
        "with the same layout."
    )
    urls = _candidate_urls(entry, base_url)
    if not download:
        hint = f" It can be downloaded from {urls[0]}." if urls else ""
        raise DatasetNotAvailableError(
            f"Missing file {entry.path!r}: not found in the data home ({dest}) and "
            f"download=False.{hint} Pass download=True, or: {manual}"
        )
    if not urls:
        raise DatasetNotAvailableError(
            f"Missing file {entry.path!r}: not found in the data home ({dest}), and no public "
            f"URL serves these exact bytes (provenance: {entry.origin or 'unknown'}). "
            f"{manual}"
        )
    if not is_writable(home):
        raise DatasetNotAvailableError(
            f"Missing file {entry.path!r}: not found in the data home ({dest}), and the data "
            f"home is read-only so it cannot be downloaded there. Set {DATA_HOME_ENV} (or "
            "data_home=) to a writable folder, or add the file to this data home by hand."
        )
    # Remember which folders this call creates, to remove them again if nothing arrives.
    created = [p for p in (dest.parent, *dest.parent.parents) if not p.exists()]
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _download_first(entry, dest, urls, timeout, manual)
    except BaseException:
        for folder in created:  # deepest first
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (another process wrote there) or not ours to remove
        raise


def _download_first(
    entry: DataFile, dest: Path, urls: list[str], timeout: float, manual: str
) -> Path:
    """Try ``urls`` in order; return the verified file or raise the fitting error."""
    failures: list[str] = []
    checksum_error: ChecksumError | None = None
    for url in urls:
        logger.info("Downloading %s to %s", url, dest)
        try:
            _download_to(url, dest, entry, timeout)
        except ChecksumError as exc:
            checksum_error = exc
            failures.append(f"{url}: checksum mismatch")
            continue
        except urllib.error.HTTPError as exc:
            failures.append(f"{url}: HTTP {exc.code} {exc.reason}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as exc:
            # URLError covers refused connections and DNS failures; OSError covers
            # timeouts and resets mid-transfer; ValueError covers malformed URLs.
            reason = getattr(exc, "reason", None) or exc
            failures.append(f"{url}: {reason}")
            continue
        return verify_file(dest, entry)
    if checksum_error is not None and len(urls) == 1:
        raise checksum_error
    if checksum_error is not None:
        raise ChecksumError(
            f"No download of {entry.path!r} had the expected sha256 {entry.sha256}; nothing "
            "was written to the data home. Attempts: " + "; ".join(failures) + f". {manual}"
        )
    raise DownloadError(
        f"Missing file {entry.path!r}: not found in the data home ({dest}) and the download "
        "failed (offline, server unreachable, or file not on the server). Tried: "
        + "; ".join(failures)
        + f". {manual}"
    )


def fetch_files(
    entries: Sequence[DataFile],
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> dict[str, Path]:
    """Fetch several files; return ``{entry.path: local path}``."""
    return {e.path: fetch_file(e, data_home, download, base_url) for e in entries}


# --------------------------------------------------------------------- local state
@dataclass(frozen=True)
class LocalState:
    """What a data home holds of one dataset, its files' sizes and sha256 checked.

    Attributes
    ----------
    state : {"yes", "no", "partial", "corrupt"}
        ``"corrupt"``: a file present in the data home, needed by the loader or not,
        fails its check (size or sha256) or cannot be read. Otherwise ``"yes"``: every
        file the loader needs is present (companion files may be missing); ``"no"``:
        no file of the dataset is present; ``"partial"``: some are, but a needed one
        is missing.
    available : bool
        Whether every file the loader needs is present and verified, so that loading
        needs no download. Also true when the only corrupt file is a companion file
        the loader does not read (``state`` is then ``"corrupt"``).
    file : DataFile or None
        The first offending file: the first corrupt one, else the first missing file
        the loader needs; ``None`` when ``state`` is ``"yes"`` or ``"no"``.
    path : pathlib.Path or None
        Where ``file`` is, or would be, in the data home.
    problem : str
        What is wrong with ``file``: ``"sha256 mismatch"``, ``"size mismatch (...)"``,
        ``"unreadable (...)"``, ``"not a regular file"`` or ``"missing"``.
    """

    state: str
    available: bool
    file: DataFile | None = None
    path: Path | None = None
    problem: str = ""

    def __str__(self) -> str:
        if self.file is None:
            return self.state
        return f"{self.state}: {self.file.path} {self.problem}"

    def advice(self, name: str) -> str:
        """The state in one line with what to do about it, for the dataset ``name``.

        Parameters
        ----------
        name : str
            Catalog name of the dataset, for the re-download command.

        Returns
        -------
        str
            ``str(self)``, followed for ``"corrupt"`` and ``"partial"`` by how to get
            a good copy (there is no download sub-command: files are downloaded by
            :func:`shiftlab.data.fetch_dataset` and by the loaders).
        """
        if self.file is None:
            return str(self)
        fetch = (
            f"shiftlab.data.fetch_dataset({name!r}) (or load the dataset with download=True)"
        )
        if self.state == "corrupt":
            fix = f"delete {self.path} and download it again with {fetch}"
        else:
            fix = f"download the missing files with {fetch}"
        if not self.file.urls:
            fix += (
                f"; no public URL serves this file: set {MIRROR_ENV} to a mirror or copy it "
                "from the original snapshot"
            )
        return f"{self} - {fix}"


_cache_lock = threading.Lock()
_STAMP_FIELDS = ("size", "mtime_ns", "ctime_ns", "inode")


def _read_cache(home: Path) -> dict[str, dict]:
    """The digests of ``<home>/.verified.json``; empty when absent or unreadable."""
    try:
        with open(home / VERIFIED_CACHE, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) and data.get("format") == 1 else None
    return dict(files) if isinstance(files, dict) else {}


def _write_cache(home: Path, files: dict[str, dict]) -> None:
    """Replace ``<home>/.verified.json`` atomically; do nothing in a read-only data home."""
    if not home.is_dir() or not is_writable(home):
        return
    tmp: Path | None = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=VERIFIED_CACHE + ".", suffix=".tmp", dir=home)
        tmp = Path(tmp_name)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump({"format": 1, "files": files}, out, indent=1, sort_keys=True)
        os.chmod(tmp, 0o644)
        os.replace(tmp, home / VERIFIED_CACHE)
    except OSError as exc:  # a full disk or a racing clean-up: the cache is optional
        logger.debug("could not write %s: %s", home / VERIFIED_CACHE, exc)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()


def _cached_digest(record: object, stamp: tuple[int, int, int, int]) -> str | None:
    if not isinstance(record, dict) or not isinstance(record.get("sha256"), str):
        return None
    return record["sha256"] if tuple(record.get(k) for k in _STAMP_FIELDS) == stamp else None


def _check_present(
    entry: DataFile, path: Path, st: os.stat_result, cache: dict[str, dict], recheck: bool
) -> tuple[str, bool]:
    """Check one present file; return ``(problem or "", whether the cache changed)``."""
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file", cache.pop(entry.path, None) is not None
    if st.st_size != entry.size:  # no need to hash: the catalog records the size
        problem = f"size mismatch ({st.st_size} bytes instead of {entry.size})"
        return problem, cache.pop(entry.path, None) is not None
    stamp = _stamp(st)
    memo_key = os.fspath(path.resolve())
    cached = None if recheck else _cached_digest(cache.get(entry.path), stamp)
    digest = cached
    if digest is None and not recheck:
        with _verified_lock:
            if _verified.get(memo_key) == (stamp, entry.sha256):
                digest = entry.sha256  # hashed earlier by this process
    settled = True  # a digest from the JSON file or the memo was recorded settled
    if digest is None:
        hashed_from = time.time_ns()
        try:
            digest = sha256_file(path)
        except OSError as exc:
            changed = cache.pop(entry.path, None) is not None
            return f"unreadable ({exc.strerror or exc})", changed
        settled = _settled(st, hashed_from)
        if digest == entry.sha256 and settled:
            # Only a digest hashed here feeds the loaders' memo, never one read from
            # the JSON file: loaders hash each file once per process.
            with _verified_lock:
                _verified[memo_key] = (stamp, entry.sha256)
    changed = False
    if cached is None:  # record what was found, or forget a stale record
        record = {**dict(zip(_STAMP_FIELDS, stamp, strict=True)), "sha256": digest}
        if settled:
            changed = cache.get(entry.path) != record
            cache[entry.path] = record
        else:
            changed = cache.pop(entry.path, None) is not None
    return ("" if digest == entry.sha256 else "sha256 mismatch"), changed


def check_files(
    files: Sequence[DataFile],
    data_home: str | os.PathLike | None = None,
    *,
    recheck: bool = False,
    update_cache: bool = True,
) -> LocalState:
    """Check which of a dataset's files the data home holds, and whether they are intact.

    Every present file is checked against the catalog: its size, then its sha256 [2]_.
    Digests are looked up in ``<data home>/.verified.json`` (and in the memo of
    :func:`verify_file`) under the file's stat stamp before any hashing; see "Integrity"
    in the module docstring for the trade-off this makes.

    Parameters
    ----------
    files : sequence of DataFile
        The catalog records of the dataset's files (``DatasetInfo.files``).
    data_home : str or path-like, optional
        Data home (see :func:`get_data_home`).
    recheck : bool, default=False
        Hash every present file, trusting no cached digest.
    update_cache : bool, default=True
        Record new digests in ``<data home>/.verified.json`` (skipped, silently, when the
        data home is read-only or does not exist). With ``False`` nothing is written.

    Returns
    -------
    LocalState
        The state, whether the loader can run without a download, and the first
        offending file.
    """
    home = get_data_home(data_home)
    corrupt: tuple[DataFile, Path, str] | None = None
    missing: tuple[DataFile, Path] | None = None
    any_present = False
    available = True
    with _cache_lock:
        cache = _read_cache(home)
        changed = False
        for entry in files:
            path = entry.local_path(home)
            try:
                st = path.stat()
            except OSError:  # missing, or an unreachable folder: not there either way
                changed |= cache.pop(entry.path, None) is not None
                if entry.required:
                    available = False
                    missing = missing or (entry, path)
                continue
            any_present = True
            problem, cache_changed = _check_present(entry, path, st, cache, recheck)
            changed |= cache_changed
            if problem:
                available = available and not entry.required
                corrupt = corrupt or (entry, path, problem)
        if changed and update_cache:
            _write_cache(home, cache)
    if corrupt is not None:
        return LocalState("corrupt", available, *corrupt)
    if missing is None:
        return LocalState("yes", True)
    if not any_present:
        return LocalState("no", False)
    return LocalState("partial", False, *missing, problem="missing")
