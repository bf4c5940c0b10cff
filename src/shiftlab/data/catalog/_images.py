"""Catalog entries of the image datasets: Office-Caltech10 (SURF, DeCAF6, GoogLeNet
features) and MNIST-USPS (the JDA features, the full and the SKADA-Bench versions)."""

from __future__ import annotations

from shiftlab.data.catalog._info import (
    DatasetInfo,
)
from shiftlab.data.catalog._refs import (
    _CALTECH,
    _DIGITS,
    _GFK,
    _MEDA_REPO,
    _MNIST,
    _OFFICE,
    _OFFICE_CLASSES,
    _OPT_DATA,
    _RESEARCH,
    _SKADA_BENCH,
    _TEXT_OPTIONS,
    _USPS,
    _gh,
    _pairs,
)
from shiftlab.data.home import DataFile

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


def _mnist_file(name: str, sha: str, size: int, required: bool = True) -> DataFile:
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
        required,
    )


_USPS_H5 = DataFile(
    "digits_usps_mnist_full/usps.h5",
    "734f88c541104a956d88be2c95d03b4a463ffd74ccc2ba9c80841fb98e3fcb36",
    2913522,
    (_gh(*_USPS_REPO, "data/usps.h5"),),
    f"GitHub {_USPS_REPO[0]}@{_USPS_REPO[1][:12]}:data/usps.h5 (the Kaggle USPS HDF5, "
    "from the ESL zip.train / zip.test files)",
)
#: The digit files in the data home: USPS and the MNIST test set.
_DIGIT_FILES = (
    _USPS_H5,
    _mnist_file("t10k-images-idx3-ubyte.gz",
                "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
    _mnist_file("t10k-labels-idx1-ubyte.gz",
                "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
)
#: The MNIST training set (60000 digits), not in the data home: downloaded on demand
#: (``mnist_split="train"`` or ``"auto"``), hence not required.
_MNIST_TRAIN_FILES = (
    _mnist_file("train-images-idx3-ubyte.gz",
                "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422,
                required=False),
    _mnist_file("train-labels-idx1-ubyte.gz",
                "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881,
                required=False),
)

_MNIST_USPS_FULL = DatasetInfo(
    name="mnist_usps_full",
    title="MNIST (test set 10000, or training set 60000) <-> full USPS (7291 + 2007)",
    folder="digits_usps_mnist_full",
    modality="image (grey digits)",
    domains=("mnist", "usps"),
    sizes={"mnist": 10000, "usps": 9298},
    n_features=784,
    classes=_DIGITS,
    label="digit 0..9",
    domain_definition=(
        "Digit source: MNIST (28x28; its test set, or its training set as in "
        "SKADA-Bench's deep benchmark) and USPS (16x16; train, test or both)."
    ),
    tasks=("mnist->usps", "usps->mnist"),
    features=(
        "Pixels in [0, 1] (MNIST divided by 255). Default image_size=28 upsamples USPS to "
        "28x28 (bilinear), or pads it (usps_resize='pad', SKADA-Bench's deep benchmark); "
        "image_size=16 downsamples MNIST (Gaussian pre-filter + bilinear). Rows are "
        "images in C order."
    ),
    files=_DIGIT_FILES + _MNIST_TRAIN_FILES,
    citation=(_MNIST, _USPS, _SKADA_BENCH),
    licence="MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes). USPS: no explicit licence (research use).",
    loader="load_mnist_usps_full",
    options={
        "mnist_split": "'test' (default, 10000, in the data home), 'train' (60000, "
                       "downloaded) or 'auto' (train when present or downloadable, else "
                       "test with a warning)",
        "usps_split": "'all' (default, 9298), 'train' (7291) or 'test' (2007)",
        "image_size": "28 (default) or 16: common resolution of both domains",
        "usps_resize": "'bilinear' (default) or 'pad' (6 zero pixels per side, as "
                       "SKADA-Bench's deep benchmark): how USPS reaches 28x28",
        "normalize": "'none' (default), 'l2' (per-sample) or 'skada' (SKADA-Bench's deep "
                     "per-domain mean/std)",
        **_OPT_DATA,
    },
    variants={
        "usps_split=train": {"mnist": 10000, "usps": 7291},
        "mnist_split=train": {"mnist": 60000, "usps": 9298},
        "usps_split=test": {"mnist": 10000, "usps": 2007},
        "image_size=16": {"n_features": 256},
    },
    notes=(
        "The MNIST training set is not in the data home (over the snapshot size limit): "
        "mnist_split='train' downloads it (9.9 MB), and offline mnist_split='auto' falls "
        "back to the test set and says so."
    ),
    aliases=("digits_usps_mnist_full", "usps_mnist_full"),
)

_MNIST_USPS_SKADA = DatasetInfo(
    name="mnist_usps_skada",
    title="MNIST <-> USPS, SKADA-Bench's shallow variant (3000 + 3000 digits, whitened PCA-50)",
    folder="digits_usps_mnist_full",
    modality="image (grey digits, 50 whitened PCA components)",
    domains=("mnist", "usps"),
    sizes={"mnist": 3000, "usps": 3000},
    n_features=50,
    classes=_DIGITS,
    label="digit 0..9",
    domain_definition=(
        "Digit source, as SKADA-Bench's mnist_usps_pca dataset [Lalou et al. 2024]: 3000 "
        "MNIST and 3000 USPS digits drawn without replacement with seed 27 "
        "(numpy RandomState(27).choice, one fresh generator per domain). The MNIST digits "
        "come from the MNIST test set (10000) here, SKADA-Bench's from the training set "
        "(60000, not in the data home); the USPS digits from the USPS training set (7291), "
        "as SKADA-Bench's."
    ),
    tasks=("mnist->usps", "usps->mnist"),
    features=(
        "SKADA-Bench's preprocessing: pixels in [0, 1], MNIST zero-padded by 2 and USPS by "
        "8 to 32x32, normalised with (x - 0.1307) / 0.3081, flattened (1024), then a "
        "whitened PCA to 50 components (scikit-learn, random_state 27) fitted without "
        "labels on every row of both files (MNIST test 10000 + USPS train 7291). "
        "SKADA-Bench fitted that PCA on MNIST train + SVHN train + USPS train; SVHN and the "
        "MNIST training set are not in the data home, so this PCA (and thus every feature) "
        "differs from theirs."
    ),
    # The files it reads: those of mnist_usps_full in the data home (same sha256 sums).
    files=_DIGIT_FILES,
    citation=(_SKADA_BENCH, _MNIST, _USPS),
    licence="MNIST: CC BY-SA 3.0 (Y. LeCun, C. Cortes). USPS: no explicit licence (research use).",
    loader="load_mnist_usps_skada",
    options={
        "n_samples": "digits drawn per domain (default 3000, SKADA-Bench's)",
        "random_state": "seed of the draw and of the PCA (default 27, SKADA-Bench's)",
        "cache": _TEXT_OPTIONS["cache"],
        **_OPT_DATA,
    },
    notes=(
        "Differences to SKADA-Bench's features: the PCA is fitted on MNIST (test set) + "
        "USPS, not MNIST + SVHN + USPS; MNIST digits come from the test set, not the "
        "training set; USPS pixels are the float values of usps.h5, where torchvision "
        "stores them rounded to 8 bits. The draw itself (seed 27) is SKADA-Bench's."
    ),
    aliases=("mnist_usps_pca",),
)
