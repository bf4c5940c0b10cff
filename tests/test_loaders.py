"""Real-dataset loaders and the catalog, checked against the shared data files.

The expected numbers (domain sizes, per-class counts, feature counts) are copied from
each folder's SOURCE.md in ../shared/datasets, not computed from the loaders.
"""

from __future__ import annotations

import json
import time

import numpy as np
import pytest

from shiftlab.data import DomainDataset
from shiftlab.data.catalog import catalog, dataset_info, dataset_names, is_available
from shiftlab.data.home import sha256_file
from shiftlab.data.loaders import (
    load_dataset,
    load_mnist_usps,
    load_mnist_usps_full,
    load_mushrooms,
    load_office_caltech10_decaf6,
    load_office_caltech10_googlenet,
    load_office_caltech10_surf,
    load_phishing,
    load_twenty_newsgroups,
    load_wine_quality,
    read_amazon_review_text,
    read_twenty_newsgroups_text,
)
from shiftlab.data.text import tfidf_svd
from shiftlab.exceptions import DataValidationError, UnknownNameError

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("feature_cache")


@pytest.fixture(autouse=True)
def _isolated_feature_cache(monkeypatch, feature_cache):
    # Text featurisations are cached on disk: keep them out of the user's home.
    monkeypatch.setenv("SHIFTLAB_CACHE", str(feature_cache))
    monkeypatch.delenv("SHIFTLAB_DATA_MIRROR", raising=False)


def _class_counts(ds: DomainDataset) -> dict[str, list[int]]:
    return {d: np.bincount(ds[d][1], minlength=len(ds.target_names)).tolist() for d in ds}


def _check_arrays(ds: DomainDataset, n_features: int) -> None:
    for d in ds:
        X, y = ds[d]
        assert X.dtype == np.float64 and X.ndim == 2 and X.shape[1] == n_features, d
        assert np.isfinite(X).all(), d
        assert y.dtype == np.int64 and y.shape == (X.shape[0],), d


# ------------------------------------------------------------------------- catalog
def test_catalog_files_match_shared_snapshot(shared_data_home):
    """Every catalogued file exists in ../shared with the recorded size and sha256, but
    the files downloaded on demand (not required, with public URLs): MNIST's training
    set, over the snapshot's size limit."""
    listed = set()
    on_demand = []
    for info in catalog():
        for f in info.files:
            path = shared_data_home / f.path
            if not path.exists() and not f.required and f.urls:
                on_demand.append(f.path)
                continue
            assert path.is_file(), f.path
            assert path.stat().st_size == f.size, f.path
            assert sha256_file(path) == f.sha256, f.path
            assert f.folder == info.folder
            listed.add(f.path)
    # ... and every data file of the snapshot is catalogued. shiftlab's own caches in a
    # data home (the text features under _features/, dot files) are not data files: a
    # writable snapshot (root ignores the write bits) gets them from any loader call.
    on_disk = {
        rel
        for p in shared_data_home.rglob("*")
        if p.is_file() and p.name not in ("SOURCE.md", "README.md")
        and not (rel := p.relative_to(shared_data_home).as_posix()).startswith(("_features/", "."))
        and not p.name.startswith(".")
    }
    assert on_disk == listed
    assert sorted(on_demand) == ["digits_usps_mnist_full/train-images-idx3-ubyte.gz",
                                 "digits_usps_mnist_full/train-labels-idx1-ubyte.gz"]


def test_catalog_entries_are_consistent():
    names = dataset_names()
    assert len(names) == len(set(names)) == 12
    for info in catalog():
        assert tuple(info.sizes) == info.domains
        assert info.n_samples == sum(info.sizes.values())
        assert info.n_classes == len(info.classes) >= 2
        assert info.citation and info.licence and info.domain_definition
        for task in info.tasks:
            source, target = task.split("->")
            assert source in info.domains and target in info.domains, task
        assert any(f.required for f in info.files)
        for f in info.files:
            assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
            assert all(u.startswith("https://") for u in f.urls), f.urls
        for alias in info.aliases:
            assert dataset_info(alias) is info
        d = info.to_dict()
        json.dumps(d)  # plain Python only
        assert d["n_classes"] == info.n_classes and d["sizes"] == dict(info.sizes)
        assert d["files"][0]["sha256"] == info.files[0].sha256


