"""Citations, licences, class lists and option texts that several catalog entries
share, and helpers to write the entries (pinned GitHub URLs, domain pairs)."""

from __future__ import annotations

import itertools


# ---------------------------------------------------------------------------- helpers
def _gh(repo: str, commit: str, path: str) -> str:
    """Raw URL of a file of a public GitHub repository at a pinned commit."""
    return f"https://raw.githubusercontent.com/{repo}/{commit}/{path}"


def _pairs(domains: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{s}->{t}" for s, t in itertools.permutations(domains, 2))


_OPT_DATA = {
    "data_home": "data home (default: $SHIFTLAB_DATA, else the per-user cache folder)",
    "download": "download missing files (default True)",
}

# Citations used by several entries.
_OFFICE = (
    "K. Saenko, B. Kulis, M. Fritz, T. Darrell. Adapting Visual Category Models to New "
    "Domains. ECCV 2010. doi:10.1007/978-3-642-15561-1_16"
)
_GFK = (
    "B. Gong, Y. Shi, F. Sha, K. Grauman. Geodesic Flow Kernel for Unsupervised Domain "
    "Adaptation. CVPR 2012. doi:10.1109/CVPR.2012.6247911"
)
_CALTECH = (
    "G. Griffin, A. Holub, P. Perona. Caltech-256 Object Category Dataset. Caltech "
    "Technical Report CNS-TR-2007-001, 2007."
)
_BLITZER = (
    "J. Blitzer, M. Dredze, F. Pereira. Biographies, Bollywood, Boom-boxes and Blenders: "
    "Domain Adaptation for Sentiment Classification. ACL 2007, pp. 440-447. "
    "https://aclanthology.org/P07-1056"
)
_MNIST = (
    "Y. LeCun, L. Bottou, Y. Bengio, P. Haffner. Gradient-based learning applied to "
    "document recognition. Proc. IEEE 86(11), 1998. doi:10.1109/5.726791"
)
_USPS = (
    "J. J. Hull. A database for handwritten text recognition research. IEEE TPAMI 16(5), "
    "1994. doi:10.1109/34.291440"
)
_DAI = (
    "W. Dai, Q. Yang, G.-R. Xue, Y. Yu. Boosting for Transfer Learning. ICML 2007. "
    "doi:10.1145/1273496.1273521"
)
_SKADA_BENCH = (
    "Y. Lalou, T. Gnassounou, A. Collas, A. de Mathelin, O. Kachaiev, A. Odonnat, "
    "A. Gramfort, T. Moreau, R. Flamary. SKADA-Bench: Benchmarking Unsupervised Domain "
    "Adaptation Methods with Realistic Validation. arXiv:2407.11676, 2024."
)
_TFIDF = (
    "G. Salton, C. Buckley. Term-weighting approaches in automatic text retrieval. "
    "Information Processing & Management 24(5), 1988. doi:10.1016/0306-4573(88)90021-0"
)
_LSA = (
    "S. Deerwester, S. Dumais, G. Furnas, T. Landauer, R. Harshman. Indexing by latent "
    "semantic analysis. JASIS 41(6), 1990."
)
_CC_BY = "CC BY 4.0 (UCI Machine Learning Repository)"
_RESEARCH = "No explicit licence; distributed by the authors for research use."

_OFFICE_CLASSES = (
    "back_pack", "bike", "calculator", "headphones", "keyboard",
    "laptop_computer", "monitor", "mouse", "mug", "projector",
)
_DIGITS = tuple(str(d) for d in range(10))
_TEXT_OPTIONS = {
    "n_components": "TruncatedSVD components (default 300)",
    "max_features": "TF-IDF vocabulary size, most frequent terms (default 20000)",
    "random_state": "seed of the randomized SVD (default 0)",
    "cache": "cache the features on disk (default True; see get_feature_cache_dir)",
}
_TEXT_FEATURES = (
    "TF-IDF (sublinear tf, English stop words, min_df=2, max_df=0.5, 20 000 terms) then "
    "TruncatedSVD to 300 components (randomized, seed 0) and per-row L2 normalisation "
    "[Salton & Buckley 1988; Deerwester et al. 1990]. Fitted on the text of all domains, "
    "without labels (transductive and label-free). No network."
)
#: The MEDA repository serves the Amazon 400-feature and the JDA MNIST-USPS files.
_MEDA_REPO = ("caokangx/MK-MMCD-MEDA", "61bc949ec59a3b030476a04bb1dd647a1990eeca")
