"""Loaders of the image datasets: Office-Caltech10 (SURF, DeCAF6, GoogLeNet features)
and MNIST-USPS (the JDA features, the full and the SKADA-Bench versions)."""

from __future__ import annotations

import gzip
import struct
import warnings
from pathlib import Path

import numpy as np

from shiftlab.data.catalog import dataset_info
from shiftlab.data.dataset import DomainDataset
from shiftlab.data.home import fetch_file
from shiftlab.data.loaders._common import (
    _NORMALIZE,
    Domains,
    PathLike,
    _cached_features,
    _check_choice,
    _dataset,
    _fetch,
    _labels,
    _loadmat,
    _normalise,
)
from shiftlab.data.registry import register_dataset
from shiftlab.exceptions import DatasetNotAvailableError, DataValidationError, DownloadError

_SURF_FILES = {
    "amazon": "amazon_SURF_L10.mat",
    "caltech": "Caltech10_SURF_L10.mat",
    "dslr": "dslr_SURF_L10.mat",
    "webcam": "webcam_SURF_L10.mat",
}


@register_dataset("office_caltech10_surf", kind="catalog")
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


@register_dataset("office_caltech10_decaf6", kind="catalog")
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


@register_dataset("office_caltech10_googlenet", kind="catalog")
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

@register_dataset("mnist_usps", kind="catalog")
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


#: SKADA-Bench's digit normalisation (torchvision's Normalize((0.1307,), (0.3081,))), and
#: its deep benchmark's for USPS padded to 28x28 (Normalize((0.0806,), (0.2063,))).
_SKADA_DIGIT_MEAN, _SKADA_DIGIT_STD = 0.1307, 0.3081
_SKADA_PADDED_USPS_MEAN, _SKADA_PADDED_USPS_STD = 0.0806, 0.2063


@register_dataset("mnist_usps_full", kind="catalog")
def load_mnist_usps_full(
    data_home: PathLike = None,
    download: bool = True,
    *,
    mnist_split: str = "test",
    usps_split: str = "all",
    image_size: int = 28,
    usps_resize: str = "bilinear",
    normalize: str = "none",
) -> DomainDataset:
    """MNIST [1]_ (test set, 10000 digits, or training set, 60000) <-> full USPS [2]_
    (7291 train + 2007 test).

    The two domains come at different resolutions (28x28 and 16x16) and pixel scales;
    both are brought to [0, 1] and to a common ``image_size``. SKADA-Bench [3]_ resizes
    USPS to 28x28 for its shallow features (bilinear, the default here); its deep
    benchmark [4]_ pads USPS to 28x28 instead and trains on MNIST's training set and
    USPS's: ``mnist_split="train", usps_split="train", usps_resize="pad",
    normalize="skada"``.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    mnist_split : {"test", "train", "auto"}, default="test"
        MNIST digits to use. "test": the 10000 of the test set, in the data home.
        "train": the 60000 of the training set, downloaded (9.9 MB) when missing.
        "auto": "train" when its files are in the data home or can be downloaded,
        otherwise "test" with a :class:`UserWarning`. The dataset's
        ``metadata["options"]["mnist_split"]`` records the split used.
    usps_split : {"all", "train", "test"}, default="all"
        USPS samples to use: both splits (9298), train (7291) or test (2007).
    image_size : {28, 16}, default=28
        28: USPS is brought to 28x28 (see ``usps_resize``). 16: MNIST is downsampled
        (Gaussian pre-filter, then bilinear), the resolution of :func:`load_mnist_usps`.
    usps_resize : {"bilinear", "pad"}, default="bilinear"
        How USPS reaches 28x28: upsampled (bilinear; the digit fills the frame), or
        zero-padded by 6 pixels on each side (the digit keeps its 16x16 size, as MNIST's
        digits keep a 20x20 box). Ignored with ``image_size=16``.
    normalize : {"none", "l2", "skada"}, default="none"
        "l2": per-sample L2 normalisation of the pixel vectors. "skada": SKADA-Bench's
        deep transform, ``(x - mean) / std`` per domain with torchvision's constants
        (MNIST 0.1307 / 0.3081, padded USPS 0.0806 / 0.2063).

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
    .. [4] SKADA-Bench's ``datasets/deep_mnist_usps.py`` (github.com/scikit-adaptation/
       skada-bench): ``Pad(6)`` and ``Normalize((0.0806,), (0.2063,))`` for USPS,
       ``Normalize((0.1307,), (0.3081,))`` for MNIST.
    """
    import h5py

    _check_choice("mnist_split", mnist_split, ("test", "train", "auto"))
    _check_choice("usps_split", usps_split, ("all", "train", "test"))
    _check_choice("image_size", image_size, (28, 16))
    image_size = int(image_size)
    _check_choice("usps_resize", usps_resize, ("bilinear", "pad"))
    _check_choice("normalize", normalize, ("none", "l2", "skada"))
    info = dataset_info("mnist_usps_full")
    paths = _fetch(info, data_home, download)
    mnist_split, train_paths = _mnist_training_files(info, mnist_split, data_home, download)
    paths.update(train_paths)
    prefix = "train" if mnist_split == "train" else "t10k"
    images = _read_idx(paths[f"{prefix}-images-idx3-ubyte.gz"], 2051).astype(np.float64) / 255.0
    mnist_y = _read_idx(paths[f"{prefix}-labels-idx1-ubyte.gz"], 2049).astype(np.int64)
    splits = ("train", "test") if usps_split == "all" else (usps_split,)
    with h5py.File(paths["usps.h5"], "r") as h5:
        usps = np.concatenate([h5[f"{s}/data"][()] for s in splits]).astype(np.float64)
        usps_y = np.concatenate([h5[f"{s}/target"][()] for s in splits]).astype(np.int64)
    usps = usps.reshape(-1, 16, 16)
    images = _resize(images, image_size)
    if image_size == 28 and usps_resize == "pad":
        usps = np.pad(usps, ((0, 0), (6, 6), (6, 6)))
    else:
        usps = _resize(usps, image_size)
    n_features = image_size * image_size
    images, usps = images.reshape(-1, n_features), usps.reshape(-1, n_features)
    if normalize == "skada":
        domains = {
            "mnist": ((images - _SKADA_DIGIT_MEAN) / _SKADA_DIGIT_STD, mnist_y),
            "usps": ((usps - _SKADA_PADDED_USPS_MEAN) / _SKADA_PADDED_USPS_STD, usps_y),
        }
    else:
        domains = {
            "mnist": (_normalise(images, normalize), mnist_y),
            "usps": (_normalise(usps, normalize), usps_y),
        }
    options = {"mnist_split": mnist_split, "usps_split": usps_split,
               "image_size": image_size, "usps_resize": usps_resize,
               "normalize": normalize}
    files = {f.path: f.sha256 for f in info.files if f.required or f.filename in train_paths}
    return _dataset(info, domains, options, extra={"files": files})


