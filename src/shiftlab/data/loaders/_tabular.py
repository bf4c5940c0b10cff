"""Loaders of the tabular datasets: Mushrooms, Phishing and Wine Quality."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from shiftlab.data.catalog import dataset_info
from shiftlab.data.dataset import DomainDataset
from shiftlab.data.loaders._common import (
    Domains,
    PathLike,
    _check_choice,
    _dataset,
    _fetch,
)
from shiftlab.data.registry import register_dataset
from shiftlab.exceptions import DataValidationError

_MUSHROOM_COLUMNS = (
    "class", "cap-shape", "cap-surface", "cap-color", "bruises", "odor", "gill-attachment",
    "gill-spacing", "gill-size", "gill-color", "stalk-shape", "stalk-root",
    "stalk-surface-above-ring", "stalk-surface-below-ring", "stalk-color-above-ring",
    "stalk-color-below-ring", "veil-type", "veil-color", "ring-number", "ring-type",
    "spore-print-color", "population", "habitat",
)


@register_dataset("mushrooms", kind="catalog")
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


@register_dataset("phishing", kind="catalog")
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


@register_dataset("wine_quality", kind="catalog")
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