def test_catalog_entries_are_read_only():
    info = dataset_info("mushrooms")
    with pytest.raises(TypeError):
        info.sizes["enlarging"] = 0
    assert info.sizes["enlarging"] == 3516


def test_catalog_records_upstream_urls():
    surf = dataset_info("office_caltech10_surf").file("amazon_SURF_L10.mat")
    assert surf.urls == (
        "https://raw.githubusercontent.com/viggin/domain-adaptation-toolbox/"
        "2a991816a0ac39043b526c2b0cbe01bc844d8890/ToRelease_GFK/data/amazon_SURF_L10.mat",
    )
    assert dataset_info("mushrooms").file("agaricus-lepiota.data").urls[0] == (
        "https://archive.ics.uci.edu/ml/machine-learning-databases/mushroom/agaricus-lepiota.data"
    )
    # Re-compressed / reconstructed files have no upstream with the same bytes.
    assert dataset_info("twenty_newsgroups").files[0].urls == ()
    assert all(not f.urls for f in dataset_info("amazon_review_text").files)


def test_unknown_dataset_name_suggests():
    with pytest.raises(UnknownNameError, match="Did you mean 'mushrooms'") as err:
        dataset_info("mushroms")
    assert "Valid datasets:" in str(err.value) and "phishing" in str(err.value)
    with pytest.raises(UnknownNameError, match="Did you mean 'phishing'"):
        load_dataset("phising")


def test_names_are_case_and_dash_insensitive():
    assert dataset_info("Office-Caltech10-SURF").name == "office_caltech10_surf"
    assert dataset_info("20ng").name == "twenty_newsgroups"


def test_every_dataset_available_in_shared_home(shared_data_home, tmp_path):
    for name in dataset_names():
        assert is_available(name, shared_data_home), name
        assert not is_available(name, tmp_path), name


# ------------------------------------------------------------------ Office-Caltech
# Per-class counts for labels 1..10, from office_caltech10_surf/SOURCE.md.
OFFICE_COUNTS = {
    "amazon": [92, 82, 94, 99, 100, 100, 99, 100, 94, 98],
    "caltech": [151, 110, 100, 138, 85, 128, 133, 94, 87, 97],
    "dslr": [12, 21, 12, 13, 10, 24, 22, 12, 8, 23],
    "webcam": [29, 21, 31, 27, 27, 30, 43, 30, 27, 30],
}


def test_office_caltech10_surf():
    ds = load_office_caltech10_surf()
    assert ds.name == "office_caltech10_surf"
    assert ds.domain_names == ["amazon", "caltech", "dslr", "webcam"]
    assert ds.sizes() == {"amazon": 958, "caltech": 1123, "dslr": 157, "webcam": 295}
    _check_arrays(ds, 800)
    assert ds.classes.tolist() == list(range(10))
    assert ds.target_names[0] == "back_pack" and ds.target_names[9] == "projector"
    assert _class_counts(ds) == OFFICE_COUNTS
    # default normalize="l1": every histogram sums to one
    for d in ds:
        np.testing.assert_allclose(ds[d][0].sum(axis=1), 1.0)
    assert ds.metadata["citation"] and ds.metadata["options"] == {"normalize": "l1"}


def test_office_caltech10_surf_normalisations():
    raw = load_office_caltech10_surf(normalize="none")
    # raw uint8 counts (SOURCE.md: max 115)
    assert max(raw[d][0].max() for d in raw) == 115
    assert all(np.array_equal(raw[d][0], np.round(raw[d][0])) for d in raw)
    gfk = load_office_caltech10_surf(normalize="l1_zscore")
    for d in gfk:  # z-scored within each domain
        Z = gfk[d][0]
        np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-10)
        std = Z.std(axis=0, ddof=1)
        assert np.allclose(std[std > 0], 1.0)
    l2 = load_office_caltech10_surf(normalize="l2")
    np.testing.assert_allclose(np.linalg.norm(l2["dslr"][0], axis=1), 1.0)
    with pytest.raises(DataValidationError, match="Invalid normalize='zscore'.*Valid values"):
        load_office_caltech10_surf(normalize="zscore")


