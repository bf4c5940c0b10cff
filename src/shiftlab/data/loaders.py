"""Loaders of the real domain-adaptation datasets of the catalog.

Every loader reads the files of one catalog entry (:mod:`shiftlab.data.catalog`) from
the data home, downloading and verifying them when needed (:mod:`shiftlab.data.home`),
and returns a :class:`~shiftlab.data.DomainDataset` whose domains are named as in the
literature. Features are float64, labels int64 class ids ``0..K-1`` whose names are the
dataset's ``target_names``. Loaders never modify the files or any shared state except
the feature cache of the text datasets.

All loaders take ``data_home=None, download=True`` and keyword-only, dataset-specific
options; :func:`load_dataset` dispatches on the catalog name::

    >>> from shiftlab.data.loaders import load_dataset        # doctest: +SKIP
    >>> ds = load_dataset("office_caltech10_surf")           # doctest: +SKIP
    >>> X, y, sample_domain = ds.pack("caltech", "amazon")   # doctest: +SKIP

===========================  ================================  ===========================
name                         domains                           tasks in the literature
===========================  ================================  ===========================
office_caltech10_surf        amazon, caltech, dslr, webcam     all 12 ordered pairs
office_caltech10_decaf6      dslr, webcam (partial)            dslr <-> webcam
office_caltech10_googlenet   amazon, dslr, webcam (partial)    the 6 ordered pairs
amazon_review_400            books, dvd, electronics, kitchen  all 12 ordered pairs
amazon_review_text           books, dvd, electronics, kitchen  all 12 ordered pairs
mnist_usps                   mnist, usps (JDA subsets)         mnist <-> usps
mnist_usps_full              mnist (test set), usps            mnist <-> usps
mushrooms                    enlarging, tapering               both directions
phishing                     ip, no_ip                         both directions
wine_quality                 red, white                        both directions
twenty_newsgroups            source, target (per task)         source -> target
===========================  ================================  ===========================
"""

from __future__ import annotations

import gzip
import hashlib
import inspect
import json
import os
import re
import struct
import tarfile
import threading
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from shiftlab.data.catalog import NEWSGROUPS_SPLITS, DatasetInfo, dataset_info
from shiftlab.data.dataset import DomainDataset
from shiftlab.data.home import fetch_file, get_feature_cache_dir
from shiftlab.data.text import TFIDF_SVD_DEFAULTS, tfidf_svd
from shiftlab.exceptions import DataValidationError, ShiftlabError, suggest

__all__ = [
    "fetch_dataset",
    "load_amazon_review_400",
    "load_amazon_review_text",
    "load_dataset",
    "load_mnist_usps",
    "load_mnist_usps_full",
    "load_mushrooms",
    "load_office_caltech10_decaf6",
    "load_office_caltech10_googlenet",
    "load_office_caltech10_surf",
    "load_phishing",
    "load_twenty_newsgroups",
    "load_wine_quality",
    "read_amazon_review_text",
    "read_twenty_newsgroups_text",
]

PathLike = str | os.PathLike | None
Domains = dict[str, tuple[np.ndarray, np.ndarray]]

# Bumped whenever a featurisation changes, so stale feature caches are not reused.
_FEATURE_VERSION = 1


# ============================================================================ helpers
def _check_choice(option: str, value, choices) -> None:
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        hint = suggest(str(value), [str(c) for c in choices]) if isinstance(value, str) else ""
        raise DataValidationError(
            f"Invalid {option}={value!r}.{hint} Valid values: {listed}."
        )


def _fetch(info: DatasetInfo, data_home: PathLike, download: bool) -> dict[str, Path]:
    """Fetch the files a loader needs; return ``{file name: local path}``."""
    return {
        f.filename: fetch_file(f, data_home, download) for f in info.files if f.required
    }


def _file_digests(info: DatasetInfo) -> dict[str, str]:
    return {f.path: f.sha256 for f in info.files if f.required}


def _normalise(X: np.ndarray, how: str) -> np.ndarray:
    """Per-sample (and, for 'l1_zscore', per-domain) normalisation of one domain."""
    X = np.asarray(X, dtype=np.float64)
    if how == "none":
        return X
    if how in ("l1", "l1_zscore"):
        norms = np.abs(X).sum(axis=1, keepdims=True)
    else:  # l2
        norms = np.sqrt((X * X).sum(axis=1, keepdims=True))
    # All-zero rows stay zero instead of becoming NaN.
    X = X / np.where(norms > 0, norms, 1.0)
    if how == "l1_zscore":
        # GFK's recipe (MATLAB zscore: sample std, ddof=1), within the domain; constant
        # features become 0 rather than NaN.
        std = X.std(axis=0, ddof=1) if X.shape[0] > 1 else np.zeros(X.shape[1])
        X = (X - X.mean(axis=0)) / np.where(std > 0, std, 1.0)
    return X


_NORMALIZE = ("none", "l1", "l2", "l1_zscore")


def _labels(raw, offset: int = 0) -> np.ndarray:
    return np.asarray(raw).ravel().astype(np.int64) - offset


_FROM_CATALOG = object()  # sentinel: class names as in the catalog entry


def _dataset(
    info: DatasetInfo,
    domains: Domains,
    options: dict,
    *,
    feature_names=None,
    target_names=_FROM_CATALOG,
    extra: dict | None = None,
) -> DomainDataset:
    metadata = {
        "dataset": info.name,
        "title": info.title,
        "options": options,
        "domain_definition": info.domain_definition,
        "citation": list(info.citation),
        "licence": info.licence,
        "files": _file_digests(info),
        **(extra or {}),
    }
    return DomainDataset(
        domains,
        name=info.name,
        feature_names=list(feature_names) if feature_names is not None else None,
        target_names=(
            list(info.classes) if target_names is _FROM_CATALOG
            else None if target_names is None else list(target_names)
        ),
        metadata=metadata,
    )


