"""The protocol against SKADA-Bench's simulated shifts (REFERENCE.md 3c, "SS" columns).

With the supervised oracle as scorer, the nested protocol must reproduce SKADA-Bench's
oracle-selected target accuracy of each implemented method on the four simulated shifts
(SVC base estimator, as SKADA-Bench selected for "Simulated"). The reference is a mean over
25 runs (5 dataset seeds x 5 outer splits) of an independent random stream of the same
distributions; a method passes when its mean is within three standard errors of the
difference (ours and the reference's, std / sqrt(25)) plus the table's rounding (.005).

The fast test runs Train Src on fewer runs (2 seeds x 3 outer splits, 2 inner splits); the
slow one every implemented method of the table with its registry grid (3 seeds x 3 outer
splits, 2 inner splits: fewer inner splits than SKADA-Bench's 5, which changes the noise of
the selection, not its target).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.svm import SVC

from shiftlab.data.simulate import make_shifted_blobs
from shiftlab.methods import get_method, list_methods, make_da, make_da_pipeline
from shiftlab.methods.reweight import DiscriminatorReweight
from shiftlab.methods.subspace import TCA
from shiftlab.selection import DomainSearchCV

SHIFTS = ("covariate", "target", "conditional", "subspace")
# SKADA-Bench release 1.0.0, simulated shifts, supervised (oracle) selection: (mean, std).
SS = {
    "SourceOnly": ((0.88, 0.03), (0.85, 0.04), (0.66, 0.02), (0.19, 0.03)),
    "DensityReweight": ((0.89, 0.02), (0.87, 0.05), (0.67, 0.02), (0.20, 0.04)),
    "DiscriminatorReweight": ((0.86, 0.03), (0.84, 0.04), (0.73, 0.03), (0.23, 0.03)),
    "GaussianReweight": ((0.89, 0.03), (0.86, 0.04), (0.65, 0.02), (0.21, 0.04)),
    "KLIEP": ((0.89, 0.03), (0.88, 0.04), (0.66, 0.02), (0.20, 0.04)),
    "KMM": ((0.89, 0.02), (0.87, 0.03), (0.67, 0.04), (0.19, 0.05)),
    "NearestNeighborReweight": ((0.89, 0.03), (0.86, 0.04), (0.67, 0.03), (0.15, 0.04)),
    "MMDTarS": ((0.88, 0.03), (0.93, 0.01), (0.66, 0.02), (0.27, 0.03)),
    "CORAL": ((0.74, 0.04), (0.84, 0.04), (0.82, 0.03), (0.19, 0.03)),
    "MapOT": ((0.87, 0.04), (0.63, 0.04), (0.82, 0.03), (0.14, 0.02)),
    "EntOT": ((0.89, 0.03), (0.61, 0.04), (0.82, 0.03), (0.47, 0.03)),
    "ClassRegOT": ((0.91, 0.03), (0.59, 0.04), (0.82, 0.03), (0.15, 0.03)),
    "LinOT": ((0.89, 0.03), (0.81, 0.04), (0.81, 0.03), (0.19, 0.03)),
    "MMD-LS": ((0.88, 0.03), (0.85, 0.04), (0.81, 0.03), (0.73, 0.24)),
    "JPCA": ((0.88, 0.03), (0.85, 0.04), (0.66, 0.02), (0.19, 0.04)),
    "SA": ((0.74, 0.04), (0.81, 0.04), (0.80, 0.03), (0.13, 0.06)),
    "TCA": ((0.40, 0.23), (0.46, 0.09), (0.50, 0.06), (0.58, 0.19)),
    "TSL": ((0.88, 0.02), (0.85, 0.04), (0.66, 0.03), (0.86, 0.02)),
    "JDOT": ((0.72, 0.04), (0.57, 0.03), (0.82, 0.04), (0.13, 0.02)),
    "OTLabelProp": ((0.90, 0.03), (0.76, 0.04), (0.81, 0.04), (0.14, 0.02)),
    "DASVM": ((0.89, 0.03), (0.86, 0.03), (0.64, 0.03), (0.12, 0.06)),
}


class _InverseRatioDiscriminator(DiscriminatorReweight):
    """skada 0.6.0's discriminator weights, ``P(s | x) / P(t | x)`` (test-only replica).

    SKADA-Bench's DiscriminatorReweight numbers were obtained with this formula, the
    inverse of the density ratio the theory prescribes (and shiftlab computes). On the
    conditional shift it happens to help (0.73 vs Train Src 0.66), so shiftlab's correct
    method lands lower there (about 0.67); the replica shows the protocol itself
    reproduces the published number.
    """

    @staticmethod
    def _log_from_proba(p, classes):
        return -DiscriminatorReweight._log_from_proba(p, classes)


class _DomainSortedRowsTCA(TCA):
    """skada 0.6.0's TCA row-order defect (test-only replica).

    skada's ``TransferComponentAnalysisAdapter.fit_transform`` returns the embedded
    training rows sources first, then targets, whatever their order in ``X``; the final
    estimator then pairs them with ``y`` in the original order. skada's shuffle splitters
    hand the rows over in a random order, so the labels are scrambled and TCA
    "collapses", which is the published column (0.40 / 0.46 / 0.50 / 0.58). skada itself
    on rows sorted by domain vs the same rows shuffled (SVC, n_components=1, mu=10,
    3 seeds): covariate 0.90 vs 0.56, target 0.58 vs 0.35, subspace 0.68 vs 0.53.
    shiftlab keeps the row order (and its splitters return sorted indices), so the
    replica lets the rows arrive in a seeded random order, sorts them by domain as
    skada does, and hands the result back in the caller's order.
    """

    def _fit_transform(self, X, y, sample_domain):
        out = super()._fit_transform(X, y, sample_domain)
        arrival = np.random.default_rng(0).permutation(len(out))
        sd = sample_domain[arrival]
        by_domain = arrival[np.concatenate([np.flatnonzero(sd >= 0), np.flatnonzero(sd < 0)])]
        scrambled = np.empty_like(out)
        scrambled[arrival] = out[by_domain]
        return scrambled


#: Methods whose SKADA-Bench numbers come from a skada defect shiftlab does not share:
#: the reference is checked against a replica of that defect instead.
SKADA_FORMULA = {"DiscriminatorReweight": _InverseRatioDiscriminator,
                 "TCA": _DomainSortedRowsTCA}

#: Known gaps, each failing today (strict xfail, so a fix is noticed): none left.
KNOWN_GAPS: set[tuple[str, str]] = set()


def _registered() -> set[str]:
    return {s.name for s in list_methods()}


def _model(method: str):
    """The method with an SVC base estimator and its registry grid (step-prefixed).

    ``SVC()`` predicts exactly as SKADA-Bench's ``SVC(probability=True)`` (predictions come
    from the decision function either way) and fits faster. As in SKADA-Bench, subspace
    sizes above the data's 2 features are dropped (they would only repeat ``2``).
    """
    if method == "SourceOnly" and method not in _registered():
        return make_da_pipeline(SVC()), {}
    spec = get_method(method)
    if method in SKADA_FORMULA:
        model = make_da_pipeline(SKADA_FORMULA[method](), SVC())
    else:
        model = make_da(method, SVC())
    grid = {
        k: ([v for v in values if v <= 2] if k == "n_components" else values)
        for k, values in spec.grid.items()
    }
    if spec.needs_estimator:
        step = model.steps[0][0]
        grid = {f"{step}__{k}": v for k, v in grid.items()}
    return model, grid


def oracle_accuracies(method, shift, seeds, n_outer, n_inner) -> np.ndarray:
    """Target test accuracy of the oracle-selected candidate, one value per outer split."""
    model, grid = _model(method)
    out = []
    for seed in seeds:
        ds = make_shifted_blobs(shift, random_state=seed)
        X, _, sd, y_true = ds.pack("source", "target", return_target_labels=True)
        search = DomainSearchCV(model, grid, scorers=["oracle"], cv=n_outer, inner_cv=n_inner,
                                refit_candidates="selected", random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            search.fit(X, y_true, sd)
        out.extend(search.results_.query("selected")["test_accuracy"])
    return np.asarray(out)


def check_against_reference(method, shift, accs):
    ref_mean, ref_std = SS[method][SHIFTS.index(shift)]
    se = math.sqrt(np.var(accs, ddof=1) / len(accs) + ref_std**2 / 25)
    gap = abs(accs.mean() - ref_mean)
    assert gap <= 3 * se + 0.005, (
        f"{method} on {shift}: oracle accuracy {accs.mean():.3f} +- {se:.3f} vs "
        f"SKADA-Bench {ref_mean:.2f} +- {ref_std:.2f}"
    )


@pytest.mark.parametrize("shift", SHIFTS)
def test_train_src_matches_skada_bench(shift):
    accs = oracle_accuracies("SourceOnly", shift, seeds=(0, 1), n_outer=3, n_inner=2)
    assert accs.shape == (6,)
    check_against_reference("SourceOnly", shift, accs)


@pytest.mark.slow
@pytest.mark.parametrize("shift", SHIFTS)
@pytest.mark.parametrize("method", sorted(SS))
def test_oracle_selection_matches_skada_bench(method, shift, request):
    if method not in _registered():
        pytest.skip(f"{method} is not implemented (yet)")
    if (method, shift) in KNOWN_GAPS:
        request.applymarker(pytest.mark.xfail(strict=True, reason="known gap, see KNOWN_GAPS"))
    accs = oracle_accuracies(method, shift, seeds=(0, 1, 2), n_outer=3, n_inner=2)
    check_against_reference(method, shift, accs)


class _SkadaCORAL:
    """skada's CORAL pipeline behind shiftlab's estimator contract (test helper).

    skada refuses to predict on source rows unless told ``allow_source=True`` and needs
    scikit-learn's metadata routing, which is switched on only around its calls.
    """

    def __init__(self, assume_centered=False):
        self.assume_centered = assume_centered

    def get_params(self, deep=True):
        return {"assume_centered": self.assume_centered}

    def set_params(self, **params):
        for key, value in params.items():
            setattr(self, key, value)
        return self

    def fit(self, X, y, sample_domain=None):
        from _skada import import_skada, skada_context

        skada = import_skada()
        with skada_context():
            self.pipe_ = skada.make_da_pipeline(
                skada.CORALAdapter(assume_centered=self.assume_centered), SVC()
            ).fit(X, y, sample_domain=sample_domain)
        self.classes_ = np.unique(np.asarray(y)[np.asarray(sample_domain) >= 0])
        return self

    def predict(self, X, sample_domain=None):
        from _skada import skada_context

        with skada_context():
            return self.pipe_.predict(X, sample_domain=sample_domain, allow_source=True)


@pytest.mark.slow
@pytest.mark.skada
def test_protocol_reproduces_skada_bench_with_skadas_own_coral_and_data():
    """Differential check of the protocol alone: skada's CORAL on skada's simulated data
    (SKADA-Bench's settings), selected by shiftlab's nested protocol with the oracle, lands
    on SKADA-Bench's CORAL "SS" column. (shiftlab's own CORAL differs from skada's on the
    covariate and target shifts, which is a property of the method, not of the protocol.)"""
    from _skada import import_skada

    import_skada()
    from skada.datasets import make_shifted_datasets

    settings = {"covariate": ("covariate_shift", 1, 0.6), "target": ("target_shift", 1, 0.8),
                "conditional": ("conditional_shift", 1, 0.8), "subspace": ("subspace", 3, 0.4)}
    for shift, (name, m, noise) in settings.items():
        accs = []
        for seed in (0, 1):
            X, y, sd = make_shifted_datasets(
                n_samples_source=100 * m, n_samples_target=100 * m, shift=name, noise=noise,
                label="binary", center_cov_shift=(-0.4, 3), random_state=seed,
            )
            search = DomainSearchCV(_SkadaCORAL(), {"assume_centered": [False, True]},
                                    scorers=["oracle"], cv=3, inner_cv=2,
                                    refit_candidates="selected", random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(X, y, np.where(sd >= 0, 1, -2))
            accs.extend(search.results_.query("selected")["test_accuracy"])
        check_against_reference("CORAL", shift, np.asarray(accs))
