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
is checked before use (the result is memoised per process, keyed by the file's size
and modification time, so repeated loads do not hash again). A missing file is
downloaded, when allowed, to a temporary file *in the destination folder*, hashed while
it is written, and only renamed into place (an atomic ``os.replace``) once its digest
matches. A failed or corrupted download therefore never leaves a partial or wrong file
where a later load would find it, and concurrent processes downloading the same file
cannot see each other's half-written copies.

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
import logging
import os
import stat
import sys
import tempfile
import threading
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
    "DataFile",
    "default_data_home",
    "fetch_file",
    "fetch_files",
    "get_data_home",
    "get_feature_cache_dir",
    "is_available",
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
_verified: dict[str, tuple[int, int, str]] = {}
_verified_lock = threading.Lock()


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

    The outcome is memoised per process by ``(size, mtime)``: a file that was verified
    and has not changed since is not hashed again.

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
    if hit is not None and hit[:2] == (st.st_size, st.st_mtime_ns) and hit[2] == entry.sha256:
        return path
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
    with _verified_lock:
        _verified[key] = (st.st_size, st.st_mtime_ns, entry.sha256)
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


def is_available(name: str, data_home: str | os.PathLike | None = None) -> bool:
    """Whether every file a dataset's loader needs is present in the data home.

    Presence only; the sha256 checks happen when the dataset is loaded.

    Raises
    ------
    UnknownNameError
        ``name`` is not in the catalog.
    """
    from shiftlab.data.catalog import dataset_info  # the catalog imports this module

    info = dataset_info(name)
    return all(f.local_path(data_home).is_file() for f in info.files if f.required)


def fetch_files(
    entries: Sequence[DataFile],
    data_home: str | os.PathLike | None = None,
    download: bool = True,
    base_url: str | None = None,
) -> dict[str, Path]:
    """Fetch several files; return ``{entry.path: local path}``."""
    return {e.path: fetch_file(e, data_home, download, base_url) for e in entries}