def _loadmat(path: Path) -> dict:
    from scipy.io import loadmat

    return loadmat(path)


# ------------------------------------------------------------------- feature cache
def _cached_features(
    info: DatasetInfo,
    params: dict,
    compute: Callable[[], Domains],
    *,
    cache: bool,
    data_home: PathLike,
) -> Domains:
    """Return ``compute()``, memoised on disk by dataset, parameters and file digests."""
    if not cache:
        return compute()
    import sklearn

    key = json.dumps(
        {
            "dataset": info.name,
            "version": _FEATURE_VERSION,
            "params": params,
            "files": _file_digests(info),
            # TF-IDF / SVD details can change between scikit-learn releases.
            "sklearn": sklearn.__version__,
        },
        sort_keys=True,
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    folder = get_feature_cache_dir(data_home)
    path = folder / f"{info.name}-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                names = [str(n) for n in data["domains"]]
                return {n: (data[f"X_{i}"], data[f"y_{i}"]) for i, n in enumerate(names)}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile):
            pass  # unreadable cache entry: recompute and overwrite it
    domains = compute()
    arrays = {"domains": np.array(list(domains))}
    for i, (X, y) in enumerate(domains.values()):
        arrays[f"X_{i}"] = X
        arrays[f"y_{i}"] = y
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)  # atomic: concurrent loaders never read a partial file
    except OSError as exc:
        warnings.warn(
            f"Could not cache the {info.name} features in {folder} ({exc}); they will be "
            "recomputed next time. Set SHIFTLAB_CACHE to a writable folder to cache them.",
            RuntimeWarning,
            stacklevel=3,
        )
    return domains


def _text_params(n_components, max_features, random_state) -> dict:
    params = dict(TFIDF_SVD_DEFAULTS)
    params.update(n_components=n_components, max_features=max_features,
                  random_state=random_state)
    return params


def _featurise(texts_by_domain: dict[str, tuple[list[str], np.ndarray]], params: dict) -> Domains:
    """Fit TF-IDF + SVD on the documents of all domains (no labels), split back by domain."""
    names = list(texts_by_domain)
    texts = [t for n in names for t in texts_by_domain[n][0]]
    Z = tfidf_svd(texts, **params)
    out: Domains = {}
    start = 0
    for n in names:
        docs, y = texts_by_domain[n]
        out[n] = (Z[start:start + len(docs)], np.asarray(y, dtype=np.int64))
        start += len(docs)
    return out


# ===================================================================== Office-Caltech
_SURF_FILES = {
    "amazon": "amazon_SURF_L10.mat",
    "caltech": "Caltech10_SURF_L10.mat",
    "dslr": "dslr_SURF_L10.mat",
    "webcam": "webcam_SURF_L10.mat",
}


def load_office_caltech10_surf(
    data_home: PathLike = None, download: bool = True, *, normalize: str = "l1"
) -> DomainDataset:
    """Office-Caltech10 with 800-d SURF bag-of-words features (GFK release).

    Four domains of the 10 categories shared by Office [2]_ and Caltech-256 [3]_, as
    set up by Gong et al. [1]_: ``amazon`` (958), ``caltech`` (1123), ``dslr`` (157),
    ``webcam`` (295). The protocol has no train/test split: all source samples ->
    all target samples, 12 ordered pairs.

    Parameters
    ----------
    data_home : str or path-like, optional
        Data home (default: ``$SHIFTLAB_DATA``, else the per-user cache folder).
    download : bool, default=True
        Download missing files from their upstream source.
    normalize : {"l1", "none", "l2", "l1_zscore"}, default="l1"
        ``"l1"`` divides each histogram by its sum (label-free, per sample);
        ``"none"`` keeps the raw counts (0..115); ``"l1_zscore"`` is the GFK recipe [1]_:
        L1 rows, then each feature standardised *within each domain* (sample std).

    Returns
    -------
    DomainDataset
        800 features; labels 0..9 = back_pack, bike, calculator, headphones, keyboard,
        laptop_computer, monitor, mouse, mug, projector.

    References
    ----------
    .. [1] B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic Flow Kernel for Unsupervised
       Domain Adaptation. CVPR 2012.
    .. [2] K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to
       New Domains. ECCV 2010.
    .. [3] G. Griffin, A. Holub, P. Perona. Caltech-256 Object Category Dataset. 2007.
    """
    _check_choice("normalize", normalize, _NORMALIZE)
    info = dataset_info("office_caltech10_surf")
    paths = _fetch(info, data_home, download)
    domains: Domains = {}
    for domain in info.domains:
        m = _loadmat(paths[_SURF_FILES[domain]])
        domains[domain] = (_normalise(m["fts"], normalize), _labels(m["labels"], 1))
    return _dataset(info, domains, {"normalize": normalize})


def _load_office_deep(name: str, key: str, files: dict[str, str], data_home, download,
                      normalize: str) -> DomainDataset:
    _check_choice("normalize", normalize, _NORMALIZE)
    info = dataset_info(name)
    paths = _fetch(info, data_home, download)
    domains: Domains = {}
    for domain in info.domains:
        m = _loadmat(paths[files[domain]])
        domains[domain] = (_normalise(m[key], normalize), _labels(m["labels"], 1))
    return _dataset(info, domains, {"normalize": normalize})


