"""Model-selection scorers: pure functions of what a fitted candidate produced.

Every scorer maps the stored outputs of one candidate on one inner split (a
:class:`~shiftlab.selection.records.CandidateRecord`) plus the split's unsupervised view
(a :class:`~shiftlab.selection.records.SplitContext`) to one number. **Convention: every
score is oriented so that higher is better** (losses and entropies are negated);
``greater_is_better`` is therefore always ``True``.

Kinds of scorers, told apart by their ``score`` signature so that target labels can only
reach the one scorer allowed to read them:

* :class:`UnsupervisedScorer` -- ``score(record, context)``: the realistic scorers;
* :class:`RefitScorer` -- ``refit_request(record, context)`` then
  ``score(record, context, refit_prediction)``: circular validation, which needs a
  derived (backward) fit, cached by the search like any other fit;
* :class:`OracleScorer` -- ``score(record, context, labels)``: the supervised oracle, the
  only scorer that receives :class:`~shiftlab.selection.records.SplitLabels` (target
  labels). It is flagged ``uses_target_labels=True`` and reported as ORACLE everywhere;
* :class:`AggregateScorer` -- ``aggregate({scorer: mean scores})``: ensembles over other
  scorers' candidate scores (:class:`RankConsensus`).

Scorers are looked up by name with :func:`get_scorer`; :func:`list_scorers` lists them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import adjusted_mutual_info_score, mean_squared_error
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from shiftlab.exceptions import DataValidationError, unknown_name
from shiftlab.selection.metrics import accuracy, balanced_accuracy
from shiftlab.selection.records import (
    CandidateRecord,
    RefitRequest,
    SplitContext,
    SplitLabels,
)

__all__ = [
    "AggregateScorer",
    "BaseScorer",
    "BatchNuclearNorm",
    "CircularValidation",
    "ClassAMI",
    "DeepEmbeddedValidation",
    "FunctionScorer",
    "ImportanceWeighted",
    "MaNo",
    "MixVal",
    "OracleScorer",
    "PredictionEntropy",
    "RankConsensus",
    "RefitScorer",
    "SoftNeighborhoodDensity",
    "SourceAccuracy",
    "SupervisedOracle",
    "UnsupervisedScorer",
    "get_scorer",
    "list_scorers",
    "make_scorer",
    "register_scorer",
]

_EPS = 1e-15
NAN = float("nan")


class BaseScorer:
    """Common attributes of all scorers.

    Attributes
    ----------
    name : str
        Column name in results tables (unique within a search).
    reference : str
        Paper the scorer comes from.
    greater_is_better : bool
        Always ``True``: scores are oriented so that higher is better.
    uses_target_labels : bool
        ``True`` only for the supervised oracle.
    needs_refit : bool
        ``True`` for scorers that need a derived fit (circular validation).
    needs : tuple of str
        Record fields the scorer reads (``"proba"`` means probabilities or decision
        values, ``"features"`` the ``transform`` outputs, ``"decision"`` the decision
        values themselves: a search keeps those of models with ``predict_proba`` only
        for scorers that declare this need).
    tasks : tuple of str
        Label kinds supported: ``"classification"`` and/or ``"regression"``.
    """

    name: str = ""
    reference: str = ""
    greater_is_better: bool = True
    uses_target_labels: bool = False
    needs_refit: bool = False
    is_aggregate: bool = False
    needs: tuple[str, ...] = ()
    tasks: tuple[str, ...] = ("classification",)

    def __init__(self, *, name: str | None = None):
        if name is not None:
            self.name = str(name)
        self._init_params = {"name": name}

    def _set_params(self, **params):
        self._init_params.update(params)
        for k, v in params.items():
            setattr(self, k, v)

    def get_params(self) -> dict:
        return {k: v for k, v in self._init_params.items() if k != "name"}

    def supports(self, kind: str) -> bool:
        return kind in self.tasks

    @property
    def reads_decision(self) -> bool:
        """Whether the scorer reads decision values themselves (``"decision"`` or a
        ``decision_*`` field), not as stand-in probabilities."""
        return any(n == "decision" or n.startswith("decision_") for n in self.needs)

    def has_inputs(self, record: CandidateRecord) -> bool:
        """Whether the record holds what this scorer reads."""
        for need in self.needs:
            if need in ("proba", "proba_source"):
                # Probabilities only exist for classifiers (regression scorers skip them).
                part = "target_val" if need == "proba" else "source_val"
                if record.classes is not None and record.probabilities(part) is None:
                    return False
            elif need == "features":
                if record.features_target_val is None:
                    return False
            elif need == "decision":
                if record.decision_target_val is None:
                    return False
            elif getattr(record, need, None) is None:
                return False
        return True

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        oracle = " [ORACLE: reads target labels]" if self.uses_target_labels else ""
        return f"{type(self).__name__}({params}) name={self.name!r}{oracle}"


class UnsupervisedScorer(BaseScorer):
    """A realistic scorer: sees source validation labels and target inputs only."""

    def score(self, record: CandidateRecord, context: SplitContext) -> float:
        raise NotImplementedError  # pragma: no cover


class RefitScorer(BaseScorer):
    """A realistic scorer that needs one derived fit per (candidate, split)."""

    needs_refit = True
    #: Scorers with the same ``refit_key`` share their cached derived fits.
    refit_key: str = ""

    def refit_request(self, record: CandidateRecord, context: SplitContext) -> RefitRequest:
        raise NotImplementedError  # pragma: no cover

    def score(self, record, context, refit_prediction) -> float:
        raise NotImplementedError  # pragma: no cover


class OracleScorer(BaseScorer):
    """A scorer that reads target labels: for reference only, never realistic."""

    uses_target_labels = True

    def score(self, record: CandidateRecord, context: SplitContext, labels: SplitLabels) -> float:
        raise NotImplementedError  # pragma: no cover


class AggregateScorer(BaseScorer):
    """Combines other scorers' per-candidate mean scores into one score per candidate."""

    is_aggregate = True

    def aggregate(self, scores: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError  # pragma: no cover


# --------------------------------------------------------------------------- helpers
def _label_columns(classes, y) -> np.ndarray:
    """Column of each label in ``classes`` (-1 when the class is unknown to the model)."""
    classes = np.asarray(classes)
    pos = np.searchsorted(classes, y)
    pos = np.clip(pos, 0, len(classes) - 1)
    return np.where(classes[pos] == y, pos, -1)


def _log_loss_per_sample(proba, classes, y) -> np.ndarray:
    cols = _label_columns(classes, y)
    p = np.where(cols >= 0, proba[np.arange(len(y)), np.maximum(cols, 0)], 0.0)
    return -np.log(np.clip(p, _EPS, 1.0))


def kmeans_labels(F: np.ndarray, k: int, *, n_init: int = 10, seed=0, max_iter: int = 100):
    """Cluster labels of Lloyd's k-means with k-means++ seeding, best of ``n_init`` runs.

    A small numpy implementation: the scorers run it once per record, where the fixed
    per-call overhead of :class:`sklearn.cluster.KMeans` dominates on validation folds of
    a few hundred rows.
    """
    F = np.asarray(F, dtype=float)
    rng = np.random.default_rng(seed)
    sq = (F**2).sum(axis=1)
    best, best_inertia = None, np.inf
    for _ in range(n_init):
        centers = [F[rng.integers(len(F))]]
        d2 = ((F - centers[0]) ** 2).sum(axis=1)
        for _ in range(1, k):
            total = d2.sum()
            idx = rng.choice(len(F), p=d2 / total) if total > 0 else rng.integers(len(F))
            centers.append(F[idx])
            d2 = np.minimum(d2, ((F - F[idx]) ** 2).sum(axis=1))
        C = np.array(centers)
        labels = None
        for _ in range(max_iter):
            dist = sq[:, None] - 2 * F @ C.T + (C**2).sum(axis=1)[None, :]
            new = dist.argmin(axis=1)
            if labels is not None and np.array_equal(new, labels):
                break
            labels = new
            for j in range(k):
                members = labels == j
                if members.any():
                    C[j] = F[members].mean(axis=0)
        inertia = float(((F - C[labels]) ** 2).sum())
        if inertia < best_inertia - 1e-12:
            best, best_inertia = labels, inertia
    return best


def _swap_domains(sd: np.ndarray) -> np.ndarray:
    """Sources become targets and targets sources (source id 0 included: 0 -> -1)."""
    return np.where(sd >= 0, -sd - 1, -sd)


def _entropy_rows(P: np.ndarray) -> np.ndarray:
    P = np.asarray(P, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(P > 0, P * np.log(np.where(P > 0, P, 1.0)), 0.0)
    return -terms.sum(axis=1)


# --------------------------------------------------------------------------- scorers
class SourceAccuracy(UnsupervisedScorer):
    """Accuracy on the source validation rows (negative MSE for regression).

    The classic, adaptation-blind baseline of model selection: it ignores the target.
    Evaluated as a UDA validator by Musgrave et al. (2022). Higher is better.

    References
    ----------
    Musgrave, K., Belongie, S. and Lim, S.-N. (2022). Benchmarking validation methods for
    unsupervised domain adaptation. arXiv:2208.07360.
    """

    name = "SrcVal"
    reference = "Musgrave, Belongie and Lim (2022), arXiv:2208.07360"
    needs = ("pred_source_val",)
    tasks = ("classification", "regression")

    def score(self, record, context):
        y, pred = context.y_source_val, record.pred_source_val
        if context.kind == "regression":
            return -float(mean_squared_error(y, pred))
        return accuracy(y, pred)


class ImportanceWeighted(UnsupervisedScorer):
    """Importance-weighted source validation accuracy (IW).

    .. math:: \\mathrm{IW} = \\frac{\\sum_i w_i \\, 1[\\hat y_i = y_i]}{\\sum_i w_i}

    over the source validation rows, with :math:`w_i = p_T(x_i)/p_S(x_i)` the split's
    density-ratio weights (computed once per split and shared by all candidates, see
    :meth:`SplitContext.importance_weights`). For regression the weighted squared error
    is negated. Higher is better.

    References
    ----------
    Sugiyama, M., Krauledat, M. and Müller, K.-R. (2007). Covariate shift adaptation by
    importance weighted cross validation. JMLR, 8, 985-1005.
    """

    name = "IW"
    reference = "Sugiyama, Krauledat and Müller (2007), JMLR 8"
    needs = ("pred_source_val",)
    tasks = ("classification", "regression")

    def score(self, record, context):
        w = context.importance_weights()
        if not np.isfinite(w).all() or w.sum() <= 0:
            return NAN
        y, pred = context.y_source_val, record.pred_source_val
        if context.kind == "regression":
            return -float(np.sum(w * (pred - y) ** 2) / w.sum())
        return float(np.sum(w * (pred == y)) / w.sum())


class DeepEmbeddedValidation(UnsupervisedScorer):
    """Deep embedded validation (DEV) and its normalised form (DEVN).

    The importance-weighted source validation loss with a control variate that reduces
    its variance: with :math:`L_i = w_i \\ell_i`,

    .. math:: \\eta = -\\frac{\\mathrm{Cov}(L, w)}{\\mathrm{Var}(w)},\\qquad
              \\mathrm{DEV} = \\overline{L} + \\eta\\,\\overline{w} - \\eta,

    and the score is :math:`-\\mathrm{DEV}` (a risk, negated so that higher is better).
    :math:`\\ell_i` is the log loss of the predicted probabilities (squared error for
    regression; ``loss="zero_one"`` uses the 0-1 error).

    Parameters
    ----------
    normalize : {None, "max"}, default=None
        ``"max"`` divides the weights by their maximum first (DEVN, Musgrave et al. 2022),
        which tames the huge weights of an over-confident domain classifier.
    weights : {"split", "features"}, default="split"
        ``"split"``: the split's input-space density-ratio weights, computed once and
        shared by all candidates. ``"features"``: a domain classifier on *this
        candidate's* features (You et al.'s original choice), cross-fitted on the
        validation rows.
    loss : {"log_loss", "zero_one"}, default="log_loss"
    name : str, optional

    References
    ----------
    You, K., Wang, X., Long, M. and Jordan, M. I. (2019). Towards accurate model
    selection in deep unsupervised domain adaptation. ICML.
    Musgrave, K., Belongie, S. and Lim, S.-N. (2022). Benchmarking validation methods for
    unsupervised domain adaptation. arXiv:2208.07360 (DEVN).
    """

    reference = "You, Wang, Long and Jordan (2019), ICML"
    tasks = ("classification", "regression")

    def __init__(self, *, normalize=None, weights="split", loss="log_loss", name=None):
        if normalize not in (None, "max"):
            raise DataValidationError(f"normalize must be None or 'max', got {normalize!r}.")
        if weights not in ("split", "features"):
            raise DataValidationError(f"weights must be 'split' or 'features', got {weights!r}.")
        if loss not in ("log_loss", "zero_one"):
            raise DataValidationError(f"loss must be 'log_loss' or 'zero_one', got {loss!r}.")
        self.name = "DEVN" if normalize == "max" else "DEV"
        super().__init__(name=name)
        self._set_params(normalize=normalize, weights=weights, loss=loss)
        needs = ["pred_source_val"]
        if loss == "log_loss":
            needs.append("proba_source")
        if weights == "features":
            needs.append("features")
        self.needs = tuple(needs)

    def _weights(self, record, context):
        if self.weights == "split":
            return context.importance_weights()
        Fs = np.asarray(record.features_source_val, dtype=float).reshape(
            len(record.features_source_val), -1
        )
        Ft = np.asarray(record.features_target_val, dtype=float).reshape(
            len(record.features_target_val), -1
        )
        Xd = np.concatenate([Fs, Ft])
        yd = np.r_[np.zeros(len(Fs)), np.ones(len(Ft))]
        n_folds = int(min(5, len(Fs), len(Ft)))
        if n_folds < 2:
            return None
        # Cross-fitting: each validation row is weighted by a classifier that did not see it.
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        cv = StratifiedKFold(n_folds, shuffle=True, random_state=context.seed)
        p = cross_val_predict(clf, Xd, yd, cv=cv, method="predict_proba")[: len(Fs), 1]
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return (len(Fs) / len(Ft)) * p / (1 - p)

    def loss_per_sample(self, record, context) -> np.ndarray:
        y = context.y_source_val
        if context.kind == "regression":
            return (np.asarray(record.pred_source_val, dtype=float) - y) ** 2
        if self.loss == "zero_one":
            return (record.pred_source_val != y).astype(float)
        return _log_loss_per_sample(record.probabilities("source_val"), record.classes, y)

    def score(self, record, context):
        w = self._weights(record, context)
        if w is None or len(w) < 2 or not np.isfinite(w).all():
            return NAN
        w = np.asarray(w, dtype=float)
        if self.normalize == "max":
            w = w / w.max()
        L = w * self.loss_per_sample(record, context)
        var_w = np.var(w, ddof=1)
        eta = 0.0 if var_w == 0 else -np.cov(L, w, ddof=1)[0, 1] / var_w
        return -float(L.mean() + eta * w.mean() - eta)


class PredictionEntropy(UnsupervisedScorer):
    """Prediction entropy (PE): negated mean entropy of the target predictions.

    .. math:: \\mathrm{PE} = \\frac1n \\sum_i \\sum_k p_{ik} \\log p_{ik}

    over the target validation rows. Confident predictions score higher (higher is
    better).

    References
    ----------
    Morerio, P., Cavazza, J. and Murino, V. (2018). Minimal-entropy correlation alignment
    for unsupervised deep domain adaptation. ICLR (arXiv:1711.10288, 2017).
    """

    name = "PE"
    reference = "Morerio, Cavazza and Murino (2017/2018), ICLR"
    needs = ("proba",)

    def score(self, record, context):
        P = record.probabilities("target_val")
        if P is None or len(P) == 0:
            return NAN
        return -float(_entropy_rows(P).mean())


class SoftNeighborhoodDensity(UnsupervisedScorer):
    """Soft neighbourhood density (SND) of the target predictions.

    Rows of the target probability matrix are L2-normalised; their cosine similarities
    (self-similarity excluded) divided by the temperature ``T`` go through a row softmax,
    and SND is the mean entropy of these rows. Dense, well-clustered predictions score
    higher (higher is better).

    Parameters
    ----------
    T : float, default=0.05
        Temperature (the paper's value).

    References
    ----------
    Saito, K., Kim, D., Teterwak, P., Sclaroff, S., Darrell, T. and Saenko, K. (2021).
    Tune it the right way: unsupervised validation of domain adaptation via soft
    neighborhood density. ICCV.
    """

    name = "SND"
    reference = "Saito et al. (2021), ICCV"
    needs = ("proba",)

    def __init__(self, *, T: float = 0.05, name=None):
        super().__init__(name=name)
        self._set_params(T=float(T))

    def score(self, record, context):
        P = record.probabilities("target_val")
        if P is None or len(P) < 2:
            return NAN
        norms = np.linalg.norm(P, axis=1, keepdims=True)
        Pn = P / np.where(norms > 0, norms, 1.0)
        S = Pn @ Pn.T / self.T
        np.fill_diagonal(S, -np.inf)  # a row is not its own neighbour
        S = S - S.max(axis=1, keepdims=True)
        E = np.exp(S)
        Q = E / E.sum(axis=1, keepdims=True)
        return float(_entropy_rows(Q).mean())


class MixVal(UnsupervisedScorer):
    """MixVal: consistency of predictions on mixed target samples.

    Each target validation row :math:`x_i` is mixed with a partner :math:`x_{\\pi(i)}`
    (the split's permutation, shared by all candidates) as
    :math:`\\lambda x_i + (1-\\lambda) x_{\\pi(i)}` with :math:`\\lambda = 0.55`; the
    mixed sample's pseudo-label is the predicted label of the dominant sample. Pairs
    with equal predicted labels are *intra*-cluster probes, the others *inter*-cluster
    probes. The score is the accuracy of the candidate's predictions on the probes
    against these pseudo-labels: ``"intra"``, ``"inter"`` or their mean (``"both"``).
    Higher is better.

    Parameters
    ----------
    ice : {"both", "intra", "inter"}, default="both"

    References
    ----------
    Hu, D., Liang, J., Liew, J. H., Xue, C., Bai, S. and Wang, X. (2023). Mixed samples
    as probes for unsupervised model selection in domain adaptation. NeurIPS.
    """

    reference = "Hu et al. (2023), NeurIPS"
    needs = ("pred_target_val", "pred_target_mix")

    def __init__(self, *, ice: str = "both", name=None):
        if ice not in ("both", "intra", "inter"):
            raise DataValidationError(f"ice must be 'both', 'intra' or 'inter', got {ice!r}.")
        self.name = "MixVal" if ice == "both" else f"MixVal-{ice}"
        super().__init__(name=name)
        self._set_params(ice=ice)

    def score(self, record, context):
        a = np.asarray(record.pred_target_val)
        b = a[context.mix_perm]
        pseudo = a if context.mix_lambda >= 0.5 else b
        hit = np.asarray(record.pred_target_mix) == pseudo
        same = a == b
        intra = float(hit[same].mean()) if same.any() else NAN
        inter = float(hit[~same].mean()) if (~same).any() else NAN
        if self.ice == "intra":
            return intra
        if self.ice == "inter":
            return inter
        vals = [v for v in (intra, inter) if not np.isnan(v)]
        return float(np.mean(vals)) if vals else NAN


class MaNo(UnsupervisedScorer):
    """MaNo: normalised entry-wise p-norm of the target prediction matrix.

    .. math:: \\mathrm{MaNo} = \\Big(\\frac{1}{nK} \\sum_{i,k} q_{ik}^p\\Big)^{1/p}

    where :math:`q` are the class probabilities (``predict_proba``). For models with
    decision values only, :math:`q` normalises them as the paper does: a softmax when
    the predictions are uncertain (mean negative log-softmax above ``threshold``),
    otherwise a second-order Taylor softmax. Higher is better (sharper, more accurate
    predictions).

    Parameters
    ----------
    p : float, default=4
    threshold : float, default=5

    References
    ----------
    Xie, R., Odonnat, A., Feofanov, V., Deng, W., Zhang, J. and An, B. (2024). MaNo:
    exploiting matrix norm for unsupervised accuracy estimation under distribution
    shifts. NeurIPS.
    """

    name = "MaNo"
    reference = "Xie et al. (2024), NeurIPS"
    needs = ("proba",)

    def __init__(self, *, p: float = 4, threshold: float = 5.0, name=None):
        if p <= 0:
            raise DataValidationError(f"p must be positive, got {p}.")
        super().__init__(name=name)
        self._set_params(p=p, threshold=threshold)

    def _normalised(self, record):
        if record.proba_target_val is not None:
            return np.asarray(record.proba_target_val, dtype=float)
        dec = record.decision_target_val
        if dec is None:
            return None
        z = np.asarray(dec, dtype=float)
        if z.ndim == 1:
            z = np.column_stack([-z / 2, z / 2])
        soft = np.exp(z - z.max(axis=1, keepdims=True))
        soft /= soft.sum(axis=1, keepdims=True)
        if -np.mean(np.log(np.clip(soft, _EPS, 1))) > self.threshold:
            return soft
        # Second-order Taylor softmax (paper's Eq. 6): 1 + z + z^2/2 > 0 for every z.
        taylor = 1 + z + z**2 / 2
        return taylor / taylor.sum(axis=1, keepdims=True)

    def score(self, record, context):
        Q = self._normalised(record)
        if Q is None or len(Q) == 0:
            return NAN
        return float(np.mean(np.abs(Q) ** self.p) ** (1.0 / self.p))


class BatchNuclearNorm(UnsupervisedScorer):
    """Batch nuclear norm (BNM) of the target probability matrix, divided by its rows.

    .. math:: \\mathrm{BNM} = \\lVert P \\rVert_* / n

    The nuclear norm grows with both confidence (discriminability) and the number of
    classes predicted (diversity). Higher is better.

    References
    ----------
    Cui, S., Wang, S., Zhuo, J., Li, L., Huang, Q. and Tian, Q. (2020). Towards
    discriminability and diversity: batch nuclear-norm maximization under label
    insufficient situations. CVPR.
    """

    name = "BNM"
    reference = "Cui et al. (2020), CVPR"
    needs = ("proba",)

    def score(self, record, context):
        P = record.probabilities("target_val")
        if P is None or len(P) == 0:
            return NAN
        return float(np.linalg.svd(P, compute_uv=False).sum() / len(P))


class ClassAMI(UnsupervisedScorer):
    """ClassAMI: agreement between predicted classes and clusters of target features.

    k-means with as many clusters as classes is run on the target validation features
    (``transform`` outputs); the score is the adjusted mutual information between the
    cluster assignments and the predicted labels. Higher is better.

    Parameters
    ----------
    n_init : int, default=10
        k-means restarts (seeded by the split's seed).

    References
    ----------
    Musgrave, K., Belongie, S. and Lim, S.-N. (2022). Three new validators and a
    large-scale benchmark ranking for unsupervised domain adaptation. arXiv:2208.07360.
    """

    name = "ClassAMI"
    reference = "Musgrave, Belongie and Lim (2022), arXiv:2208.07360"
    needs = ("features", "pred_target_val")

    def __init__(self, *, n_init: int = 10, name=None):
        super().__init__(name=name)
        self._set_params(n_init=int(n_init))

    def score(self, record, context):
        F = np.asarray(record.features_target_val, dtype=float)
        F = F.reshape(len(F), -1)
        k = len(record.classes) if record.classes is not None else 2
        if len(F) <= k:
            return NAN
        clusters = kmeans_labels(F, k, n_init=self.n_init, seed=context.seed)
        return float(adjusted_mutual_info_score(record.pred_target_val, clusters))


class CircularValidation(RefitScorer):
    """Circular (reverse) validation (CircV).

    The candidate's predictions on the split's target validation rows become
    pseudo-labels; a backward model with the same parameters is fitted on the
    validation fold with the domains swapped (pseudo-labelled target rows as the source,
    the source validation rows, unlabelled, as the target) and its accuracy is measured
    on those source validation rows against their true labels. A candidate whose target
    labels are consistent with the source scores higher (higher is better). The
    backward fit is a derived fit, cached per (candidate, split) by the search.

    Parameters
    ----------
    metric : {"balanced_accuracy", "accuracy"}, default="balanced_accuracy"
        Metric on the source validation rows (negative MSE for regression).

    Notes
    -----
    This is the validation-fold formulation used by skada and SKADA-Bench, so that
    selections agree with theirs. The backward model is fitted on the fold only
    (one fifth of the training rows with the default splits), which keeps this
    derived fit far cheaper than the candidate's own fit.

    References
    ----------
    Bruzzone, L. and Marconcini, M. (2010). Domain adaptation problems: a DASVM
    classification technique and a circular validation strategy. IEEE TPAMI, 32(5).
    """

    name = "CircV"
    reference = "Bruzzone and Marconcini (2010), IEEE TPAMI 32(5)"
    refit_key = "circular"
    needs = ("pred_target_val",)
    tasks = ("classification", "regression")

    def __init__(self, *, metric: str = "balanced_accuracy", name=None):
        if metric not in ("balanced_accuracy", "accuracy"):
            raise DataValidationError(
                f"metric must be 'balanced_accuracy' or 'accuracy', got {metric!r}."
            )
        super().__init__(name=name)
        self._set_params(metric=metric)

    def refit_request(self, record, context):
        Xs = np.asarray(context.X_source_val)
        Xt = np.asarray(context.X_target_val)
        sds = np.asarray(context.sample_domain_source_val)
        sdt = np.asarray(context.sample_domain_target_val)
        pseudo = np.asarray(record.pred_target_val)
        # Swap the roles: former target rows are labelled sources, former sources targets.
        X_fit = np.concatenate([Xt, Xs])
        sd_fit = _swap_domains(np.concatenate([sdt, sds]))
        if context.kind == "regression":
            y_fit = np.concatenate([pseudo.astype(float), np.full(len(Xs), np.nan)])
        else:
            y_fit = np.concatenate([pseudo, np.full(len(Xs), -1, dtype=pseudo.dtype)])
        constant = None
        if context.kind == "classification" and np.unique(pseudo).size < 2:
            # A classifier cannot be fitted on one class: it would predict that class.
            constant = pseudo[0]
        return RefitRequest(
            key=(self.refit_key, record.candidate, record.split),
            params=record.params,
            X_fit=X_fit,
            y_fit=y_fit,
            sample_domain_fit=sd_fit,
            X_predict=Xs,
            sample_domain_predict=_swap_domains(sds),
            constant=constant,
            rows_key=(self.refit_key, record.split),
        )

    def score(self, record, context, refit_prediction):
        if refit_prediction is None:
            return NAN
        y = context.y_source_val
        if context.kind == "regression":
            return -float(mean_squared_error(y, refit_prediction))
        if self.metric == "accuracy":
            return accuracy(y, refit_prediction)
        return balanced_accuracy(y, refit_prediction)


class SupervisedOracle(OracleScorer):
    """ORACLE -- supervised target validation accuracy (reads target labels).

    Accuracy on the *labelled* target validation rows (negative MSE for regression).
    Not a realistic scorer: it is the upper reference of model selection (SKADA-Bench's
    "supervised" scorer) and is flagged ``uses_target_labels=True`` and reported as the
    oracle in every table. Higher is better.

    References
    ----------
    Lalou, Y., Gnassounou, T., Collas, A., et al. (2024). SKADA-Bench: benchmarking
    unsupervised domain adaptation methods with realistic validation. arXiv:2407.11676.
    """

    name = "oracle"
    reference = "SKADA-Bench supervised scorer (Lalou et al., 2024)"
    needs = ("pred_target_val",)
    tasks = ("classification", "regression")

    def score(self, record, context, labels):
        if labels is None or not labels.available or record.pred_target_val is None:
            return NAN
        y = labels.y_target_val
        if context.kind == "regression":
            return -float(mean_squared_error(y, record.pred_target_val))
        return accuracy(y, record.pred_target_val)


class FunctionScorer(UnsupervisedScorer):
    """A realistic scorer from a function ``func(record, context) -> float``.

    Use :func:`make_scorer`. The function must return higher-is-better values.
    """

    def __init__(self, func: Callable, *, name: str, needs=(), tasks=("classification",)):
        super().__init__(name=name)
        self.func = func
        self.needs = tuple(needs)
        self.tasks = tuple(tasks)
        self._init_params.update(func=getattr(func, "__name__", repr(func)))

    def score(self, record, context):
        return float(self.func(record, context))


def make_scorer(func, *, name: str, needs=(), tasks=("classification",)) -> FunctionScorer:
    """Wrap ``func(record, context) -> float`` (higher is better) as a realistic scorer.

    Such a scorer can be added to a finished search with
    :meth:`~shiftlab.selection.DomainSearchCV.add_scorer`; it is computed from the stored
    records without any fit.
    """
    return FunctionScorer(func, name=name, needs=needs, tasks=tasks)


class RankConsensus(AggregateScorer):
    """Scorer ensemble: mean-rank aggregation of several realistic scorers.

    For each scorer, candidates are ranked by their mean inner score (rank 1 is best,
    ties get the average rank, NaN scores rank last); the consensus score of a candidate
    is minus its mean rank, so the ``consensus`` candidate is the one with the best mean
    rank. Higher is better. The oracle is never a member.

    Parameters
    ----------
    members : sequence of str, optional
        Names of the scorers to aggregate; default: every realistic (non-aggregate,
        non-oracle) scorer of the search.

    References
    ----------
    Rank aggregation by mean rank (Borda count): de Borda, J.-C. (1781). Mémoire sur les
    élections au scrutin. See also Musgrave et al. (2022) on combining validators.
    """

    name = "consensus"
    reference = "Borda mean-rank aggregation"
    tasks = ("classification", "regression")

    def __init__(self, members: Sequence[str] | None = None, *, name=None):
        super().__init__(name=name)
        self._set_params(members=None if members is None else list(members))

    def aggregate(self, scores):
        if not scores:
            raise DataValidationError("RankConsensus needs at least one member scorer.")
        ranks = []
        for values in scores.values():
            v = np.asarray(values, dtype=float)
            # NaN ranks last: replace by -inf before ranking descending.
            v = np.where(np.isnan(v), -np.inf, v)
            ranks.append(rankdata(-v, method="average"))
        return -np.mean(ranks, axis=0)


# --------------------------------------------------------------------------- registry
_FACTORIES: dict[str, Callable[..., BaseScorer]] = {}
_ALIASES: dict[str, str] = {}
#: Realistic scorers run by default (the oracle is added separately).
DEFAULT_REALISTIC = (
    "IW",
    "DEV",
    "DEVN",
    "PE",
    "SND",
    "MixVal",
    "MixVal-intra",
    "MixVal-inter",
    "MaNo",
    "BNM",
    "ClassAMI",
    "SrcVal",
    "CircV",
)


def register_scorer(name: str, factory: Callable[..., BaseScorer], aliases=()) -> None:
    """Register a scorer factory under ``name`` (and case-insensitive aliases)."""
    _FACTORIES[name] = factory
    for alias in (name, *aliases):
        _ALIASES[alias.lower()] = name


register_scorer("SrcVal", SourceAccuracy, ("source_accuracy", "source", "src_acc"))
register_scorer("IW", ImportanceWeighted, ("importance_weighted",))
register_scorer("DEV", DeepEmbeddedValidation, ("deep_embedded_validation",))
register_scorer(
    "DEVN", lambda **kw: DeepEmbeddedValidation(normalize="max", **kw), ("dev_normalized",)
)
register_scorer("PE", PredictionEntropy, ("prediction_entropy", "entropy"))
register_scorer("SND", SoftNeighborhoodDensity, ("soft_neighborhood_density",))
register_scorer("MixVal", MixVal, ("mixval-both", "mixval_both"))
register_scorer("MixVal-intra", lambda **kw: MixVal(ice="intra", **kw), ("mixval_intra",))
register_scorer("MixVal-inter", lambda **kw: MixVal(ice="inter", **kw), ("mixval_inter",))
register_scorer("MaNo", MaNo)
register_scorer("BNM", BatchNuclearNorm, ("batch_nuclear_norm",))
register_scorer("ClassAMI", ClassAMI, ("class_ami",))
register_scorer("CircV", CircularValidation, ("circular", "circular_validation"))
register_scorer("oracle", SupervisedOracle, ("supervised", "ss"))
register_scorer("consensus", RankConsensus, ("ensemble", "rank_consensus"))


def list_scorers(*, include_oracle: bool = True, include_aggregate: bool = True) -> list[str]:
    """Names of the registered scorers, the oracle last.

    ``get_scorer(name)`` builds one (``.uses_target_labels``, ``.reference``, ...).
    """
    names = [n for n in _FACTORIES if n not in ("oracle", "consensus")]
    if include_aggregate:
        names.append("consensus")
    if include_oracle:
        names.append("oracle")
    return names


def get_scorer(scorer, **params) -> BaseScorer:
    """A scorer from its name (case-insensitive, aliases allowed) or a scorer object.

    Parameters
    ----------
    scorer : str or BaseScorer
    **params
        Passed to the scorer's constructor (e.g. ``get_scorer("SND", T=0.1)``).

    Raises
    ------
    UnknownNameError
        With a "did you mean" suggestion.
    """
    if isinstance(scorer, BaseScorer):
        if params:
            raise DataValidationError("Give params only with a scorer name.")
        return scorer
    if not isinstance(scorer, str):
        raise DataValidationError(
            f"A scorer is a name or a BaseScorer, got {type(scorer).__name__}."
        )
    key = _ALIASES.get(scorer.lower())
    if key is None:
        raise unknown_name("scorer", scorer, _FACTORIES)
    return _FACTORIES[key](**params)
