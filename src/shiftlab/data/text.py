"""Default featurisation of the text datasets: TF-IDF, truncated SVD, L2 rows.

Text datasets (the raw Amazon reviews, 20 Newsgroups) need numeric features before any
DA method can use them. SKADA-Bench embeds the text with a sentence-transformer model;
that needs a model download, so shiftlab's default is the classic latent semantic
analysis pipeline, which runs offline:

1. TF-IDF weights [1]_ with sublinear term frequency, scikit-learn's English stop-word
   list, terms in at least 2 documents and at most half of them, and a vocabulary of the
   ``max_features`` most frequent terms;
2. truncated SVD [2]_ to ``n_components`` dimensions, computed with a seeded randomized
   algorithm [3]_;
3. each row scaled to unit L2 norm (cosine geometry, as usual for LSA features).

The pipeline is fitted on the documents of *all* domains together, without labels. This
is transductive (target documents shape the vocabulary and the subspace) but label-free,
the same setting as SKADA-Bench's pre-computed embeddings and as unsupervised DA itself.

References
----------
.. [1] G. Salton, C. Buckley. Term-weighting approaches in automatic text retrieval.
   Information Processing & Management 24(5), 1988.
.. [2] S. Deerwester, S. Dumais, G. Furnas, T. Landauer, R. Harshman. Indexing by latent
   semantic analysis. JASIS 41(6), 1990.
.. [3] N. Halko, P.-G. Martinsson, J. A. Tropp. Finding structure with randomness:
   probabilistic algorithms for constructing approximate matrix decompositions.
   SIAM Review 53(2), 2011. doi:10.1137/090771806
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shiftlab.exceptions import DataValidationError

__all__ = ["TFIDF_SVD_DEFAULTS", "tfidf_svd"]

#: Parameters of the default text featurisation (also part of the feature-cache key).
TFIDF_SVD_DEFAULTS = {
    "n_components": 300,
    "max_features": 20000,
    "min_df": 2,
    "max_df": 0.5,
    "sublinear_tf": True,
    "stop_words": "english",
    "n_iter": 5,
    "normalize": True,
    "random_state": 0,
}


def tfidf_svd(
    texts: Sequence[str],
    n_components: int = 300,
    *,
    max_features: int | None = 20000,
    min_df: int | float = 2,
    max_df: int | float = 0.5,
    sublinear_tf: bool = True,
    stop_words: str | None = "english",
    n_iter: int = 5,
    normalize: bool = True,
    random_state: int = 0,
) -> np.ndarray:
    """Featurise documents with TF-IDF followed by truncated SVD (LSA).

    Parameters
    ----------
    texts : sequence of str
        The documents of all domains (fit and transform happen on the same set).
    n_components : int, default=300
        Output dimension.
    max_features : int or None, default=20000
        Keep the most frequent terms only (bounds time and memory).
    min_df, max_df : int or float, default=2 and 0.5
        Document-frequency limits of a term (counts or fractions).
    sublinear_tf : bool, default=True
        Use ``1 + log(tf)`` term frequencies.
    stop_words : {"english", None}, default="english"
        scikit-learn's built-in English stop-word list (no download).
    n_iter : int, default=5
        Power iterations of the randomized SVD.
    normalize : bool, default=True
        Scale each output row to unit L2 norm.
    random_state : int, default=0
        Seed of the randomized SVD.

    Returns
    -------
    ndarray of shape (len(texts), n_components), float64

    Raises
    ------
    DataValidationError
        When there are too few documents or terms for ``n_components``.
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize as l2_normalize
    from threadpoolctl import threadpool_limits

    texts = list(texts)
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise DataValidationError(
            f"n_components must be a positive integer, got {n_components!r}."
        )
    if n_components < 1:
        raise DataValidationError(f"n_components must be >= 1, got {n_components}.")
    vectorizer = TfidfVectorizer(
        max_features=max_features,
        min_df=min_df,
        max_df=max_df,
        sublinear_tf=sublinear_tf,
        stop_words=stop_words,
        # float32 halves the memory and the BLAS time of the SVD; the output is float64.
        dtype=np.float32,
    )
    try:
        tfidf = vectorizer.fit_transform(texts)
    except ValueError as exc:  # empty vocabulary after the frequency limits
        raise DataValidationError(
            f"TF-IDF found no usable term in {len(texts)} document(s) ({exc}); lower min_df "
            "or raise max_df."
        ) from exc
    limit = min(tfidf.shape) - 1
    if n_components > limit:
        raise DataValidationError(
            f"n_components={n_components} is too large for {tfidf.shape[0]} documents and "
            f"{tfidf.shape[1]} terms; use at most {limit}."
        )
    svd = TruncatedSVD(
        n_components=n_components, algorithm="randomized", n_iter=n_iter,
        random_state=random_state,
    )
    # One BLAS thread: the dense steps take a few CPU-seconds, and multi-threaded
    # OpenBLAS slows down many-fold when the cores are shared with other jobs (as in a
    # parallel benchmark), while gaining little on an idle machine.
    with threadpool_limits(limits=1, user_api="blas"):
        Z = np.ascontiguousarray(svd.fit_transform(tfidf), dtype=np.float64)
    if normalize:
        # In float64, so that rows have unit norm to double precision. Documents without
        # any kept term stay all-zero.
        Z = l2_normalize(Z)
    return Z