def load_office_caltech10_decaf6(
    data_home: PathLike = None, download: bool = True, *, normalize: str = "none"
) -> DomainDataset:
    """Office-Caltech10 DeCAF6 features (4096-d), **dslr and webcam only**.

    DeCAF fc6 activations [1]_ of the Office-Caltech10 images [2]_; rows are in the
    order of :func:`load_office_caltech10_surf`. The amazon and caltech files were not
    obtainable, so only ``dslr`` (157) and ``webcam`` (295) exist.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    normalize : {"none", "l1", "l2", "l1_zscore"}, default="none"
        Per-sample normalisation (``"l1_zscore"`` also standardises per domain).

    Returns
    -------
    DomainDataset
        4096 non-negative features, 10 classes (as the SURF version).

    References
    ----------
    .. [1] J. Donahue et al. DeCAF: A Deep Convolutional Activation Feature for Generic
       Visual Recognition. ICML 2014.
    .. [2] B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic Flow Kernel for Unsupervised
       Domain Adaptation. CVPR 2012.
    """
    files = {"dslr": "dslr_decaf.mat", "webcam": "webcam_decaf.mat"}
    return _load_office_deep("office_caltech10_decaf6", "feas", files, data_home, download,
                             normalize)


def load_office_caltech10_googlenet(
    data_home: PathLike = None, download: bool = True, *, normalize: str = "none"
) -> DomainDataset:
    """Office-Caltech10 GoogLeNet pool5 features (1024-d), **amazon, dslr, webcam**.

    GoogLeNet [1]_ features of the Office-Caltech10 images [2]_ (L. Gautheron's
    release); rows are in the order of :func:`load_office_caltech10_surf`. The caltech
    file was not obtainable: domains ``amazon`` (958), ``dslr`` (157), ``webcam`` (295).

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    normalize : {"none", "l1", "l2", "l1_zscore"}, default="none"
        Per-sample normalisation (``"l1_zscore"`` also standardises per domain).

    Returns
    -------
    DomainDataset
        1024 features (float32 in the files, returned as float64), 10 classes.

    References
    ----------
    .. [1] C. Szegedy et al. Going deeper with convolutions. CVPR 2015.
    .. [2] B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic Flow Kernel for Unsupervised
       Domain Adaptation. CVPR 2012.
    """
    files = {d: f"{d}.mat" for d in ("amazon", "dslr", "webcam")}
    return _load_office_deep("office_caltech10_googlenet", "fts", files, data_home, download,
                             normalize)


# ====================================================================== Amazon reviews
_AMAZON400_FILES = {
    "books": "books_400.mat",
    "dvd": "dvd_400.mat",
    "electronics": "elec_400.mat",
    "kitchen": "kitchen_400.mat",
}


def load_amazon_review_400(data_home: PathLike = None, download: bool = True) -> DomainDataset:
    """Amazon product reviews [1]_ with the classic 400-d features [2]_.

    Domains are product categories: ``books`` (2000), ``dvd`` (1999), ``electronics``
    (1998), ``kitchen`` (1999); label 0 = negative, 1 = positive review. The features
    are the distributed normalised weights of 400 frequent terms, used as they are (the
    vocabulary is not distributed).

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.

    Returns
    -------
    DomainDataset
        400 features in [0, 1], 2 classes.

    References
    ----------
    .. [1] J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, Boom-boxes and
       Blenders: Domain Adaptation for Sentiment Classification. ACL 2007.
    .. [2] M. Chen, Z. Xu, K. Weinberger, F. Sha. Marginalized Denoising Autoencoders for
       Domain Adaptation. ICML 2012.
    """
    info = dataset_info("amazon_review_400")
    paths = _fetch(info, data_home, download)
    domains: Domains = {}
    for domain in info.domains:
        m = _loadmat(paths[_AMAZON400_FILES[domain]])
        domains[domain] = (np.asarray(m["fts"], dtype=np.float64), _labels(m["labels"]))
    return _dataset(info, domains, {})


_REVIEW_TEXT = re.compile(r"<review_text>\s*(.*?)\s*</review_text>", flags=re.S)


def read_amazon_review_text(
    data_home: PathLike = None, download: bool = True
) -> dict[str, tuple[list[str], np.ndarray]]:
    """The raw labelled Amazon reviews [1]_, for your own featurisation.

    Returns
    -------
    dict
        ``{domain: (texts, y)}`` for books, dvd, electronics, kitchen: the
        ``<review_text>`` of the 1000 negative reviews (label 0), then of the 1000
        positive ones (label 1).

    References
    ----------
    .. [1] J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, Boom-boxes and
       Blenders: Domain Adaptation for Sentiment Classification. ACL 2007.
    """
    info = dataset_info("amazon_review_text")
    paths = _fetch(info, data_home, download)
    out: dict[str, tuple[list[str], np.ndarray]] = {}
    for domain in info.domains:
        texts: list[str] = []
        labels: list[np.ndarray] = []
        for label, polarity in enumerate(("negative", "positive")):
            # The files are latin-1 pseudo-XML (bare '&', no root): a regex, not a parser.
            with gzip.open(paths[f"{domain}_{polarity}.review.gz"], "rt",
                           encoding="latin-1") as fh:
                found = _REVIEW_TEXT.findall(fh.read())
            texts += found
            labels.append(np.full(len(found), label, dtype=np.int64))
        out[domain] = (texts, np.concatenate(labels))
    return out


