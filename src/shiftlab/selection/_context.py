"""The unsupervised view of an inner split, and the labels only the evaluator holds.

Two of the three objects that travel to the scorers (the third, one candidate's outputs,
is :class:`~shiftlab.selection.records.CandidateRecord`); the split between them is what
makes leakage of target labels impossible by construction:

:class:`SplitContext`
    The *unsupervised* view of an inner split, shared by all candidates: source
    validation rows with their labels, target validation rows **without** labels, the
    training rows with target labels masked, the mixup probes of MixVal and the
    density-ratio weights of IW/DEV (computed once per split, then cached).
:class:`SplitLabels`
    The true labels of the target validation rows. Only the search holds it, and only
    scorers flagged ``uses_target_labels`` (the oracle) ever receive it.

Both are re-exported by :mod:`shiftlab.selection.records`, their module until the split of
that module: stored run folders pickled them under that path, and still load.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_memory

from shiftlab.data.convention import is_masked, label_kind
from shiftlab.exceptions import TargetLabelLeakError

__all__ = ["SplitContext", "SplitLabels", "density_ratio"]


def density_ratio(X_source, X_target, X_eval, estimator=None, clip: float = 1e-6) -> np.ndarray:
    """Importance weights :math:`w(x) = p_T(x) / p_S(x)` by probabilistic classification.

    A domain classifier ``c`` is trained to tell target (1) from source (0); by Bayes'
    rule :math:`p_T(x)/p_S(x) = (n_S / n_T)\\,c(x) / (1 - c(x))` (Bickel et al., 2009).

    Parameters
    ----------
    X_source, X_target : ndarray
        Rows the classifier is trained on.
    X_eval : ndarray
        Rows at which the ratio is evaluated.
    estimator : classifier with predict_proba, optional
        Default: standardisation then logistic regression.
    clip : float, default=1e-6
        Probabilities are clipped to ``[clip, 1 - clip]`` so weights stay finite.

    Returns
    -------
    ndarray of shape (n_eval,)
    """
    X_source = np.asarray(X_source, dtype=float).reshape(len(X_source), -1)
    X_target = np.asarray(X_target, dtype=float).reshape(len(X_target), -1)
    X_eval = np.asarray(X_eval, dtype=float).reshape(len(X_eval), -1)
    if estimator is None:
        steps = [StandardScaler(), LogisticRegression(max_iter=1000)]
        if np.isnan(X_source).any() or np.isnan(X_target).any() or np.isnan(X_eval).any():
            # Rows with missing values (for a pipeline that imputes them itself): the
            # domain classifier imputes them too.
            steps.insert(0, SimpleImputer(keep_empty_features=True))
        estimator = make_pipeline(*steps)
    clf = clone(estimator)
    Xd = np.concatenate([X_source, X_target])
    yd = np.concatenate([np.zeros(len(X_source)), np.ones(len(X_target))])
    clf.fit(Xd, yd)
    col = list(clf.classes_).index(1.0)
    p = np.clip(clf.predict_proba(X_eval)[:, col], clip, 1 - clip)
    return (len(X_source) / len(X_target)) * p / (1 - p)



@dataclass
class SplitLabels:
    """Evaluator-only: true labels of the target validation rows of one inner split.

    Only scorers with ``uses_target_labels=True`` (the supervised oracle) receive it.
    """

    split: int
    y_target_val: np.ndarray | None

    @property
    def available(self) -> bool:
        return self.y_target_val is not None


@dataclass
class SplitContext:
    """Unsupervised view of one inner split, shared by every candidate and scorer.

    Holds no target label: the constructor raises
    :class:`~shiftlab.exceptions.TargetLabelLeakError` if the training labels show one.

    Parameters
    ----------
    split : int
        Inner split id.
    X_source_val, y_source_val : ndarray
        Source validation rows and their labels.
    X_target_val : ndarray
        Target validation rows (no labels).
    sample_domain_source_val, sample_domain_target_val : ndarray, optional
        Their domain ids (default 1 and -2).
    X_train, y_train, sample_domain_train : ndarray, optional
        Training rows of the split (target labels masked); needed by the split-level
        density ratio and by circular validation.
    mix_perm : ndarray, optional
        Permutation of the target validation rows pairing each row with a partner for
        MixVal's mixup probes (drawn once per split, shared by all candidates). Default:
        ``RandomState(mix_seed).permutation(n_target)`` when ``mix_seed`` is set (skada's
        MixVal draws the same with ``random_state=mix_seed``), else drawn from ``seed``.
    mix_seed : int, optional
        See ``mix_perm``.
    mix_lambda : float, default=0.55
        Mixup coefficient of the probes (Hu et al., 2023).
    source_val_weights : ndarray, optional
        Importance weights of the source validation rows. When ``None`` they are
        estimated on first use by :func:`density_ratio` (domain classifier trained on the
        split's source-train vs target-train rows) and cached.
    weight_estimator : classifier, optional
        Domain classifier of that estimate.
    seed : int, default=0
        Seed of the split's randomised scorer internals (k-means, cross-fitting).
    kind : {"classification", "regression"}, optional
        Inferred from ``y_source_val`` when omitted.
    memory : joblib.Memory, str or None
        Disk cache for the density-ratio weights, shared across searches (and processes)
        that see the same rows.
    """

    split: int
    X_source_val: np.ndarray
    y_source_val: np.ndarray
    X_target_val: np.ndarray
    sample_domain_source_val: np.ndarray | None = None
    sample_domain_target_val: np.ndarray | None = None
    X_train: np.ndarray | None = None
    y_train: np.ndarray | None = None
    sample_domain_train: np.ndarray | None = None
    mix_perm: np.ndarray | None = None
    mix_seed: int | None = None
    mix_lambda: float = 0.55
    source_val_weights: np.ndarray | None = None
    weight_estimator: Any = None
    seed: int = 0
    kind: str | None = None
    memory: Any = None
    _cache: dict = field(default_factory=dict, repr=False, init=False, compare=False)

    def __post_init__(self):
        self.X_source_val = np.asarray(self.X_source_val)
        self.y_source_val = np.asarray(self.y_source_val)
        self.X_target_val = np.asarray(self.X_target_val)
        if self.sample_domain_source_val is None:
            self.sample_domain_source_val = np.ones(len(self.X_source_val), dtype=np.int64)
        if self.sample_domain_target_val is None:
            self.sample_domain_target_val = np.full(len(self.X_target_val), -2, dtype=np.int64)
        if self.kind is None:
            self.kind = label_kind(self.y_source_val)
        if self.y_train is not None:
            y_train = np.asarray(self.y_train)
            sd = np.asarray(self.sample_domain_train)
            if (~is_masked(y_train[sd < 0], self.kind)).any():
                raise TargetLabelLeakError(
                    "SplitContext received visible target labels in y_train; the search "
                    "masks them before building contexts (shiftlab.data.mask_target_labels)."
                )
        if self.mix_perm is None:
            n_target = len(self.X_target_val)
            if self.mix_seed is not None:
                self.mix_perm = np.random.RandomState(self.mix_seed).permutation(n_target)
            else:
                self.mix_perm = np.random.default_rng(self.seed).permutation(n_target)

    # ---- split-level resources shared by all candidates -------------------------
    @property
    def source_train_mask(self) -> np.ndarray:
        return np.asarray(self.sample_domain_train) >= 0

    def mix_inputs(self) -> np.ndarray:
        """MixVal probes: ``lam * x_i + (1 - lam) * x_perm(i)`` over target validation rows."""
        Xt = np.asarray(self.X_target_val, dtype=float)
        return self.mix_lambda * Xt + (1 - self.mix_lambda) * Xt[self.mix_perm]

    def importance_weights(self) -> np.ndarray:
        """Density-ratio weights of the source validation rows (computed once, cached).

        Estimated in input space from the split's *training* rows (source-train vs
        target-train), so they do not depend on the candidate and are shared by IW, DEV
        and DEVN for all candidates.
        """
        if self.source_val_weights is not None:
            return np.asarray(self.source_val_weights, dtype=float)
        if "weights" not in self._cache:
            if self.X_train is not None and self.sample_domain_train is not None:
                src = self.source_train_mask
                Xs, Xt = np.asarray(self.X_train)[src], np.asarray(self.X_train)[~src]
            else:  # hand-built contexts: fall back to the validation rows
                Xs, Xt = self.X_source_val, self.X_target_val
            func = density_ratio
            if self.memory is not None:
                func = check_memory(self.memory).cache(density_ratio)
            self._cache["weights"] = func(
                Xs, Xt, self.X_source_val, estimator=self.weight_estimator
            )
        return self._cache["weights"]

    def cached(self, key, compute):
        """Generic per-split cache for other candidate-independent resources."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def __getstate__(self):  # never ship caches between processes
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state
