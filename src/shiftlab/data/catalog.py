"""Catalog of the real domain-adaptation datasets shiftlab can load.

Each :class:`DatasetInfo` records what a dataset is (modality, domains and their
sizes, features, classes), where it comes from (citation, licence, the files with their
sha256 digests, upstream URLs and provenance) and how the literature defines its
domains and tasks. The numbers are those of the default loader options; ``variants``
gives the sizes under the other documented options. The loaders in
:mod:`shiftlab.data.loaders` follow these entries, and the tests check the entries
against the files.

The files and their provenance are those of the project's dataset snapshot (one
``SOURCE.md`` per folder). URLs point at the exact upstream bytes: the original
distributor when it serves the same file, else the pinned commit of the public
repository the snapshot copied it from. Files that no public upstream serves
byte-for-byte (the re-compressed Amazon reviews, the reconstructed 20 Newsgroups
archive) have no URL; they come from a mirror (``SHIFTLAB_DATA_MIRROR``) or by hand.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from shiftlab.data.home import DataFile, LocalState, check_files
from shiftlab.exceptions import unknown_name

__all__ = [
    "DataFile",
    "DatasetInfo",
    "LocalState",
    "catalog",
    "dataset_info",
    "dataset_names",
    "is_available",
    "local_state",
]


@dataclass(frozen=True, eq=False)
class DatasetInfo:
    """Catalog entry of one dataset.

    Attributes
    ----------
    name : str
        Name used by :func:`~shiftlab.data.loaders.load_dataset` and the CLI.
    title : str
        Human-readable title.
    folder : str
        Folder of the files in the data home.
    modality : str
        ``"image"``, ``"text"`` or ``"tabular"``, with the feature kind.
    domains : tuple of str
        Domain names, in the order of the loaded :class:`~shiftlab.data.DomainDataset`.
    sizes : mapping of str to int
        Samples per domain (default options).
    n_features : int
        Number of features (default options).
    classes : tuple of str
        Class names, in label order (label ``k`` is ``classes[k]``).
    label : str
        What the label is and how it is encoded.
    domain_definition : str
        How the domains are defined, as in the literature.
    tasks : tuple of str
        Adaptation tasks used in the literature, ``"source->target"``.
    features : str
        What the features are and the default preprocessing.
    files : tuple of DataFile
        Files with their sha256, size, upstream URLs and provenance.
    citation : tuple of str
        References to cite.
    licence : str
        Licence or terms of use.
    loader : str
        Name of the loader function in :mod:`shiftlab.data.loaders`.
    options : mapping of str to str
        Dataset-specific loader options and their meaning (with defaults).
    variants : mapping of str to mapping
        Domain sizes / feature counts under non-default options.
    notes : str
        Known issues.
    aliases : tuple of str
        Other accepted names.
    """

    name: str
    title: str
    folder: str
    modality: str
    domains: tuple[str, ...]
    sizes: Mapping[str, int]
    n_features: int
    classes: tuple[str, ...]
    label: str
    domain_definition: str
    tasks: tuple[str, ...]
    features: str
    files: tuple[DataFile, ...]
    citation: tuple[str, ...]
    licence: str
    loader: str
    options: Mapping[str, str] = field(default_factory=dict)
    variants: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: str = ""
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        # Entries are shared module state: freeze the mappings so callers cannot edit them.
        for name in ("sizes", "options", "variants"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_samples(self) -> int:
        return int(sum(self.sizes.values()))

    @property
    def required_files(self) -> tuple[DataFile, ...]:
        return tuple(f for f in self.files if f.required)

    def file(self, filename: str) -> DataFile:
        """The catalogued file whose path ends with ``filename``."""
        for f in self.files:
            if f.path.endswith("/" + filename):
                return f
        raise unknown_name("file", filename, [f.path.split("/", 1)[1] for f in self.files])

    def is_available(self, data_home: str | os.PathLike | None = None) -> bool:
        """See :func:`is_available`."""
        return is_available(self.name, data_home)

    def local_state(
        self, data_home: str | os.PathLike | None = None, *, recheck: bool = False
    ) -> LocalState:
        """See :func:`local_state`."""
        return local_state(self.name, data_home, recheck=recheck)

    def to_dict(self) -> dict:
        """Plain-Python view (lists and dicts only), e.g. for tables and JSON."""
        return {
            "name": self.name,
            "title": self.title,
            "modality": self.modality,
            "domains": list(self.domains),
            "sizes": dict(self.sizes),
            "n_samples": self.n_samples,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "classes": list(self.classes),
            "label": self.label,
            "domain_definition": self.domain_definition,
            "tasks": list(self.tasks),
            "features": self.features,
            "options": dict(self.options),
            "variants": {k: dict(v) for k, v in self.variants.items()},
            "citation": list(self.citation),
            "licence": self.licence,
            "folder": self.folder,
            "files": [f.to_dict() for f in self.files],
            "loader": self.loader,
            "notes": self.notes,
            "aliases": list(self.aliases),
        }


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

# ------------------------------------------------------------------------- entries
_SURF_REPO = ("viggin/domain-adaptation-toolbox", "2a991816a0ac39043b526c2b0cbe01bc844d8890")


def _surf_file(name: str, sha: str, size: int, required: bool = True) -> DataFile:
    return DataFile(
        f"office_caltech10_surf/{name}",
        sha,
        size,
        (_gh(*_SURF_REPO, f"ToRelease_GFK/data/{name}"),),
        f"GitHub {_SURF_REPO[0]}@{_SURF_REPO[1][:12]}:ToRelease_GFK/data/{name} "
        "(verbatim copy of B. Gong's GFK release)",
        required,
    )


_OFFICE_CALTECH_SURF = DatasetInfo(
    name="office_caltech10_surf",
    title="Office-Caltech10, SURF 800-d bag of visual words (GFK release)",
    folder="office_caltech10_surf",
    modality="image (SURF bag-of-words)",
    domains=("amazon", "caltech", "dslr", "webcam"),
    sizes={"amazon": 958, "caltech": 1123, "dslr": 157, "webcam": 295},
    n_features=800,
    classes=_OFFICE_CLASSES,
    label="object category, 0..9 (file labels 1..10 minus one)",
    domain_definition=(
        "Image source: amazon (product photos), caltech (Caltech-256), dslr and webcam "
        "(Office), restricted to the 10 shared categories [Gong et al. 2012]."
    ),
    tasks=_pairs(("caltech", "amazon", "webcam", "dslr")),
    features=(
        "800-bin SURF histograms (codebook built on amazon). Default normalize='l1' divides "
        "each row by its sum; 'l1_zscore' adds the GFK recipe's per-domain z-scoring."
    ),
    files=(
        _surf_file("amazon_SURF_L10.mat",
                   "df32548b994e18d364c99e1f317e1fae100597259f0423a41b90f4f68187bb1f", 104970),
        _surf_file("Caltech10_SURF_L10.mat",
                   "4f9334c8ced489d5054de97a5fd51a61f017f3bcd1f38c9a85c6d78cb9d7bda5", 150751),
        _surf_file("dslr_SURF_L10.mat",
                   "44d673c68e1d07b837893aa74dba3b986e4a6cc3fd66f0dd357683bdef059216", 18348),
        _surf_file("webcam_SURF_L10.mat",
                   "a6a9c78b4b7181dfbb58bcfd351d4ebd737f171c31247b8884948aa156d3f700", 32406),
        _surf_file("amazon_SURF_L10_imgs.mat",
                   "6d1624443b99f69a2f80bdfea25800f49c339db2f702ce06328618ae7e3b7e59", 3692,
                   False),
        _surf_file("Caltech10_SURF_L10_imgs.mat",
                   "9f11333e518aa550464464dc0490576d9779ef7d18b9cbbab5195526d8de5ee5", 4251,
                   False),
        _surf_file("dslr_SURF_L10_imgs.mat",
                   "ef8db1910ca89c717b8c992de1c4a1923694e6f2138465cee8483924c9aaef45", 893,
                   False),
        _surf_file("webcam_SURF_L10_imgs.mat",
                   "35a6b38a2df34af6f7a34e0030e89f71540aefac84f0ea8645b3a85d57c9e6be", 1413,
                   False),
    ),
    citation=(_GFK, _OFFICE, _CALTECH),
    licence=_RESEARCH + " Treat as research-use-only (Office and Caltech-256 images).",
    loader="load_office_caltech10_surf",
    options={
        "normalize": "'l1' (default), 'none' (raw counts), 'l2', or 'l1_zscore' (GFK recipe: "
        "L1 rows, then z-score each feature within each domain)",
        **_OPT_DATA,
    },
    notes=(
        "No official train/test split: the protocol is all source -> all target (12 tasks). "
        "The *_imgs.mat companions list the image of each row (not needed to load)."
    ),
    aliases=("office_caltech10", "office_caltech"),
)

_DECAF_REPO = (
    "Samuel-Vangu/domain-adaptation-with-optimal-transport",
    "71cea6a91d718e61ec20ed99c4fa1b8147428a99",
)
_DECAF_DIR = (
    "src/tpami2016_optimal_transport_domain_adaptation/experiment_02/office%2Bcaltech--decaf"
)


def _decaf_file(domain: str, sha: str, size: int) -> DataFile:
    name = f"{domain}_decaf.mat"
    return DataFile(
        f"office_caltech10_deep_partial/decaf6/{name}",
        sha,
        size,
        (_gh(*_DECAF_REPO, f"{_DECAF_DIR}/{name}"),),
        f"GitHub {_DECAF_REPO[0]}@{_DECAF_REPO[1][:12]}:"
        f"{_DECAF_DIR.replace('%2B', '+')}/{name}",
    )


_DONAHUE = (
    "J. Donahue, Y. Jia, O. Vinyals, J. Hoffman, N. Zhang, E. Tzeng, T. Darrell. DeCAF: A "
    "Deep Convolutional Activation Feature for Generic Visual Recognition. ICML 2014, "
    "PMLR 32:647-655."
)
_SZEGEDY = (
    "C. Szegedy et al. Going deeper with convolutions. CVPR 2015. "
    "doi:10.1109/CVPR.2015.7298594"
)
_PARTIAL_NOTE = (
    "PARTIAL: the amazon and caltech DeCAF6 files and the caltech GoogLeNet file were not "
    "obtainable (each over the snapshot size limit). Rows are in the order of "
    "office_caltech10_surf (labels identical)."
)

_OFFICE_CALTECH_DECAF6 = DatasetInfo(
    name="office_caltech10_decaf6",
    title="Office-Caltech10, DeCAF6 (4096-d) features, dslr and webcam only",
    folder="office_caltech10_deep_partial",
    modality="image (CNN features)",
    domains=("dslr", "webcam"),
    sizes={"dslr": 157, "webcam": 295},
    n_features=4096,
    classes=_OFFICE_CLASSES,
    label="object category, 0..9 (file labels 1..10 minus one)",
    domain_definition="Office-Caltech10 image sources; only dslr and webcam are available.",
    tasks=("dslr->webcam", "webcam->dslr"),
    features="DeCAF fc6 activations (non-negative, ~17 % non-zero); default normalize='none'.",
    files=(
        _decaf_file("dslr", "42443f5e82e98cbe6304cacdba905e24c8430ed977b3d6b7b279f088b76e108f",
                    748396),
        _decaf_file("webcam", "e42207580fb1fadd3adba2504e1d8cff9620f464fca7536f9d7093f84c1459a3",
                    1407979),
    ),
    citation=(_DONAHUE, _GFK, _OFFICE),
    licence=_RESEARCH + " Treat as research-use-only.",
    loader="load_office_caltech10_decaf6",
    options={"normalize": "'none' (default), 'l1', 'l2' or 'l1_zscore'", **_OPT_DATA},
    notes=_PARTIAL_NOTE + " D<->W is nearly saturated (~95-100 % without adaptation).",
    aliases=("office_caltech_decaf",),
)

_GOOGLENET_REPO = (
    "redhat12345/OfficeCaltechDomainAdaptation",
    "74f70487e1b975d1af05bb9a2ecfbf14a7000080",
)


def _googlenet_file(domain: str, sha: str, size: int) -> DataFile:
    path = f"features/GoogleNet1024/{domain}.mat"
    return DataFile(
        f"office_caltech10_deep_partial/googlenet1024/{domain}.mat",
        sha,
        size,
        (_gh(*_GOOGLENET_REPO, path),),
        f"GitHub {_GOOGLENET_REPO[0]}@{_GOOGLENET_REPO[1][:12]}:{path} "
        "(copy of L. Gautheron's OfficeCaltechDomainAdaptation)",
    )


_OFFICE_CALTECH_GOOGLENET = DatasetInfo(
    name="office_caltech10_googlenet",
    title="Office-Caltech10, GoogLeNet pool5 (1024-d) features, amazon, dslr and webcam",
    folder="office_caltech10_deep_partial",
    modality="image (CNN features)",
    domains=("amazon", "dslr", "webcam"),
    sizes={"amazon": 958, "dslr": 157, "webcam": 295},
    n_features=1024,
    classes=_OFFICE_CLASSES,
    label="object category, 0..9 (file labels 1..10 minus one)",
    domain_definition="Office-Caltech10 image sources; caltech is not available.",
    tasks=_pairs(("amazon", "dslr", "webcam")),
    features="GoogLeNet pool5 activations (float32 in the files); default normalize='none'.",
    files=(
        _googlenet_file("amazon",
                        "bae9ee6e8f7ca305120dd970f2c90471f4ef8dda4cb2ad2404c38bb26cb56ba9",
                        3931880),
        _googlenet_file("dslr",
                        "5f7c6211581f846b7b5534429fb62bfb7e490e88aacfc8bee97eb0b0224dbd89",
                        644576),
        _googlenet_file("webcam",
                        "57774bbdf97433b5fb5a6333e302f077444c069537138b60ef417f48ee65d296",
                        1210928),
    ),
    citation=(_SZEGEDY, _GFK, _OFFICE),
    licence="No licence file; treat as research-use-only.",
    loader="load_office_caltech10_googlenet",
    options={"normalize": "'none' (default), 'l1', 'l2' or 'l1_zscore'", **_OPT_DATA},
    notes=_PARTIAL_NOTE,
    aliases=("office_caltech_googlenet",),
)

_MEDA_REPO = ("caokangx/MK-MMCD-MEDA", "61bc949ec59a3b030476a04bb1dd647a1990eeca")


def _amazon400_file(stem: str, sha: str, size: int) -> DataFile:
    path = f"data/amazon_review/{stem}_400.mat"
    return DataFile(
        f"amazon_review_400/{stem}_400.mat",
        sha,
        size,
        (_gh(*_MEDA_REPO, path),),
        f"GitHub {_MEDA_REPO[0]}@{_MEDA_REPO[1][:12]}:{path} (J. Wang's transferlearning "
        "data release, files of 2012)",
    )


_AMAZON_DOMAINS = ("books", "dvd", "electronics", "kitchen")

_AMAZON_400 = DatasetInfo(
    name="amazon_review_400",
    title="Amazon product reviews (Blitzer et al.), 400-d features",
    folder="amazon_review_400",
    modality="text (400-d term features)",
    domains=_AMAZON_DOMAINS,
    sizes={"books": 2000, "dvd": 1999, "electronics": 1998, "kitchen": 1999},
    n_features=400,
    classes=("negative", "positive"),
    label="review sentiment: 0 negative (1-2 stars), 1 positive (4-5 stars)",
    domain_definition="Product category of the reviewed item [Blitzer et al. 2007].",
    tasks=_pairs(_AMAZON_DOMAINS),
    features=(
        "Normalised weights in [0, 1] of the 400 most frequent terms (5-7 % non-zero); the "
        "vocabulary is not included. Used as distributed."
    ),
    files=(
        _amazon400_file("books", "7a53b54f0c0e81e7ee4774d762a927399cede9a802a2409732ba00cc1c23a17a",
                        356724),
        _amazon400_file("dvd", "13a71d399f9c7ae57064952979c830455057ffd0a8da73f2c9075338d64d98ce",
                        360255),
        _amazon400_file("elec", "f1dd6e01c1eed956d3abe6493a6bb5efc95e6585b8b9b2d856c0c07e12893a35",
                        316867),
        _amazon400_file("kitchen",
                        "b1f4e5ddfbd7b37ad2638fccbf83bd8558abf63b3e8d69a9d5bca77b1a49fed5",
                        287938),
    ),
    citation=(
        _BLITZER,
        "M. Chen, Z. Xu, K. Weinberger, F. Sha. Marginalized Denoising Autoencoders for "
        "Domain Adaptation. ICML 2012.",
    ),
    licence=_RESEARCH,
    loader="load_amazon_review_400",
    options=dict(_OPT_DATA),
    notes="A few reviews per domain are missing compared with the 1000 + 1000 raw reviews.",
    aliases=("amazon_review", "amazon400"),
)

_RAW_REPO = ("lorenzoritter/domainadaption", "f35a75418ea0ecf75dd85237bfcf68c224533747")


def _raw_review_file(domain: str, polarity: str, sha: str, size: int) -> DataFile:
    upstream = "kitchen_&_housewares" if domain == "kitchen" else domain
    return DataFile(
        f"amazon_review_raw_blitzer/{domain}_{polarity}.review.gz",
        sha,
        size,
        (),  # gzip -9 -n of the upstream text: no server has these exact bytes
        f"gzip of GitHub {_RAW_REPO[0]}@{_RAW_REPO[1][:12]}:sorted_data_acl/{upstream}/"
        f"{polarity}.review (original: Blitzer's domain_sentiment_data.tar.gz, "
        "https://www.cs.jhu.edu/~mdredze/datasets/sentiment/)",
    )


_AMAZON_TEXT = DatasetInfo(
    name="amazon_review_text",
    title="Amazon product reviews (Blitzer et al.), raw text with TF-IDF + SVD features",
    folder="amazon_review_raw_blitzer",
    modality="text (raw reviews, TF-IDF + SVD)",
    domains=_AMAZON_DOMAINS,
    sizes={"books": 2000, "dvd": 2000, "electronics": 2000, "kitchen": 2000},
    n_features=300,
    classes=("negative", "positive"),
    label="review sentiment from the file: 0 negative (1-2 stars), 1 positive (4-5 stars)",
    domain_definition="Product category of the reviewed item [Blitzer et al. 2007].",
    tasks=_pairs(_AMAZON_DOMAINS),
    features=_TEXT_FEATURES + " Text: the <review_text> field of each review.",
    files=(
        _raw_review_file("books", "negative",
                         "57c0e82f005e8776bb036a45641bb4df7df5fe2ae55edcf2f6ad284395ec08fb",
                         544801),
        _raw_review_file("books", "positive",
                         "9205b82e8fcf387e1277ea1b55744df1ce7622d3938ef47aed69c105584bffae",
                         527987),
        _raw_review_file("dvd", "negative",
                         "3c3c9bdd5715d713a417abc6a5ace130472d8b3f98d68f9c52dbd368817ad329",
                         587203),
        _raw_review_file("dvd", "positive",
                         "a948caa1b04817df7f35c49b26e61e21866fb6121d4030162ee8037c07bd3931",
                         634368),
        _raw_review_file("electronics", "negative",
                         "8679b1d46bad878e2d0395b73e05299fc5a82d2c70efe6359f21c74092490615",
                         345982),
        _raw_review_file("electronics", "positive",
                         "f64400ee96e2d9340ae1c3c078e522e58131817c32d3871ea6fc8576802ce1ea",
                         344467),
        _raw_review_file("kitchen", "negative",
                         "363ca12af98e6735f9f71371791cf5053220ee8917d601aab484ff8e90871ac5",
                         300481),
        _raw_review_file("kitchen", "positive",
                         "154069ecc291f01e275c4c3202d6194b4651c6acc0ab4e835581489726dd5301",
                         303245),
    ),
    citation=(_BLITZER, _TFIDF, _LSA),
    licence=_RESEARCH,
    loader="load_amazon_review_text",
    options={**_TEXT_OPTIONS, **_OPT_DATA},
    notes=(
        "SKADA-Bench's AmazonReview uses sentence-transformer embeddings of this text; "
        "shiftlab's default is TF-IDF + SVD (no model download). Raw text: "
        "read_amazon_review_text(). The files are gzip re-compressions (no upstream URL)."
    ),
    aliases=("amazon_review_raw",),
)

_JDA = (
    "M. Long, J. Wang, G. Ding, J. Sun, P. S. Yu. Transfer Feature Learning with Joint "
    "Distribution Adaptation. ICCV 2013. doi:10.1109/ICCV.2013.274"
)

_MNIST_USPS = DatasetInfo(
    name="mnist_usps",
    title="MNIST <-> USPS, JDA protocol (2000 + 1800 digits, 16x16)",
    folder="mnist_usps_jda",
    modality="image (16x16 grey, 256-d)",
    domains=("mnist", "usps"),
    sizes={"mnist": 2000, "usps": 1800},
    n_features=256,
    classes=_DIGITS,
    label="digit 0..9 (file labels 1..10 minus one)",
    domain_definition=(
        "Digit source: 2000 random MNIST digits resized to 16x16, 1800 random USPS digits "
        "[Long et al. 2013]."
    ),
    tasks=("mnist->usps", "usps->mnist"),
    features=(
        "Raw pixel intensities in [0, 1] (rows are 16x16 images in C order). Do not z-score "
        "USPS with MNIST statistics (see notes); normalize='l2' gives the JDA NN setting."
    ),
    files=(
        DataFile(
            "mnist_usps_jda/MNIST_vs_USPS.mat",
            "2b87e5a793e77826417e6c483e0850d6666c9746717bce2561db43f3f30efd4d",
            3303450,
            (_gh(*_MEDA_REPO, "data/MNIST_vs_USPS.mat"),),
            f"GitHub {_MEDA_REPO[0]}@{_MEDA_REPO[1][:12]}:data/MNIST_vs_USPS.mat "
            "(M. Long's JDA release, 2012)",
        ),
    ),
    citation=(_JDA, _MNIST, _USPS),
    licence="MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes). USPS: no explicit licence (research use).",
    loader="load_mnist_usps",
    options={"normalize": "'none' (default) or 'l2' (per-sample)", **_OPT_DATA},
    notes=(
        "USPS background is ~0.02 where MNIST is exactly 0: standardising with MNIST "
        "statistics blows USPS up. Use raw values or per-sample normalisation."
    ),
    aliases=("mnist_usps_jda", "usps_mnist"),
)

_USPS_REPO = (
    "niuers/Learning-From-Data-A-Short-Course",
    "879a698b960e5867f7c2b11f8938fa89c3d21839",
)
_MNIST_RAW_REPO = ("wang2506/tccn_domain_adaptation", "b1f641b5692b45aa732d108cf5c6eeb4b0bd2590")


def _mnist_file(name: str, sha: str, size: int) -> DataFile:
    return DataFile(
        f"digits_usps_mnist_full/{name}",
        sha,
        size,
        (
            f"https://ossci-datasets.s3.amazonaws.com/mnist/{name}",
            _gh(*_MNIST_RAW_REPO, f"data/MNIST/raw/{name}"),
        ),
        f"GitHub {_MNIST_RAW_REPO[0]}@{_MNIST_RAW_REPO[1][:12]}:data/MNIST/raw/{name}; the "
        "original LeCun file (http://yann.lecun.com/exdb/mnist/, MD5 matches)",
    )


_MNIST_USPS_FULL = DatasetInfo(
    name="mnist_usps_full",
    title="MNIST test set (10000) <-> full USPS (7291 + 2007)",
    folder="digits_usps_mnist_full",
    modality="image (grey digits)",
    domains=("mnist", "usps"),
    sizes={"mnist": 10000, "usps": 9298},
    n_features=784,
    classes=_DIGITS,
    label="digit 0..9",
    domain_definition=(
        "Digit source: the MNIST test set (28x28) and USPS (16x16; train, test or both)."
    ),
    tasks=("mnist->usps", "usps->mnist"),
    features=(
        "Pixels in [0, 1] (MNIST divided by 255). Default image_size=28 upsamples USPS to "
        "28x28 (bilinear, as SKADA-Bench resizes USPS); image_size=16 downsamples MNIST "
        "(Gaussian pre-filter + bilinear). Rows are images in C order."
    ),
    files=(
        DataFile(
            "digits_usps_mnist_full/usps.h5",
            "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
            2913522,
            (_gh(*_USPS_REPO, "data/usps.h5"),),
            f"GitHub {_USPS_REPO[0]}@{_USPS_REPO[1][:12]}:data/usps.h5 (the Kaggle USPS HDF5, "
            "from the ESL zip.train / zip.test files)",
        ),
        _mnist_file("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
        _mnist_file("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
    ),
    citation=(_MNIST, _USPS, _SKADA_BENCH),
    licence="MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes). USPS: no explicit licence (research use).",
    loader="load_mnist_usps_full",
    options={
        "usps_split": "'all' (default, 9298), 'train' (7291) or 'test' (2007)",
        "image_size": "28 (default) or 16: common resolution of both domains",
        "normalize": "'none' (default) or 'l2' (per-sample)",
        **_OPT_DATA,
    },
    variants={
        "usps_split=train": {"mnist": 10000, "usps": 7291},
        "usps_split=test": {"mnist": 10000, "usps": 2007},
        "image_size=16": {"n_features": 256},
    },
    notes="The MNIST training set is not included (over the snapshot size limit).",
    aliases=("digits_usps_mnist_full", "usps_mnist_full"),
)

_MUSHROOM_REPO = ("yotov96/mushroom-dataset-analysis", "f36672dfe27736f58b6c1013de39db4be7cf03f5")
_UCI = "https://archive.ics.uci.edu/ml/machine-learning-databases"

_MUSHROOMS = DatasetInfo(
    name="mushrooms",
    title="UCI Mushroom (agaricus-lepiota), domains by stalk shape",
    folder="uci_mushrooms",
    modality="tabular (categorical, one-hot)",
    domains=("enlarging", "tapering"),
    sizes={"enlarging": 3516, "tapering": 4608},
    n_features=117,
    classes=("edible", "poisonous"),
    label="0 edible (e), 1 poisonous (p), as SKADA-Bench",
    domain_definition=(
        "stalk-shape (column 10): enlarging (e) vs tapering (t) [Dai et al. 2007; SKADA-Bench]."
    ),
    tasks=("enlarging->tapering", "tapering->enlarging"),
    features=(
        "One-hot encoding of the 22 categorical attributes (categories seen in the whole "
        "file, label-free; '?' of stalk-root is its own category): 117 columns named "
        "'<attribute>=<code>' with the UCI letter codes. The stalk-shape columns stay in X "
        "(constant within a domain) as in SKADA-Bench; keep_domain_feature=False drops them."
    ),
    files=(
        DataFile(
            "uci_mushrooms/agaricus-lepiota.data",
            "e65d082030501a3ebcbcd7c9f7c71aa9d28fdfff463bf4cf4716a3fe13ac360e",
            373704,
            (
                f"{_UCI}/mushroom/agaricus-lepiota.data",
                _gh(*_MUSHROOM_REPO, "agaricus-lepiota.data"),
            ),
            f"GitHub {_MUSHROOM_REPO[0]}@{_MUSHROOM_REPO[1][:12]}:agaricus-lepiota.data "
            "(UCI file, md5 08abc775ae2a79b402cc75f3a29e4b7d)",
        ),
        DataFile(
            "uci_mushrooms/agaricus-lepiota.names",
            "5eb8d22dcdd3689a8691be48884f48697d535a3293ff333d28b7ac4ecdb0e2b5",
            6841,
            (_gh(*_MUSHROOM_REPO, "agaricus-lepiota.names"),
             f"{_UCI}/mushroom/agaricus-lepiota.names"),
            f"GitHub {_MUSHROOM_REPO[0]}@{_MUSHROOM_REPO[1][:12]}:agaricus-lepiota.names "
            "(UCI description)",
            required=False,
        ),
    ),
    citation=(
        "J. Schlimmer. Mushroom [data set]. UCI Machine Learning Repository, 1987. "
        "doi:10.24432/C5959T",
        _DAI,
        _SKADA_BENCH,
    ),
    licence=_CC_BY,
    loader="load_mushrooms",
    options={"keep_domain_feature": "keep the stalk-shape columns in X (default True)",
             **_OPT_DATA},
    variants={"keep_domain_feature=False": {"n_features": 115}},
    notes="veil-type is constant; stalk-root has 2480 missing values ('?').",
    aliases=("mushroom", "uci_mushrooms"),
)

_PHISHING_REPO = ("santoshchejarla/WebSecAsst", "6d4d2626795a74878329586fff786224b5b457fd")

_PHISHING = DatasetInfo(
    name="phishing",
    title="UCI Phishing Websites, domains by having_IP_Address",
    folder="uci_phishing_websites",
    modality="tabular (ternary features)",
    domains=("ip", "no_ip"),
    sizes={"ip": 3793, "no_ip": 7262},
    n_features=30,
    classes=("phishing", "legitimate"),
    label="Result: 0 phishing (-1 in the file), 1 legitimate (+1), as SKADA-Bench",
    domain_definition=(
        "having_IP_Address: -1 -> 'ip' (the URL uses an IP address, the phishing-indicating "
        "value in the UCI feature coding), +1 -> 'no_ip'. SKADA-Bench uses the same split but "
        "names -1 'no_ip_adress' and +1 'ip_adress'."
    ),
    tasks=("ip->no_ip", "no_ip->ip"),
    features=(
        "The 30 attributes with values in {-1, 0, 1}, as numbers (ARFF attribute names). "
        "having_IP_Address stays in X (constant within a domain) as in SKADA-Bench; "
        "keep_domain_feature=False drops it."
    ),
    files=(
        DataFile(
            "uci_phishing_websites/phishing.arff",
            "0dfcd84ccdedca6e1be2ce26452c1f1089ac3f839b9a1b0ab1cdcf6d895f9a70",
            800856,
            (_gh(*_PHISHING_REPO, "Training%20Dataset.arff"),),
            f"GitHub {_PHISHING_REPO[0]}@{_PHISHING_REPO[1][:12]}:Training Dataset.arff "
            "(the UCI file, renamed)",
        ),
    ),
    citation=(
        "R. M. Mohammad, F. Thabtah, L. McCluskey. Phishing Websites [data set]. UCI Machine "
        "Learning Repository, 2015. doi:10.24432/C51W2X",
        "R. M. Mohammad, F. Thabtah, L. McCluskey. An assessment of features related to "
        "phishing websites using an automated technique. ICITST 2012.",
        _SKADA_BENCH,
    ),
    licence=_CC_BY,
    loader="load_phishing",
    options={"keep_domain_feature": "keep having_IP_Address in X (default True)", **_OPT_DATA},
    variants={"keep_domain_feature=False": {"n_features": 29}},
    notes="5206 of the 11055 rows duplicate other rows (a property of the original data).",
    aliases=("phishing_websites", "uci_phishing"),
)

_WINE_REPO = ("BenWatson2000/AI_Wine_Critic", "371c1bd9a88d7d9e0e260cd6782be5918e7650fb")


def _wine_file(name: str, sha: str, size: int, required: bool = True) -> DataFile:
    return DataFile(
        f"uci_wine_quality_red_white/{name}",
        sha,
        size,
        (f"{_UCI}/wine-quality/{name}", _gh(*_WINE_REPO, f"datasets/{name}")),
        f"GitHub {_WINE_REPO[0]}@{_WINE_REPO[1][:12]}:datasets/{name} (UCI file)",
        required,
    )


_WINE = DatasetInfo(
    name="wine_quality",
    title="UCI Wine Quality, red vs white Vinho Verde",
    folder="uci_wine_quality_red_white",
    modality="tabular (physico-chemical)",
    domains=("red", "white"),
    sizes={"red": 1599, "white": 4898},
    n_features=11,
    classes=("quality<6", "quality>=6"),
    label=(
        "Default target='binary': 1 if quality >= threshold (default 6) else 0. "
        "target='multiclass': one class per quality score, labels 0..6 for qualities 3..9."
    ),
    domain_definition="Wine colour: red (1599) vs white (4898) [Cortez et al. 2009].",
    tasks=("red->white", "white->red"),
    features="The 11 physico-chemical measurements, unscaled (units of the UCI file).",
    files=(
        _wine_file("winequality-red.csv",
                   "4a402cf041b025d4566d954c3b9ba8635a3a8a01e039005d97d6a710278cf05e", 84199),
        _wine_file("winequality-white.csv",
                   "76c3f809815c17c07212622f776311faeb31e87610d52c26d87d6e361b169836", 264426),
        _wine_file("winequality.names",
                   "766c4fdc45be087c7efe720b7d8e0d4949baefb4cd620901bd36a3aaa83246ca", 3234,
                   required=False),
    ),
    citation=(
        "P. Cortez, A. Cerdeira, F. Almeida, T. Matos, J. Reis. Modeling wine preferences by "
        "data mining from physicochemical properties. Decision Support Systems 47(4), 2009. "
        "doi:10.1016/j.dss.2009.05.016",
        "P. Cortez et al. Wine Quality [data set]. UCI Machine Learning Repository, 2009. "
        "doi:10.24432/C56S3T",
    ),
    licence=_CC_BY,
    loader="load_wine_quality",
    options={
        "target": "'binary' (default) or 'multiclass'",
        "threshold": "quality threshold of the binary target (default 6)",
        **_OPT_DATA,
    },
    variants={"target=multiclass": {"n_classes": 7}},
    notes=(
        "Not a classic DA benchmark: a natural covariate and label shift pair. Classes are "
        "imbalanced; the red domain has no quality 9."
    ),
    aliases=("wine", "winequality"),
)

#: The 20 Newsgroups DA splits of Dai et al. (2007) as used by SKADA-Bench: for each top
#: category, the subcategories of the source domain and of the target domain.
NEWSGROUPS_SPLITS: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]] = MappingProxyType({
    "rec": (("rec.autos", "rec.motorcycles"), ("rec.sport.baseball", "rec.sport.hockey")),
    "talk": (
        ("talk.politics.guns", "talk.politics.misc"),
        ("talk.religion.misc", "talk.politics.mideast"),
    ),
    "sci": (("sci.crypt", "sci.electronics"), ("sci.med", "sci.space")),
})

_NEWSGROUPS = DatasetInfo(
    name="twenty_newsgroups",
    title="20 Newsgroups (bydate), top-category tasks with subcategory domains",
    folder="twenty_newsgroups",
    modality="text (raw posts, TF-IDF + SVD)",
    domains=("source", "target"),
    sizes={"source": 3671, "target": 3561},
    n_features=300,
    classes=("rec", "talk"),
    label=(
        "Top category of the post: for task 'A-vs-B', 0 = A and 1 = B (the default task "
        "rec-vs-talk: 0 rec, 1 talk)."
    ),
    domain_definition=(
        "Task A-vs-B keeps the posts of top categories A and B; a domain is a set of "
        "subcategories: source = {rec.autos, rec.motorcycles | talk.politics.guns, "
        "talk.politics.misc | sci.crypt, sci.electronics}, target = {rec.sport.baseball, "
        "rec.sport.hockey | talk.religion.misc, talk.politics.mideast | sci.med, sci.space} "
        "for the two categories of the task; train + test posts [Dai et al. 2007; SKADA-Bench]."
    ),
    tasks=("source->target",),
    features=_TEXT_FEATURES + (
        " Text: the message body; the header block is removed by default "
        "(remove_headers=True): sender, address and organisation lines are strong cues that do "
        "not carry over between subcategories."
    ),
    files=(
        DataFile(
            "twenty_newsgroups/20news-bydate_reconstructed.tar.gz",
            "3d49afec1ff2772e21fe7ecf9ee1b5b6171c8bcf99fa95eb5a147eba27ed792c",
            14372471,
            (),  # rebuilt from two extracted copies: no server has these exact bytes
            "Rebuilt from the extracted files of GitHub julenminer/mlnn_P65@7393be663c8d and "
            "spoddutur/spark-ml-dashboard@d95a19293f4c (see SOURCE.md); the original is "
            "J. Rennie's 20news-bydate.tar.gz (http://qwone.com/~jason/20Newsgroups/), whose "
            "bytes differ",
        ),
    ),
    citation=(
        "K. Lang. NewsWeeder: Learning to filter netnews. ICML 1995. "
        "doi:10.1016/B978-1-55860-377-6.50048-7",
        _DAI,
        _SKADA_BENCH,
        _TFIDF,
        _LSA,
    ),
    licence=(
        "No explicit licence; freely redistributed for research (e.g. by scikit-learn). "
        "The 1993 Usenet posts include names and e-mail addresses."
    ),
    loader="load_twenty_newsgroups",
    options={
        "task": "'rec-vs-talk' (default), 'rec-vs-sci', 'talk-vs-sci', or any 'A-vs-B' of "
        "rec, sci, talk (B-vs-A flips the labels)",
        "remove_headers": "drop each post's header block (default True)",
        **_TEXT_OPTIONS,
        **_OPT_DATA,
    },
    variants={
        "task=rec-vs-talk": {"source": 3671, "target": 3561},
        "task=rec-vs-sci": {"source": 3961, "target": 3970},
        "task=talk-vs-sci": {"source": 3660, "target": 3545},
    },
    notes=(
        "SKADA-Bench uses sentence-transformer embeddings; shiftlab's default is TF-IDF + "
        "SVD (no model download). Raw text: read_twenty_newsgroups_text(). The archive is a "
        "reconstruction (no upstream URL): a few posts may differ slightly from the original."
    ),
    aliases=("20newsgroups", "20ng", "newsgroups"),
)

_CATALOG: tuple[DatasetInfo, ...] = (
    _OFFICE_CALTECH_SURF,
    _OFFICE_CALTECH_DECAF6,
    _OFFICE_CALTECH_GOOGLENET,
    _AMAZON_400,
    _AMAZON_TEXT,
    _MNIST_USPS,
    _MNIST_USPS_FULL,
    _MUSHROOMS,
    _PHISHING,
    _WINE,
    _NEWSGROUPS,
)
_BY_NAME: dict[str, DatasetInfo] = {}
for _info in _CATALOG:
    for _key in (_info.name, *_info.aliases):
        if _key in _BY_NAME:  # pragma: no cover - guards edits of the table above
            raise RuntimeError(f"duplicate catalog name {_key!r}")
        _BY_NAME[_key] = _info


def catalog() -> list[DatasetInfo]:
    """All catalog entries, in a stable order."""
    return list(_CATALOG)


def dataset_names() -> list[str]:
    """The canonical dataset names (without aliases)."""
    return [info.name for info in _CATALOG]


def dataset_info(name: str) -> DatasetInfo:
    """The catalog entry of a dataset (case-insensitive; aliases accepted).

    Raises
    ------
    UnknownNameError
        With a "did you mean" suggestion and the list of valid names.
    """
    key = str(name).strip().lower().replace("-", "_")
    if key in _BY_NAME:
        return _BY_NAME[key]
    raise unknown_name("dataset", name, dataset_names())


def local_state(
    name: str, data_home: str | os.PathLike | None = None, *, recheck: bool = False
) -> LocalState:
    """What the data home holds of a dataset: ``"yes"``, ``"no"``, ``"partial"`` or ``"corrupt"``.

    Every present file is checked against its catalogued size and sha256; the digests are
    cached in ``<data home>/.verified.json`` (not written in a read-only data home) under
    each file's stat stamp, so that a second call costs one ``stat`` per file (files
    changed within a second of being hashed excepted: they are hashed again). See
    :func:`shiftlab.data.home.check_files` and "Integrity" in :mod:`shiftlab.data.home`
    for what that stamp does and does not notice.

    Parameters
    ----------
    name : str
        Catalog name or alias.
    data_home : str or path-like, optional
        Data home (see :func:`~shiftlab.data.home.get_data_home`).
    recheck : bool, default=False
        Hash every present file again, trusting no cached digest.

    Returns
    -------
    LocalState
        The state and the first offending file; ``advice(name)`` says how to fix it.

    Raises
    ------
    UnknownNameError
        ``name`` is not in the catalog.
    """
    return check_files(dataset_info(name).files, data_home, recheck=recheck)


def is_available(name: str, data_home: str | os.PathLike | None = None) -> bool:
    """Whether every file a dataset's loader needs is in the data home, with the right sha256.

    A file that is present but corrupted does not count. Digests cached by
    :func:`local_state` (``shiftlab datasets``) are used, but nothing is written: this is
    a pure query, safe on any data home.

    Raises
    ------
    UnknownNameError
        ``name`` is not in the catalog.
    """
    return check_files(dataset_info(name).files, data_home, update_cache=False).available