def load_amazon_review_text(
    data_home: PathLike = None,
    download: bool = True,
    *,
    n_components: int = 300,
    max_features: int | None = 20000,
    random_state: int = 0,
    cache: bool = True,
) -> DomainDataset:
    """Raw Amazon reviews [1]_ featurised with TF-IDF + truncated SVD (no network).

    Domains ``books``, ``dvd``, ``electronics``, ``kitchen``: 2000 reviews each (1000
    negative = label 0, 1000 positive = label 1). The text of each review is featurised
    by :func:`shiftlab.data.text.tfidf_svd` fitted on the 8000 reviews of all domains
    together, without labels (transductive, label-free). SKADA-Bench [2]_ uses
    sentence-transformer embeddings instead; use :func:`read_amazon_review_text` to build
    those.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    n_components : int, default=300
        Output dimension of the SVD.
    max_features : int or None, default=20000
        TF-IDF vocabulary size.
    random_state : int, default=0
        Seed of the randomized SVD.
    cache : bool, default=True
        Cache the features on disk (see :func:`shiftlab.data.home.get_feature_cache_dir`).

    Returns
    -------
    DomainDataset
        ``n_components`` features with unit L2 rows, 2 classes.

    References
    ----------
    .. [1] J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, Boom-boxes and
       Blenders: Domain Adaptation for Sentiment Classification. ACL 2007.
    .. [2] Y. Lalou et al. SKADA-Bench: Benchmarking Unsupervised Domain Adaptation
       Methods with Realistic Validation. arXiv:2407.11676, 2024.
    """
    info = dataset_info("amazon_review_text")
    params = _text_params(n_components, max_features, random_state)
    _fetch(info, data_home, download)  # fail early (and verify) before any cache lookup
    domains = _cached_features(
        info,
        params,
        lambda: _featurise(read_amazon_review_text(data_home, download), params),
        cache=cache,
        data_home=data_home,
    )
    options = {"n_components": n_components, "max_features": max_features,
               "random_state": random_state}
    return _dataset(info, domains, options, extra={"featurisation": params})


# ========================================================================== digits
def load_mnist_usps(
    data_home: PathLike = None, download: bool = True, *, normalize: str = "none"
) -> DomainDataset:
    """MNIST <-> USPS as in JDA [1]_: 2000 MNIST and 1800 USPS digits, 16x16 pixels.

    The random subsets of MNIST [2]_ (resized to 16x16) and USPS [3]_ released with
    JDA; the 1-NN baselines of the JDA paper are reproduced with ``normalize="l2"``.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    normalize : {"none", "l2"}, default="none"
        ``"none"``: raw intensities in [0, 1]. ``"l2"``: unit-norm rows. Do not
        standardise USPS with MNIST statistics: MNIST's background is exactly 0 and
        USPS's about 0.02, so the near-zero MNIST stds blow USPS up.

    Returns
    -------
    DomainDataset
        Domains ``mnist`` (2000) and ``usps`` (1800); 256 features (16x16 images in C
        order); labels 0..9 are the digits (the file's labels 1..10 minus one).

    References
    ----------
    .. [1] M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. Transfer Feature Learning with
       Joint Distribution Adaptation. ICCV 2013.
    .. [2] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied
       to document recognition. Proc. IEEE 1998.
    .. [3] J. J. Hull. A database for handwritten text recognition research. IEEE TPAMI
       1994.
    """
    _check_choice("normalize", normalize, ("none", "l2"))
    info = dataset_info("mnist_usps")
    paths = _fetch(info, data_home, download)
    m = _loadmat(paths["MNIST_vs_USPS.mat"])
    # The file stores features x samples.
    domains = {
        "mnist": (_normalise(m["X_src"].T, normalize), _labels(m["Y_src"], 1)),
        "usps": (_normalise(m["X_tar"].T, normalize), _labels(m["Y_tar"], 1)),
    }
    return _dataset(info, domains, {"normalize": normalize})


def _read_idx(path: Path, expected_magic: int) -> np.ndarray:
    """Read a gzipped IDX file (LeCun's MNIST format: big-endian header, uint8 data)."""
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = struct.unpack(">I", raw[:4])[0]
    if magic != expected_magic:
        raise DataValidationError(
            f"{path} is not an IDX file of the expected kind (magic {magic}, expected "
            f"{expected_magic}); delete it and load again to re-download it."
        )
    ndim = magic & 0xFF
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _resize(images: np.ndarray, size: int) -> np.ndarray:
    """Resize a stack of square images to ``size x size`` (bilinear, pixel-area aligned)."""
    from scipy import ndimage

    current = images.shape[1]
    if current == size:
        return images
    factor = size / current
    if factor < 1:
        # Low-pass first so that downsampling does not alias thin strokes.
        sigma = (1.0 / factor - 1.0) / 2.0
        images = ndimage.gaussian_filter(images, sigma=(0, sigma, sigma), mode="nearest")
    out = ndimage.zoom(images, (1, factor, factor), order=1, mode="nearest", grid_mode=True)
    return np.clip(out, 0.0, 1.0)