def test_office_caltech10_deep_partial_rows_follow_surf():
    surf = load_office_caltech10_surf()
    decaf = load_office_caltech10_decaf6()
    assert decaf.domain_names == ["dslr", "webcam"]
    assert decaf.sizes() == {"dslr": 157, "webcam": 295}
    _check_arrays(decaf, 4096)
    assert (decaf["dslr"][0] >= 0).all()
    google = load_office_caltech10_googlenet()
    assert google.domain_names == ["amazon", "dslr", "webcam"]
    assert google.sizes() == {"amazon": 958, "dslr": 157, "webcam": 295}
    _check_arrays(google, 1024)
    # SOURCE.md: labels identical to the SURF files, row for row.
    for ds in (decaf, google):
        for d in ds:
            assert np.array_equal(ds[d][1], surf[d][1]), (ds.name, d)


# ----------------------------------------------------------------- Amazon reviews
def test_amazon_review_400():
    ds = load_dataset("amazon_review_400")
    assert ds.domain_names == ["books", "dvd", "electronics", "kitchen"]
    assert ds.sizes() == {"books": 2000, "dvd": 1999, "electronics": 1998, "kitchen": 1999}
    _check_arrays(ds, 400)
    assert _class_counts(ds) == {
        "books": [1000, 1000], "dvd": [1000, 999], "electronics": [1000, 998],
        "kitchen": [1000, 999],
    }
    assert list(ds.target_names) == ["negative", "positive"]
    X = ds["books"][0]
    assert X.min() >= 0 and X.max() <= 1


def test_amazon_review_raw_text():
    texts = read_amazon_review_text()
    assert list(texts) == ["books", "dvd", "electronics", "kitchen"]
    for domain, (docs, y) in texts.items():
        assert len(docs) == 2000 and np.bincount(y).tolist() == [1000, 1000], domain
        assert all(isinstance(t, str) and t and "review_text>" not in t for t in docs)
    # The first negative book review, as in the file.
    assert texts["books"][0][0].startswith("THis book was horrible.")


def test_amazon_review_text_featurised_and_cached(feature_cache):
    opts = dict(n_components=20, max_features=3000)
    t0 = time.perf_counter()
    ds = load_dataset("amazon_review_text", **opts)
    first = time.perf_counter() - t0
    assert ds.sizes() == {d: 2000 for d in ("books", "dvd", "electronics", "kitchen")}
    _check_arrays(ds, 20)
    np.testing.assert_allclose(np.linalg.norm(ds["dvd"][0], axis=1), 1.0)
    assert ds.metadata["featurisation"]["n_components"] == 20
    assert list(feature_cache.glob("amazon_review_text-*.npz"))
    t0 = time.perf_counter()
    again = load_dataset("amazon_review_text", **opts)
    assert time.perf_counter() - t0 < first
    for d in ds:
        assert np.array_equal(ds[d][0], again[d][0]) and np.array_equal(ds[d][1], again[d][1])
    # Label-free features still separate the sentiment a little (sanity of alignment).
    from sklearn.linear_model import LogisticRegression

    Xs, ys = ds["electronics"]
    Xt, yt = ds["kitchen"]
    assert LogisticRegression(max_iter=500).fit(Xs, ys).score(Xt, yt) > 0.65


# ------------------------------------------------------------------------- digits
def test_mnist_usps_jda():
    ds = load_mnist_usps()
    assert ds.domain_names == ["mnist", "usps"]
    assert ds.sizes() == {"mnist": 2000, "usps": 1800}
    _check_arrays(ds, 256)
    assert _class_counts(ds) == {
        "mnist": [196, 227, 207, 202, 196, 179, 191, 206, 195, 201],
        "usps": [352, 241, 165, 166, 166, 126, 139, 172, 129, 144],
    }
    assert ds["mnist"][0].min() == 0 and ds["usps"][0].max() <= 1.0