def _mnist_training_files(info, mnist_split: str, data_home: PathLike, download: bool):
    """``(split used, {file name: path})``: the MNIST training files when the split is
    "train" (fetched, errors raised) or "auto" (fetched when possible, else "test")."""
    if mnist_split == "test":
        return "test", {}
    entries = [f for f in info.files if f.filename.startswith("train-")]
    try:
        return "train", {f.filename: fetch_file(f, data_home, download) for f in entries}
    except (DatasetNotAvailableError, DownloadError) as exc:
        if mnist_split == "train":
            raise type(exc)(
                f"{exc} The MNIST training set (mnist_split='train') is not in the data "
                "home; run once with download=True on a machine that is online, or use "
                "mnist_split='test' (the 10000 digits of the test set) or 'auto'."
            ) from exc
        warnings.warn(
            "mnist_usps_full: the MNIST training set is not in the data home and could not "
            f"be downloaded ({type(exc).__name__}); mnist_split='auto' uses the 10000 "
            "digits of the MNIST test set instead (SKADA-Bench's deep benchmark trains on "
            "the 60000 of the training set).",
            UserWarning,
            stacklevel=3,
        )
        return "test", {}


def _pad_normalise_flatten(images: np.ndarray, pad: int) -> np.ndarray:
    """SKADA-Bench's digit transform: zero padding (torchvision's Pad, applied to the
    [0, 1] pixels), then Normalize((0.1307,), (0.3081,)), then one row per image."""
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad)))
    return ((padded - _SKADA_DIGIT_MEAN) / _SKADA_DIGIT_STD).reshape(len(images), -1)