def load_mnist_usps_full(
    data_home: PathLike = None,
    download: bool = True,
    *,
    usps_split: str = "all",
    image_size: int = 28,
    normalize: str = "none",
) -> DomainDataset:
    """MNIST test set [1]_ (10000 digits) <-> full USPS [2]_ (7291 train + 2007 test).

    The two domains come at different resolutions (28x28 and 16x16) and pixel scales;
    both are brought to [0, 1] and to a common ``image_size``. SKADA-Bench [3]_ resizes
    USPS to 28x28, the default here. The MNIST training set is not part of the snapshot.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    usps_split : {"all", "train", "test"}, default="all"
        USPS samples to use: both splits (9298), train (7291) or test (2007).
    image_size : {28, 16}, default=28
        28: USPS is upsampled (bilinear). 16: MNIST is downsampled (Gaussian pre-filter,
        then bilinear), the resolution of :func:`load_mnist_usps`.
    normalize : {"none", "l2"}, default="none"
        Per-sample L2 normalisation of the pixel vectors.

    Returns
    -------
    DomainDataset
        Domains ``mnist`` (10000) and ``usps``; ``image_size**2`` features (images in C
        order); labels 0..9 are the digits.

    References
    ----------
    .. [1] Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied
       to document recognition. Proc. IEEE 1998.
    .. [2] J. J. Hull. A database for handwritten text recognition research. IEEE TPAMI
       1994.
    .. [3] Y. Lalou et al. SKADA-Bench: Benchmarking Unsupervised Domain Adaptation
       Methods with Realistic Validation. arXiv:2407.11676, 2024.
    """
    import h5py

    _check_choice("usps_split", usps_split, ("all", "train", "test"))
    _check_choice("image_size", image_size, (28, 16))
    image_size = int(image_size)
    _check_choice("normalize", normalize, ("none", "l2"))
    info = dataset_info("mnist_usps_full")
    paths = _fetch(info, data_home, download)
    images = _read_idx(paths["t10k-images-idx3-ubyte.gz"], 2051).astype(np.float64) / 255.0
    mnist_y = _read_idx(paths["t10k-labels-idx1-ubyte.gz"], 2049).astype(np.int64)
    splits = ("train", "test") if usps_split == "all" else (usps_split,)
    with h5py.File(paths["usps.h5"], "r") as h5:
        usps = np.concatenate([h5[f"{s}/data"][()] for s in splits]).astype(np.float64)
        usps_y = np.concatenate([h5[f"{s}/target"][()] for s in splits]).astype(np.int64)
    usps = usps.reshape(-1, 16, 16)
    images, usps = _resize(images, image_size), _resize(usps, image_size)
    n_features = image_size * image_size
    domains = {
        "mnist": (_normalise(images.reshape(-1, n_features), normalize), mnist_y),
        "usps": (_normalise(usps.reshape(-1, n_features), normalize), usps_y),
    }
    options = {"usps_split": usps_split, "image_size": image_size, "normalize": normalize}
    return _dataset(info, domains, options)


# ========================================================================= tabular
_MUSHROOM_COLUMNS = (
    "class", "cap-shape", "cap-surface", "cap-color", "bruises", "odor", "gill-attachment",
    "gill-spacing", "gill-size", "gill-color", "stalk-shape", "stalk-root",
    "stalk-surface-above-ring", "stalk-surface-below-ring", "stalk-color-above-ring",
    "stalk-color-below-ring", "veil-type", "veil-color", "ring-number", "ring-type",
    "spore-print-color", "population", "habitat",
)


def load_mushrooms(
    data_home: PathLike = None, download: bool = True, *, keep_domain_feature: bool = True
) -> DomainDataset:
    """UCI Mushroom [1]_ with domains defined by stalk shape [2]_ (SKADA-Bench [3]_).

    Domains: ``enlarging`` (stalk-shape ``e``, 3516 samples) and ``tapering`` (``t``,
    4608). Label 0 = edible, 1 = poisonous.

    Features: each of the 22 categorical attributes is one-hot encoded over the
    categories present in the whole file (fitted on all rows, without labels, as in
    SKADA-Bench), attributes in file order and codes sorted: 117 columns named
    ``"<attribute>=<code>"`` with the UCI letter codes (see ``agaricus-lepiota.names``).
    The missing stalk-root value ``?`` is its own category.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    keep_domain_feature : bool, default=True
        Keep the two stalk-shape columns (constant within each domain), as SKADA-Bench
        does; ``False`` drops them (115 features).

    Returns
    -------
    DomainDataset

    References
    ----------
    .. [1] J. Schlimmer. Mushroom [data set]. UCI Machine Learning Repository, 1987.
       doi:10.24432/C5959T
    .. [2] W. Dai, Q. Yang, G.-R. Xue, Y. Yu. Boosting for Transfer Learning. ICML 2007.
    .. [3] Y. Lalou et al. SKADA-Bench. arXiv:2407.11676, 2024.
    """
    import pandas as pd

    info = dataset_info("mushrooms")
    paths = _fetch(info, data_home, download)
    df = pd.read_csv(paths["agaricus-lepiota.data"], header=None, dtype=str,
                     names=list(_MUSHROOM_COLUMNS), keep_default_na=False)
    blocks, names = [], []
    for column in _MUSHROOM_COLUMNS[1:]:
        if column == "stalk-shape" and not keep_domain_feature:
            continue
        codes, inverse = np.unique(df[column].to_numpy(), return_inverse=True)
        blocks.append(np.eye(codes.size)[inverse])
        names += [f"{column}={c}" for c in codes]
    X = np.hstack(blocks)
    y = (df["class"].to_numpy() == "p").astype(np.int64)
    shape = df["stalk-shape"].to_numpy()
    domains = {name: (X[shape == code], y[shape == code])
               for name, code in (("enlarging", "e"), ("tapering", "t"))}
    return _dataset(info, domains, {"keep_domain_feature": keep_domain_feature},
                    feature_names=names)