def test_mnist_usps_jda_reproduces_paper_nn_baseline():
    """SOURCE.md: 1-NN on L2-normalised pixels gives 65.94 % / 44.70 % (JDA paper)."""
    ds = load_mnist_usps(normalize="l2")
    (Xm, ym), (Xu, yu) = ds["mnist"], ds["usps"]
    nearest_in_mnist = np.argmax(Xu @ Xm.T, axis=1)  # unit rows: max cosine = min distance
    nearest_in_usps = np.argmax(Xm @ Xu.T, axis=1)
    assert np.mean(ym[nearest_in_mnist] == yu) == pytest.approx(0.6594, abs=5e-4)
    assert np.mean(yu[nearest_in_usps] == ym) == pytest.approx(0.4470, abs=5e-4)


USPS_TRAIN = [1194, 1005, 731, 658, 652, 556, 664, 645, 542, 644]
USPS_TEST = [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
MNIST_TEST = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_mnist_usps_full_default():
    ds = load_mnist_usps_full()
    assert ds.domain_names == ["mnist", "usps"]
    assert ds.sizes() == {"mnist": 10000, "usps": 7291 + 2007}
    _check_arrays(ds, 784)
    assert _class_counts(ds) == {
        "mnist": MNIST_TEST,
        "usps": [a + b for a, b in zip(USPS_TRAIN, USPS_TEST, strict=True)],
    }
    for d in ds:
        X = ds[d][0]
        assert X.min() >= 0 and X.max() <= 1 and X.max() > 0.9, d


@pytest.mark.parametrize(
    ("split", "counts"), [("train", USPS_TRAIN), ("test", USPS_TEST)]
)
def test_mnist_usps_full_usps_splits(split, counts):
    ds = load_mnist_usps_full(usps_split=split, image_size=16)
    assert ds.sizes() == {"mnist": 10000, "usps": sum(counts)}
    _check_arrays(ds, 256)
    assert _class_counts(ds)["usps"] == counts


def test_mnist_usps_full_resize_keeps_digits_recognisable():
    """Both resolutions put the digits at the same place: class means correlate."""
    for size in (16, 28):
        ds = load_mnist_usps_full(image_size=size, usps_split="test")
        (Xm, ym), (Xu, yu) = ds["mnist"], ds["usps"]
        means_m = np.stack([Xm[ym == k].mean(0) for k in range(10)])
        means_u = np.stack([Xu[yu == k].mean(0) for k in range(10)])
        corr = np.corrcoef(means_m, means_u)[:10, 10:]
        # Each USPS class mean is most similar to the MNIST mean of the same digit
        # for most digits (a transposed or shifted image would break this).
        assert (corr.argmax(axis=0) == np.arange(10)).sum() >= 8, size
    with pytest.raises(DataValidationError, match="image_size"):
        load_mnist_usps_full(image_size=32)
    with pytest.raises(DataValidationError, match="Did you mean 'train'"):
        load_mnist_usps_full(usps_split="trian")


# ------------------------------------------------------------------------ tabular
def test_mushrooms_stalk_shape_domains():
    ds = load_mushrooms()
    assert ds.domain_names == ["enlarging", "tapering"]
    assert ds.sizes() == {"enlarging": 3516, "tapering": 4608}
    _check_arrays(ds, 117)
    assert _class_counts(ds) == {"enlarging": [1616, 1900], "tapering": [2592, 2016]}
    assert list(ds.target_names) == ["edible", "poisonous"]
    names = list(ds.feature_names)
    assert len(names) == 117 and "odor=n" in names and "stalk-root=?" in names
    for d, code in (("enlarging", "e"), ("tapering", "t")):
        X = ds[d][0]
        assert set(np.unique(X)) == {0.0, 1.0}
        np.testing.assert_array_equal(X.sum(axis=1), 22)  # one category per attribute
        # The domain variable stays in X, constant within the domain.
        assert (X[:, names.index(f"stalk-shape={code}")] == 1).all()
    assert int(ds["enlarging"][0][:, names.index("stalk-root=?")].sum()
               + ds["tapering"][0][:, names.index("stalk-root=?")].sum()) == 2480
    dropped = load_mushrooms(keep_domain_feature=False)
    _check_arrays(dropped, 115)
    assert not any(n.startswith("stalk-shape=") for n in dropped.feature_names)


def test_phishing_ip_address_domains():
    ds = load_phishing()
    assert ds.domain_names == ["ip", "no_ip"]
    assert ds.sizes() == {"ip": 3793, "no_ip": 7262}
    _check_arrays(ds, 30)
    # Result -1 (phishing) -> 0, +1 (legitimate) -> 1.
    assert _class_counts(ds) == {"ip": [1926, 1867], "no_ip": [2972, 4290]}
    names = list(ds.feature_names)
    assert names[0] == "having_IP_Address" and len(names) == 30
    assert (ds["ip"][0][:, 0] == -1).all() and (ds["no_ip"][0][:, 0] == 1).all()
    assert set(np.unique(ds["no_ip"][0])) == {-1.0, 0.0, 1.0}
    dropped = load_phishing(keep_domain_feature=False)
    _check_arrays(dropped, 29)
    assert "having_IP_Address" not in dropped.feature_names


WINE_QUALITY = {
    "red": {3: 10, 4: 53, 5: 681, 6: 638, 7: 199, 8: 18},
    "white": {3: 20, 4: 163, 5: 1457, 6: 2198, 7: 880, 8: 175, 9: 5},
}


def test_wine_quality_targets():
    ds = load_wine_quality()
    assert ds.domain_names == ["red", "white"]
    assert ds.sizes() == {"red": 1599, "white": 4898}
    _check_arrays(ds, 11)
    assert ds.feature_names[0] == "fixed acidity" and ds.feature_names[-1] == "alcohol"
    assert _class_counts(ds) == {
        d: [sum(n for q, n in c.items() if q < 6), sum(n for q, n in c.items() if q >= 6)]
        for d, c in WINE_QUALITY.items()
    }
    multi = load_wine_quality(target="multiclass")
    for d, counts in WINE_QUALITY.items():
        q, n = np.unique(multi[d][1], return_counts=True)
        assert dict(zip((q + 3).tolist(), n.tolist(), strict=True)) == counts
    assert list(multi.target_names) == ["3", "4", "5", "6", "7", "8", "9"]
    strict = load_wine_quality(threshold=7)
    assert np.bincount(strict["red"][1]).tolist() == [1599 - 217, 217]
    with pytest.raises(DataValidationError, match="single class"):
        load_wine_quality(threshold=10)
    with pytest.raises(DataValidationError, match="Valid values: 'binary', 'multiclass'"):
        load_wine_quality(target="regression")


# ------------------------------------------------------------------ 20 Newsgroups
# bydate train + test counts per group, from twenty_newsgroups/SOURCE.md.
GROUP_COUNTS = {
    "rec.autos": 594 + 396, "rec.motorcycles": 598 + 398,
    "rec.sport.baseball": 597 + 397, "rec.sport.hockey": 600 + 399,
    "sci.crypt": 595 + 396, "sci.electronics": 591 + 393, "sci.med": 594 + 396,
    "sci.space": 593 + 394, "talk.politics.guns": 546 + 364,
    "talk.politics.misc": 465 + 310, "talk.politics.mideast": 564 + 376,
    "talk.religion.misc": 377 + 251,
}
SOURCE_GROUPS = {
    "rec": ("rec.autos", "rec.motorcycles"),
    "talk": ("talk.politics.guns", "talk.politics.misc"),
    "sci": ("sci.crypt", "sci.electronics"),
}
TARGET_GROUPS = {
    "rec": ("rec.sport.baseball", "rec.sport.hockey"),
    "talk": ("talk.religion.misc", "talk.politics.mideast"),
    "sci": ("sci.med", "sci.space"),
}


@pytest.mark.parametrize(
    ("task", "sizes"),
    [("rec-vs-talk", (3671, 3561)), ("rec-vs-sci", (3961, 3970)), ("talk-vs-sci", (3660, 3545))],
)
def test_twenty_newsgroups_task_domains(task, sizes):
    texts = read_twenty_newsgroups_text(task=task)
    assert list(texts) == ["source", "target"]
    a, b = task.split("-vs-")
    for domain, groups, n in (("source", SOURCE_GROUPS, sizes[0]),
                              ("target", TARGET_GROUPS, sizes[1])):
        docs, y = texts[domain]
        assert len(docs) == n
        assert np.bincount(y).tolist() == [
            sum(GROUP_COUNTS[g] for g in groups[a]), sum(GROUP_COUNTS[g] for g in groups[b])
        ]
    assert dataset_info("twenty_newsgroups").variants[f"task={task}"] == dict(
        zip(("source", "target"), sizes, strict=True)
    )


def test_twenty_newsgroups_reversed_task_flips_labels():
    forward = read_twenty_newsgroups_text(task="talk-vs-sci")
    backward = read_twenty_newsgroups_text(task="sci_vs_talk")
    for d in ("source", "target"):
        assert sorted(forward[d][0]) == sorted(backward[d][0])
        assert forward[d][1].sum() == (1 - backward[d][1]).sum()


def test_twenty_newsgroups_headers_removed_by_default():
    with_headers = read_twenty_newsgroups_text(task="rec-vs-sci", remove_headers=False)
    without = read_twenty_newsgroups_text(task="rec-vs-sci")
    docs_h, docs = with_headers["source"][0], without["source"][0]
    assert len(docs_h) == len(docs) == 3961
    for h, d in zip(docs_h, docs, strict=True):
        # The body is what follows the header block, which holds the Subject: line.
        assert h.endswith(d) and len(d) < len(h)
        assert "Subject:" in h[: len(h) - len(d)]
    assert np.array_equal(with_headers["source"][1], without["source"][1])


def test_twenty_newsgroups_features_cached_and_task_order(feature_cache):
    opts = dict(task="talk-vs-sci", n_components=30, max_features=5000)
    ds = load_twenty_newsgroups(**opts)
    assert ds.domain_names == ["source", "target"]
    assert ds.sizes() == {"source": 3660, "target": 3545}
    _check_arrays(ds, 30)
    assert list(ds.target_names) == ["talk", "sci"]
    assert ds.metadata["subcategories"]["target"] == [
        "talk.religion.misc", "talk.politics.mideast", "sci.med", "sci.space"
    ]
    t0 = time.perf_counter()
    again = load_dataset("20ng", **opts)
    assert time.perf_counter() - t0 < 2.0  # served from the on-disk cache
    assert np.array_equal(ds["target"][0], again["target"][0])
    # Source-only sanity: topic features transfer across subcategories (majority: 0.56).
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(C=10, max_iter=1000).fit(*ds["source"])
    assert clf.score(*ds["target"]) > 0.62
    with pytest.raises(DataValidationError, match="Valid tasks"):
        load_twenty_newsgroups(task="comp-vs-rec")


@pytest.mark.slow
def test_twenty_newsgroups_default_featurisation():
    ds = load_dataset("twenty_newsgroups")
    assert ds.sizes() == {"source": 3671, "target": 3561}
    _check_arrays(ds, 300)
    norms = np.linalg.norm(ds["source"][0], axis=1)
    # Unit rows, except posts whose body keeps no vocabulary term (all-zero rows).
    assert np.allclose(norms[norms > 0], 1.0) and (norms > 0).mean() > 0.95


def test_tfidf_svd_is_seeded_and_validates():
    docs = [f"topic {i % 3} word{i % 7} common text sample {i % 5}" for i in range(60)]
    a = tfidf_svd(docs, 4, min_df=1, max_df=1.0)
    b = tfidf_svd(docs, 4, min_df=1, max_df=1.0)
    assert a.shape == (60, 4) and a.dtype == np.float64 and np.array_equal(a, b)
    with pytest.raises(DataValidationError, match="too large"):
        tfidf_svd(docs, 500, min_df=1, max_df=1.0)
    with pytest.raises(DataValidationError, match="no usable term"):
        tfidf_svd(["the", "and"], 1)


# ----------------------------------------------------------------- generic access
def test_load_dataset_matches_catalog_sizes():
    """Every non-text dataset loads with the sizes its catalog entry announces."""
    for info in catalog():
        if info.name in ("amazon_review_text", "twenty_newsgroups"):
            continue  # featurised text: covered above with small settings
        ds = load_dataset(info.name)
        assert ds.name == info.name
        assert ds.sizes() == dict(info.sizes), info.name
        assert ds.n_features == info.n_features, info.name
        assert len(ds.target_names) == info.n_classes, info.name
        assert ds.metadata["files"] == {f.path: f.sha256 for f in info.files if f.required}


def test_every_dataset_registers_next_to_its_loader():
    """One registry, one name space: catalog loaders (with their catalog entry attached),
    embedded datasets and the simulated shifts."""
    from shiftlab.bench.datasets import available_dataset_names
    from shiftlab.data import embedded, loaders, simulate
    from shiftlab.data.registry import get_dataset, list_datasets, register_dataset

    names = [e.name for e in list_datasets()]
    assert names == available_dataset_names() and len(names) == len(set(names))
    assert [e.name for e in list_datasets("catalog")] == dataset_names()
    for entry in list_datasets("catalog"):
        assert entry.info is dataset_info(entry.name)
        assert entry.loader is getattr(loaders, entry.info.loader)
    assert get_dataset("digits-shift").loader is embedded.load_digits_shift
    assert get_dataset("digits-shift").seeded
    assert not get_dataset("breast-cancer-shift").seeded
    assert names[:8] == [f"{k}-{s}" for k in ("sim", "gauss") for s in simulate.SHIFT_KINDS]
    sim = get_dataset("sim-target")
    assert sim.loader is simulate.make_shifted_blobs and dict(sim.params) == {"shift": "target"}
    assert sim.info is None and "shift" not in sim.options()
    with pytest.raises(UnknownNameError, match="Did you mean 'mushrooms'"):
        get_dataset("mushroms")
    with pytest.raises(ValueError, match="already registered"):
        register_dataset("digits-shift", kind="embedded")(lambda **kw: None)
    with pytest.raises(ValueError, match="names the loader 'load_mushrooms'"):
        register_dataset("mushrooms", kind="catalog")(lambda **kw: None)
    with pytest.raises(ValueError, match="not a catalog name"):
        register_dataset("no-such-entry", kind="catalog")(lambda **kw: None)


def test_load_dataset_rejects_unknown_option():
    with pytest.raises(DataValidationError, match="no option 'normalise'.*normalize"):
        load_dataset("office_caltech10_surf", normalise="l2")
    with pytest.raises(DataValidationError, match="Valid options: none"):
        load_dataset("amazon_review_400", n_components=3)


def test_loaded_dataset_packs_a_literature_task():
    ds = load_dataset("mushrooms")
    X, y, sd = ds.pack(*dataset_info("mushrooms").tasks[0].split("->"))
    assert X.shape == (8124, 117)
    assert (y[sd < 0] == -1).all() and set(np.unique(y[sd >= 0])) == {0, 1}


def test_mnist_usps_full_skada_deep_transform():
    """SKADA-Bench's deep digits: USPS zero-padded by 6 to 28x28 (the 16x16 digit intact
    in the middle), each domain normalised with torchvision's constants."""
    plain = load_mnist_usps_full(usps_split="test", image_size=16)
    padded = load_mnist_usps_full(usps_split="test", usps_resize="pad")
    skada = load_mnist_usps_full(usps_split="test", usps_resize="pad", normalize="skada")
    images = padded["usps"][0].reshape(-1, 28, 28)
    np.testing.assert_array_equal(images[:, 6:22, 6:22].reshape(-1, 256), plain["usps"][0])
    assert not images[:, :6].any() and not images[:, 22:].any()
    assert not images[:, :, :6].any() and not images[:, :, 22:].any()
    np.testing.assert_allclose(skada["usps"][0], (padded["usps"][0] - 0.0806) / 0.2063)
    np.testing.assert_allclose(skada["mnist"][0], (padded["mnist"][0] - 0.1307) / 0.3081)
    assert skada.metadata["options"]["usps_resize"] == "pad"
    assert skada.metadata["options"]["normalize"] == "skada"
    with pytest.raises(DataValidationError, match="usps_resize"):
        load_mnist_usps_full(usps_resize="crop")
