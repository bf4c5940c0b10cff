"""The estimates behind :func:`~shiftlab.report.diagnosis.diagnose`: domain separability
(a cross-validated domain classifier with a bootstrap interval) and the target prior
(BBSE and MLLS on a label-free encoding of the features)."""

from __future__ import annotations

import numpy as np

from shiftlab.data.convention import is_masked
from shiftlab.data.dataset import DomainDataset
from shiftlab.exceptions import DataValidationError


def _total_variation(p, q) -> float:
    return float(0.5 * np.abs(np.asarray(p, float) - np.asarray(q, float)).sum())


def _flat(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(X.shape[0], -1)


def _categorical_mask(dataset: DomainDataset, n_features: int, X: np.ndarray) -> np.ndarray:
    """Boolean mask of the categorical columns (metadata ``categorical_columns``)."""
    mask = np.zeros(n_features, dtype=bool)
    names = _feature_names(dataset, n_features)
    listed = dataset.metadata.get("categorical_columns") or []
    for col in listed:
        if col in names:
            j = names.index(col)
            values = X[:, j][~np.isnan(X[:, j])]
            if values.size == 0 or (np.all(values >= 0) and np.all(np.mod(values, 1) == 0)):
                mask[j] = True
    return mask


def _feature_names(dataset: DomainDataset, n_features: int) -> list[str]:
    names = list(dataset.feature_names) if dataset.feature_names is not None else []
    if len(names) != n_features:
        names = [f"x{j}" for j in range(n_features)]
    return [str(n) for n in names]


# =============================================================================
# 1. domain separability
# =============================================================================
def _stratified_bootstrap_ci(d, scores, weights, n_bootstrap, rng) -> tuple[float, float]:
    from sklearn.metrics import roc_auc_score

    if n_bootstrap <= 0:
        return (float("nan"), float("nan"))
    idx0, idx1 = np.flatnonzero(d == 0), np.flatnonzero(d == 1)
    aucs = np.empty(n_bootstrap)
    for b in range(n_bootstrap):
        idx = np.concatenate([rng.choice(idx0, idx0.size), rng.choice(idx1, idx1.size)])
        w = None if weights is None else weights[idx]
        aucs[b] = roc_auc_score(d[idx], scores[idx], sample_weight=w)
    lo, hi = np.nanpercentile(aucs, [2.5, 97.5])
    return float(lo), float(hi)


def _domain_auc(X, d, *, categorical, cv, n_bootstrap, seed):
    """Out-of-fold ROC AUC of a domain classifier, with a bootstrap 95% CI."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    n_splits = int(min(cv, np.bincount(d).min()))
    if n_splits < 2:
        raise DataValidationError(
            "The domain classifier needs at least 2 rows in the source and in the target."
        )
    oof = np.zeros(d.size)
    folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    with _openmp_scope(X):
        for train, test in folds.split(X, d):
            model = HistGradientBoostingClassifier(
                categorical_features=categorical if categorical.any() else None,
                random_state=seed,
            )
            model.fit(X[train], d[train])
            oof[test] = model.predict_proba(X[test])[:, 1]
    auc = float(roc_auc_score(d, oof))
    ci = _stratified_bootstrap_ci(d, oof, None, n_bootstrap, np.random.default_rng(seed))
    return auc, ci, oof


def _openmp_scope(X):
    """One OpenMP thread for a small input: the boosting's threads only cost there (and,
    on a busy machine, spinning threads slow every fit by an order of magnitude)."""
    import contextlib

    from threadpoolctl import threadpool_limits

    from shiftlab.methods._threads import SMALL_PROBLEM_ENTRIES, SMALL_PROBLEM_ROWS

    if X.shape[0] <= SMALL_PROBLEM_ROWS and X.size <= SMALL_PROBLEM_ENTRIES:
        return threadpool_limits(limits=1, user_api="openmp")
    return contextlib.nullcontext()


def _covariate_level(auc: float, ci: tuple[float, float]) -> tuple[str, str]:
    lo = ci[0]
    if not np.isfinite(lo):
        lo = auc - 1e-9
    if lo <= 0.5:
        return "none", ("no detectable covariate shift (the interval covers 0.5: a classifier "
                        "cannot tell source rows from target rows)")
    if auc < 0.7:
        return "weak", "weak but detectable shift of the feature distribution"
    if auc < 0.9:
        return "moderate", "moderate shift of the feature distribution"
    return "strong", ("strong shift: the domains are almost separable (little overlap of the "
                      "feature distributions)")


# =============================================================================
# 2. label distribution
# =============================================================================
def _label_shift_encoder(categorical: np.ndarray):
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    num = np.flatnonzero(~categorical).tolist()
    cat = np.flatnonzero(categorical).tolist()
    steps = []
    if num:
        steps.append(("num", make_pipeline(
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            StandardScaler()), num))
    if cat:
        steps.append(("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat))
    return ColumnTransformer(steps, remainder="drop")


def _estimate_priors(dataset, sources, target, categorical, seed, cv):
    """Fit BBSE and MLLS on the source labels and the unlabelled target rows.

    ``pack`` masks every target label (-1) whatever the file holds: the estimators never
    see a target label. Source rows whose label is missing are dropped (they carry no
    label for the confusion matrix / the calibration).
    """
    from sklearn.linear_model import LogisticRegression

    from shiftlab.methods.label_shift import BBSE, MLLS

    X, y, sample_domain = dataset.pack(sources, target)  # target labels masked (-1)
    X = _flat(X)
    keep = (sample_domain < 0) | ~is_masked(y, "classification")
    X, y, sample_domain = X[keep], y[keep], sample_domain[keep]
    encoded = _label_shift_encoder(categorical).fit_transform(X)
    estimates, fitted = {}, {}
    for name, cls in (("BBSE", BBSE), ("MLLS", MLLS)):
        est = cls(LogisticRegression(max_iter=1000), cv=cv, random_state=seed)
        est.fit(encoded, y, sample_domain=sample_domain)
        fitted[name] = est
        estimates[name] = np.asarray(est.target_prior_, dtype=float)
    return fitted, estimates