def _read_arff(path: Path) -> tuple[list[str], np.ndarray]:
    """Attribute names and the integer data of a numeric-nominal ARFF file."""
    names: list[str] = []
    with open(path, encoding="latin-1") as fh:
        text = fh.read()
    parts = re.split(r"^\s*@data\s*$", text, maxsplit=1, flags=re.M | re.I)
    if len(parts) != 2:
        raise DataValidationError(
            f"{path} has no @data section; it is not an ARFF file. Delete it and load again "
            "to re-download it."
        )
    head, body = parts
    for line in head.splitlines():
        m = re.match(r"\s*@attribute\s+(\S+)", line, flags=re.I)
        if m:
            names.append(m.group(1))
    rows = [ln for ln in body.splitlines() if ln.strip() and not ln.lstrip().startswith("%")]
    data = np.array([ln.split(",") for ln in rows], dtype=np.int64)
    if data.shape[1] != len(names):
        raise DataValidationError(
            f"{path}: {data.shape[1]} values per row but {len(names)} attributes; the file "
            "is not the UCI phishing ARFF. Delete it and load again to re-download it."
        )
    return names, data


def load_phishing(
    data_home: PathLike = None, download: bool = True, *, keep_domain_feature: bool = True
) -> DomainDataset:
    """UCI Phishing Websites [1]_ [2]_ with domains defined by ``having_IP_Address``.

    The split of SKADA-Bench [3]_. Domains: ``ip`` (having_IP_Address = -1, 3793
    samples) and ``no_ip`` (+1, 7262). In the UCI feature coding -1 is the
    phishing-indicating value, i.e. the URL uses an IP address instead of a domain name;
    SKADA-Bench calls the same two groups ``no_ip_adress`` (-1) and ``ip_adress`` (+1).
    Label (``Result``): 0 = phishing (-1), 1 = legitimate (+1), as in SKADA-Bench.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    keep_domain_feature : bool, default=True
        Keep having_IP_Address (constant within each domain) in X, as SKADA-Bench does;
        ``False`` drops it (29 features).

    Returns
    -------
    DomainDataset
        30 features with values in {-1, 0, 1}, named as the ARFF attributes.

    References
    ----------
    .. [1] R. M. Mohammad, F. Thabtah, L. McCluskey. Phishing Websites [data set]. UCI
       Machine Learning Repository, 2015. doi:10.24432/C51W2X
    .. [2] R. M. Mohammad, F. Thabtah, L. McCluskey. An assessment of features related
       to phishing websites using an automated technique. ICITST 2012.
    .. [3] Y. Lalou et al. SKADA-Bench. arXiv:2407.11676, 2024.
    """
    info = dataset_info("phishing")
    paths = _fetch(info, data_home, download)
    names, data = _read_arff(paths["phishing.arff"])
    X, result = data[:, :-1].astype(np.float64), data[:, -1]
    feature_names = names[:-1]
    ip = data[:, feature_names.index("having_IP_Address")]
    y = (result == 1).astype(np.int64)
    if not keep_domain_feature:
        keep = [i for i, n in enumerate(feature_names) if n != "having_IP_Address"]
        X, feature_names = X[:, keep], [feature_names[i] for i in keep]
    domains = {"ip": (X[ip == -1], y[ip == -1]), "no_ip": (X[ip == 1], y[ip == 1])}
    return _dataset(info, domains, {"keep_domain_feature": keep_domain_feature},
                    feature_names=feature_names)


def load_wine_quality(
    data_home: PathLike = None,
    download: bool = True,
    *,
    target: str = "binary",
    threshold: int = 6,
) -> DomainDataset:
    """UCI Wine Quality [1]_: red vs white Vinho Verde as two domains.

    Domains ``red`` (1599) and ``white`` (4898), 11 physico-chemical features (unscaled).
    Not a classic DA benchmark but a natural covariate *and* label shift: the quality
    distributions differ between the colours.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    target : {"binary", "multiclass"}, default="binary"
        ``"binary"``: 1 if quality >= ``threshold`` else 0 (the usual binarisation;
        red 855 / 1599 and white 3258 / 4898 positives at 6). ``"multiclass"``: the
        quality score as class: labels 0..6 stand for qualities 3..9 (``target_names``
        ``"3"``..``"9"``; red has no 9). There is no regression
        target: quality is an integer score, which the domain convention
        (:func:`shiftlab.data.label_kind`) reads as class labels.
    threshold : int, default=6
        Threshold of the binary target.

    Returns
    -------
    DomainDataset

    References
    ----------
    .. [1] P. Cortez, A. Cerdeira, F. Almeida, T. Matos, J. Reis. Modeling wine
       preferences by data mining from physicochemical properties. Decision Support
       Systems 47(4), 2009.
    """
    import pandas as pd

    _check_choice("target", target, ("binary", "multiclass"))
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.number):
        raise DataValidationError(f"threshold must be a number, got {threshold!r}.")
    info = dataset_info("wine_quality")
    paths = _fetch(info, data_home, download)
    frames = {d: pd.read_csv(paths[f"winequality-{d}.csv"], sep=";") for d in info.domains}
    feature_names = [c for c in frames["red"].columns if c != "quality"]
    qualities = {d: df["quality"].to_numpy(dtype=np.int64) for d, df in frames.items()}
    if target == "binary":
        if not all((q >= threshold).any() and (q < threshold).any() for q in qualities.values()):
            raise DataValidationError(
                f"threshold={threshold} leaves a domain with a single class; use a "
                "threshold between 4 and 8."
            )
        labels = {d: (q >= threshold).astype(np.int64) for d, q in qualities.items()}
        target_names = [f"quality<{threshold}", f"quality>={threshold}"]
    else:
        # One class index per quality value present in either domain.
        scores = np.unique(np.concatenate(list(qualities.values())))
        labels = {d: np.searchsorted(scores, q).astype(np.int64) for d, q in qualities.items()}
        target_names = [str(q) for q in scores]
    domains: Domains = {
        d: (frames[d][feature_names].to_numpy(dtype=np.float64), labels[d]) for d in info.domains
    }
    return _dataset(info, domains, {"target": target, "threshold": threshold},
                    feature_names=feature_names, target_names=target_names)


