"""Loaders of the text datasets: Amazon reviews (400 features and raw text) and
20 Newsgroups, with their raw-text readers."""

from __future__ import annotations

import gzip
import os
import re
import tarfile
import threading
from pathlib import Path

import numpy as np

from shiftlab.data.catalog import NEWSGROUPS_SPLITS, dataset_info
from shiftlab.data.dataset import DomainDataset
from shiftlab.data.loaders._common import (
    Domains,
    PathLike,
    _cached_features,
    _dataset,
    _featurise,
    _fetch,
    _labels,
    _loadmat,
    _text_params,
)
from shiftlab.data.registry import register_dataset
from shiftlab.exceptions import DataValidationError, ShiftlabError, suggest

# ====================================================================== Amazon reviews
_AMAZON400_FILES = {
    "books": "books_400.mat",
    "dvd": "dvd_400.mat",
    "electronics": "elec_400.mat",
    "kitchen": "kitchen_400.mat",
}


@register_dataset("amazon_review_400", kind="catalog")
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


@register_dataset("amazon_review_text", kind="catalog")
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


@register_dataset("twenty_newsgroups", kind="catalog")
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
