"""Catalog entries of the text and tabular datasets: Amazon reviews (400 features and
raw text), Mushrooms, Phishing, Wine and 20 Newsgroups."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from shiftlab.data.catalog._info import (
    DatasetInfo,
)
from shiftlab.data.catalog._refs import (
    _BLITZER,
    _CC_BY,
    _DAI,
    _LSA,
    _MEDA_REPO,
    _OPT_DATA,
    _RESEARCH,
    _SKADA_BENCH,
    _TEXT_FEATURES,
    _TEXT_OPTIONS,
    _TFIDF,
    _gh,
    _pairs,
)
from shiftlab.data.home import DataFile


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
    notes=(
        "A few reviews per domain are missing compared with the 1000 + 1000 raw reviews. "
        "Not SKADA-Bench's AmazonReview features, which cannot be rebuilt here: those are "
        "sentence embeddings (BAAI/bge-large-en-v1.5, then PCA to 50) of the review text, "
        "and the model needs a download; SKADA-Bench also predicts the rating in 4 classes "
        "(1, 2, 4, 5 stars), where this dataset has 2 (negative, positive)."
    ),
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
        "SKADA-Bench's AmazonReview uses sentence-transformer embeddings of this text "
        "(BAAI/bge-large-en-v1.5, then PCA to 50), which cannot be rebuilt here (the model "
        "needs a download); shiftlab's default is TF-IDF + SVD (no model download). Raw "
        "text: read_amazon_review_text(). The files are gzip re-compressions (no upstream "
        "URL)."
    ),
    aliases=("amazon_review_raw",),
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
        "SKADA-Bench uses sentence-transformer embeddings (BAAI/bge-large-en-v1.5, then PCA "
        "to 50), which cannot be rebuilt here (the model needs a download); shiftlab's "
        "default is TF-IDF + SVD (no model download). Raw text: "
        "read_twenty_newsgroups_text(). The archive is a "
        "reconstruction (no upstream URL): a few posts may differ slightly from the original."
    ),
    aliases=("20newsgroups", "20ng", "newsgroups"),
)