@register_dataset("mnist_usps_skada", kind="catalog")
def load_mnist_usps_skada(
    data_home: PathLike = None,
    download: bool = True,
    *,
    n_samples: int = 3000,
    random_state: int = 27,
    cache: bool = True,
) -> DomainDataset:
    """MNIST <-> USPS as SKADA-Bench's shallow benchmark [1]_ builds it (3000 + 3000
    digits, whitened PCA to 50 features), from the files of :func:`load_mnist_usps_full`.

    SKADA-Bench's recipe (its ``mnist_usps_pca`` dataset and ``preprocess_digit.py``):

    1. pixels in [0, 1]; MNIST (28x28) zero-padded by 2 and USPS (16x16) by 8 to 32x32;
       both normalised with ``(x - 0.1307) / 0.3081``; flattened to 1024 features;
    2. a whitened PCA to 50 components (``PCA(50, whiten=True, random_state=27)``)
       fitted without labels on every row of the digit sets, applied to every row;
    3. ``n_samples`` digits per domain drawn without replacement with
       ``numpy.random.RandomState(random_state).choice`` (a fresh generator per domain).

    What differs, because the data home lacks files: **the PCA is fitted on MNIST +
    USPS** (every row of the MNIST test set, 10000, and of the USPS training set, 7291),
    where SKADA-Bench fitted it on MNIST + SVHN + USPS (training sets; SVHN is not in
    the data home); **the MNIST digits are drawn from the MNIST test set** (the training
    set is not in the data home), so the 3000 MNIST rows are other digits than
    SKADA-Bench's; the USPS pixels are the float values of ``usps.h5`` where
    torchvision rounds them to 8 bits. The features are thus close to, not equal to,
    SKADA-Bench's. The draw of the rows (seed 27) is theirs.

    Parameters
    ----------
    data_home, download
        See :func:`load_office_caltech10_surf`.
    n_samples : int, default=3000
        Digits drawn per domain (SKADA-Bench: 3000); at most 10000 (MNIST) and 7291
        (USPS).
    random_state : int, default=27
        Seed of the draw and of the PCA's randomized solver (SKADA-Bench: 27). Not taken
        from a benchmark's protocol seed: SKADA-Bench fixes it.
    cache : bool, default=True
        Cache the features on disk (see :func:`~shiftlab.data.home.get_feature_cache_dir`):
        the PCA takes seconds.

    Returns
    -------
    DomainDataset
        Domains ``mnist`` and ``usps`` (``n_samples`` rows each), 50 features, labels
        0..9 (the digits).

    References
    ----------
    .. [1] Y. Lalou et al. SKADA-Bench: Benchmarking Unsupervised Domain Adaptation
       Methods with Realistic Validation. arXiv:2407.11676, 2024.
    """
    import h5py
    from sklearn.decomposition import PCA

    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) \
            or not 1 <= n_samples <= 7291:
        raise DataValidationError(f"Invalid n_samples={n_samples!r}: an integer in "
                                  "[1, 7291] (the USPS training set has 7291 digits).")
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise DataValidationError(f"Invalid random_state={random_state!r}: an integer.")
    n_samples, random_state = int(n_samples), int(random_state)
    info = dataset_info("mnist_usps_skada")
    paths = _fetch(info, data_home, download)

    def compute() -> Domains:
        mnist = _read_idx(paths["t10k-images-idx3-ubyte.gz"], 2051).astype(np.float64) / 255
        mnist_y = _read_idx(paths["t10k-labels-idx1-ubyte.gz"], 2049).astype(np.int64)
        with h5py.File(paths["usps.h5"], "r") as h5:  # SKADA-Bench: USPS train=True
            usps = h5["train/data"][()].astype(np.float64).reshape(-1, 16, 16)
            usps_y = h5["train/target"][()].astype(np.int64)
        full = {"mnist": (_pad_normalise_flatten(mnist, 2), mnist_y),
                "usps": (_pad_normalise_flatten(usps, 8), usps_y)}
        pca = PCA(n_components=50, whiten=True, random_state=random_state)
        pca.fit(np.concatenate([X for X, _ in full.values()]))  # label-free, both domains
        domains = {}
        for name, (X, y) in full.items():
            rng = np.random.RandomState(random_state)  # one per domain, as SKADA-Bench
            rows = rng.choice(len(X), n_samples, replace=False)
            domains[name] = (pca.transform(X[rows]), y[rows])
        return domains

    options = {"n_samples": n_samples, "random_state": random_state}
    domains = _cached_features(info, {"recipe": "skada-bench-digits-pca50", **options},
                               compute, cache=cache, data_home=data_home)
    extra = {"pca_fit_rows": {"mnist": 10000, "usps": 7291},
             "pca_fitted_on": "MNIST test set + USPS training set (SKADA-Bench: MNIST, "
                              "SVHN and USPS training sets)"}
    return _dataset(info, domains, options, extra=extra)


# ========================================================================= tabular