# ================================================================== 20 Newsgroups
_archive_lock = threading.Lock()
_archive_memo: dict[tuple[str, str], dict[str, list[str]]] = {}


def _read_newsgroups_archive(path: Path, sha256: str) -> dict[str, list[str]]:
    """``{group: [post, ...]}`` from a 20news-bydate archive, train posts then test posts.

    Memoised for the last archive read, since every task reads the same 14 MB archive.
    """
    key = (os.fspath(path), sha256)
    with _archive_lock:
        if key in _archive_memo:
            return _archive_memo[key]
    entries: list[tuple[str, int, str, str]] = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3:
                continue
            split, group, post_id = parts
            order = 0 if split.endswith("train") else 1
            text = tar.extractfile(member).read().decode("latin-1")
            entries.append((group, order, post_id, text))
    # Tar order is arbitrary: sort by group, split (train first) and numeric post id.
    entries.sort(key=lambda e: (e[0], e[1], int(e[2]) if e[2].isdigit() else 0, e[2]))
    groups: dict[str, list[str]] = {}
    for group, _, _, text in entries:
        groups.setdefault(group, []).append(text)
    with _archive_lock:
        _archive_memo.clear()
        _archive_memo[key] = groups
    return groups


def _parse_task(task: str) -> tuple[str, str]:
    valid = [f"{a}-vs-{b}" for a in NEWSGROUPS_SPLITS for b in NEWSGROUPS_SPLITS if a != b]
    text = str(task).strip().lower().replace("_", "-").replace(" ", "-")
    a, sep, b = text.partition("-vs-")
    if not sep or a not in NEWSGROUPS_SPLITS or b not in NEWSGROUPS_SPLITS or a == b:
        raise DataValidationError(
            f"Invalid task={task!r}.{suggest(text, valid)} Valid tasks: {', '.join(valid)} "
            "(the first category gets label 0)."
        )
    return a, b


def _strip_header(post: str) -> str:
    # A post's header block ends at its first blank line (RFC 1036 layout).
    _, sep, body = post.partition("\n\n")
    return body if sep else post


def read_twenty_newsgroups_text(
    data_home: PathLike = None,
    download: bool = True,
    *,
    task: str = "rec-vs-talk",
    remove_headers: bool = True,
) -> dict[str, tuple[list[str], np.ndarray]]:
    """The posts of one 20 Newsgroups DA task [1]_ [2]_, for your own featurisation.

    Returns
    -------
    dict
        ``{"source": (texts, y), "target": (texts, y)}`` (see
        :func:`load_twenty_newsgroups` for the split and the labels). Within a domain,
        posts are ordered by category, subcategory, split (train first) and post id.

    References
    ----------
    .. [1] K. Lang. NewsWeeder: Learning to filter netnews. ICML 1995.
    .. [2] W. Dai, Q. Yang, G.-R. Xue, Y. Yu. Boosting for Transfer Learning. ICML 2007.
    """
    a, b = _parse_task(task)
    info = dataset_info("twenty_newsgroups")
    entry = info.files[0]
    paths = _fetch(info, data_home, download)
    groups = _read_newsgroups_archive(paths[entry.filename], entry.sha256)
    out: dict[str, tuple[list[str], np.ndarray]] = {}
    for side, domain in enumerate(("source", "target")):
        texts: list[str] = []
        labels: list[int] = []
        for label, category in enumerate((a, b)):
            for group in NEWSGROUPS_SPLITS[category][side]:
                if group not in groups:
                    raise ShiftlabError(
                        f"Newsgroup {group!r} is missing from {paths[entry.filename]}; the "
                        "archive is not the 20news-bydate collection. Delete it and load again."
                    )
                posts = groups[group]
                texts += [_strip_header(p) for p in posts] if remove_headers else list(posts)
                labels += [label] * len(posts)
        out[domain] = (texts, np.asarray(labels, dtype=np.int64))
    return out


def load_twenty_newsgroups(
    data_home: PathLike = None,
    download: bool = True,
    *,
    task: str = "rec-vs-talk",
    remove_headers: bool = True,
    n_components: int = 300,
    max_features: int | None = 20000,
    random_state: int = 0,
    cache: bool = True,
) -> DomainDataset:
    """20 Newsgroups [1]_ top-category tasks with subcategory domains [2]_ [3]_.

    A task ``"A-vs-B"`` (A, B among rec, sci, talk) is binary: label 0 = top category
    A, 1 = B. The domains are disjoint sets of subcategories (Dai et al.'s splits, as
    used by SKADA-Bench), posts of the bydate train and test sets together:

    ======  ======================================  ========================================
    top     ``source`` subcategories                ``target`` subcategories
    ======  ======================================  ========================================
    rec     rec.autos, rec.motorcycles              rec.sport.baseball, rec.sport.hockey
    talk    talk.politics.guns, talk.politics.misc  talk.religion.misc, talk.politics.mideast
    sci     sci.crypt, sci.electronics              sci.med, sci.space
    ======  ======================================  ========================================

    Sizes (source / target): rec-vs-talk 3671 / 3561, rec-vs-sci 3961 / 3970,
    talk-vs-sci 3660 / 3545. ``B-vs-A`` has the same domains with flipped labels.

    Features: :func:`shiftlab.data.text.tfidf_svd` fitted on the posts of both domains
    together, without labels (transductive, label-free); cached on disk. SKADA-Bench
    uses sentence-transformer embeddings instead (see :func:`read_twenty_newsgroups_text`).

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    task : str, default="rec-vs-talk"
        ``"rec-vs-talk"``, ``"rec-vs-sci"``, ``"talk-vs-sci"`` or a reversed order.
    remove_headers : bool, default=True
        Drop each post's header block (From, Subject, Organization, ...): sender names,
        addresses and organisations are strong cues that do not carry over between
        subcategories.
    n_components : int, default=300
        Output dimension of the SVD.
    max_features : int or None, default=20000
        TF-IDF vocabulary size.
    random_state : int, default=0
        Seed of the randomized SVD.
    cache : bool, default=True
        Cache the features on disk (see :func:`shiftlab.data.home.get_feature_cache_dir`).

    Returns
    -------
    DomainDataset
        Domains ``source`` and ``target``; ``n_components`` features with unit L2 rows.

    References
    ----------
    .. [1] K. Lang. NewsWeeder: Learning to filter netnews. ICML 1995.
    .. [2] W. Dai, Q. Yang, G.-R. Xue, Y. Yu. Boosting for Transfer Learning. ICML 2007.
    .. [3] Y. Lalou et al. SKADA-Bench: Benchmarking Unsupervised Domain Adaptation
       Methods with Realistic Validation. arXiv:2407.11676, 2024.
    """
    a, b = _parse_task(task)
    info = dataset_info("twenty_newsgroups")
    params = _text_params(n_components, max_features, random_state)
    _fetch(info, data_home, download)
    canonical = f"{a}-vs-{b}"
    domains = _cached_features(
        info,
        {**params, "task": canonical, "remove_headers": bool(remove_headers)},
        lambda: _featurise(
            read_twenty_newsgroups_text(data_home, download, task=canonical,
                                        remove_headers=remove_headers),
            params,
        ),
        cache=cache,
        data_home=data_home,
    )
    options = {"task": canonical, "remove_headers": bool(remove_headers),
               "n_components": n_components, "max_features": max_features,
               "random_state": random_state}
    extra = {
        "featurisation": params,
        "subcategories": {
            "source": [*NEWSGROUPS_SPLITS[a][0], *NEWSGROUPS_SPLITS[b][0]],
            "target": [*NEWSGROUPS_SPLITS[a][1], *NEWSGROUPS_SPLITS[b][1]],
        },
    }
    return _dataset(info, domains, options, target_names=[a, b], extra=extra)


# ========================================================================= generic
_LOADERS: dict[str, Callable[..., DomainDataset]] = {
    "load_office_caltech10_surf": load_office_caltech10_surf,
    "load_office_caltech10_decaf6": load_office_caltech10_decaf6,
    "load_office_caltech10_googlenet": load_office_caltech10_googlenet,
    "load_amazon_review_400": load_amazon_review_400,
    "load_amazon_review_text": load_amazon_review_text,
    "load_mnist_usps": load_mnist_usps,
    "load_mnist_usps_full": load_mnist_usps_full,
    "load_mushrooms": load_mushrooms,
    "load_phishing": load_phishing,
    "load_wine_quality": load_wine_quality,
    "load_twenty_newsgroups": load_twenty_newsgroups,
}


def load_dataset(
    name: str, *, data_home: PathLike = None, download: bool = True, **options
) -> DomainDataset:
    """Load a catalog dataset by name, e.g. ``load_dataset("mushrooms")``.

    Parameters
    ----------
    name : str
        Catalog name or alias (see :func:`shiftlab.data.catalog.catalog`).
    data_home : str or path-like, optional
        Data home (default: ``$SHIFTLAB_DATA``, else the per-user cache folder).
    download : bool, default=True
        Download missing files.
    **options
        Dataset-specific options of the loader (listed in the catalog entry).

    Raises
    ------
    UnknownNameError
        Unknown dataset name (with a suggestion).
    DataValidationError
        An option the dataset's loader does not have.
    """
    info = dataset_info(name)
    loader = _LOADERS[info.loader]
    accepted = [p for p in inspect.signature(loader).parameters
                if p not in ("data_home", "download")]
    for option in options:
        if option not in accepted:
            raise DataValidationError(
                f"Dataset {info.name!r} has no option {option!r}.{suggest(option, accepted)} "
                f"Valid options: {', '.join(accepted) if accepted else 'none'}."
            )
    return loader(data_home=data_home, download=download, **options)


def fetch_dataset(
    name: str,
    data_home: PathLike = None,
    *,
    base_url: str | None = None,
    include_optional: bool = True,
) -> list[Path]:
    """Download (if missing) and verify every file of a dataset; return their paths.

    Parameters
    ----------
    name : str
        Catalog name or alias.
    data_home : str or path-like, optional
        Data home to download into.
    base_url : str, optional
        Mirror to download from instead of upstream (default ``$SHIFTLAB_DATA_MIRROR``).
    include_optional : bool, default=True
        Also fetch companion files the loader does not need.
    """
    info = dataset_info(name)
    return [
        fetch_file(f, data_home, True, base_url)
        for f in info.files
        if f.required or include_optional
    ]
