"""Scorers of the target predictions alone: PE, SND, MixVal, MaNo, BNM, ClassAMI."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import adjusted_mutual_info_score

from shiftlab.exceptions import DataValidationError
from shiftlab.selection.scorers._base import UnsupervisedScorer, register_scorer
from shiftlab.selection.scorers._constants import _EPS, NAN
from shiftlab.selection.scorers._helpers import _entropy_rows, kmeans_labels


@register_scorer("PE", aliases=("prediction_entropy", "entropy"))
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


@register_scorer("SND", aliases=("soft_neighborhood_density",))
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


@register_scorer("MixVal-inter", aliases=("mixval_inter",), params={"ice": "inter"})
@register_scorer("MixVal-intra", aliases=("mixval_intra",), params={"ice": "intra"})
@register_scorer("MixVal", aliases=("mixval-both", "mixval_both"))
class MixVal(UnsupervisedScorer):
    """MixVal: consistency of predictions on mixed target samples (ICE; ``MixVal`` is the
    mean of the intra- and inter-cluster ICE). A one-class predictor scores NaN with
    ``MixVal`` and ``MixVal-inter``, but the best possible score with ``MixVal-intra``.

    Each target validation row :math:`x_i` is mixed with a partner :math:`x_{\\pi(i)}`
    as :math:`x^{mix}_i = \\lambda x_i + (1-\\lambda) x_{\\pi(i)}`, with
    :math:`\\lambda = 0.55` (the split's ``mix_lambda``, the paper's default). The
    probe's pseudo-label is that of the dominant component,
    :math:`\\arg\\max_k \\lambda e_{\\hat y_i} + (1-\\lambda) e_{\\hat y_{\\pi(i)}}
    = \\hat y_i` (:math:`\\hat y` the candidate's predicted labels, :math:`e` one-hot),
    and the ICE (interpolation consistency evaluation) of a set of probes is the
    accuracy of the candidate's predictions on them against these pseudo-labels. Pairs
    with :math:`\\hat y_i = \\hat y_{\\pi(i)}` are *intra-cluster* probes, the others
    *inter-cluster* probes. Higher is better.

    * ``ice="intra"`` (``MixVal-intra``): ICE of the intra-cluster probes, which
      measures how dense each predicted cluster is (Hu et al. relate it to SND).
    * ``ice="inter"`` (``MixVal-inter``): ICE of the inter-cluster probes, which
      measures where the decision boundary lies between clusters (related to entropy
      minimisation); NaN when there is no inter-cluster probe.
    * ``ice="both"`` (``MixVal``, the default): the mean of the two ICE scores, NaN when
      either is undefined -- in particular for a candidate predicting **one class** on
      the target validation rows, which has no inter-cluster probe.

    Parameters
    ----------
    ice : {"both", "intra", "inter"}, default="both"

    Notes
    -----
    *A one-class predictor and MixVal-intra.* A candidate that predicts the same class
    for every target row makes every pair intra-cluster, and predicts that class on every
    probe: its intra-cluster ICE is 1, the best possible score, whatever its accuracy.
    This holds by construction of the paper's intra-cluster ICE (it scores consistency
    with the candidate's own pseudo-labels), so ``MixVal-intra`` **cannot** rank a
    degenerate majority-class predictor below a real classifier; on imbalanced data it
    prefers such predictors (its correlation with target accuracy can be negative). The
    default ``MixVal`` (``"both"``) is NaN for such a candidate, as ``MixVal-inter`` is:
    a search leaves NaN out of a candidate's mean over inner splits and never selects a
    candidate that is NaN on every split, and the rank consensus ranks NaN last.

    *Linear candidates and MixVal-intra.* A candidate whose predicted classes are convex
    regions of the input space (a linear classifier, after affine adapters such as
    standardisation or CORAL) predicts every mix of two rows of class :math:`k` as
    :math:`k`: its intra-cluster ICE is 1 whatever its accuracy, and ``MixVal`` then
    ranks such candidates as ``MixVal-inter`` does. The intra-cluster ICE only tells
    candidates apart through non-convex class regions (kernels, neighbours, trees,
    non-linear adapters).

    *Comparison with the paper and its reference code* (github.com/LHXXHB/MixVal,
    ``val_mixval_intra.py`` and ``val_mixval_inter.py``). The mixing coefficient (0.55),
    the mixing of inputs (here the inputs given to the search, before the candidate's
    adapters; there images), the hard pseudo-labels, the dominant-component label of a
    probe and the ICE (agreement of the predicted label of the probe with that label)
    are the paper's. The pairing
    differs by design: the reference pairs each sample with the reversed position in its
    batch, and for the intra-cluster ICE first sorts the target rows by pseudo-label,
    so that nearly every sample gets a same-class partner; here one permutation of the
    target validation rows is drawn per split (``SplitContext.mix_perm``, as skada's
    ``MixValScorer(random_state=...)`` draws it) *before* any candidate predicts, so
    that all candidates are probed on the same mixed inputs, predicted in the same pass
    as the validation rows. Intra- and inter-cluster probes are the pairs of that
    permutation that a candidate's labels make so: fewer intra-cluster probes than in
    the reference (about :math:`n \\sum_k p_k^2` for predicted class shares
    :math:`p_k`, instead of about :math:`n`), each class weighted by :math:`p_k^2` rather
    than :math:`p_k`. The reference computes the two ICE scores in separate scripts and
    ships no combination of them; ``"both"`` averages them as skada's ``MixValScorer``
    does, except that skada's current version averages with ``nanmean`` and so gives a
    one-class predictor the intra-cluster ICE of 1, the best score, which is why this
    mean is NaN instead.

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

    def ice_scores(self, record, context) -> tuple[float, float]:
        """``(intra, inter)``: the ICE of the intra- and inter-cluster probes of a record
        (NaN for a kind of probe the candidate's labels leave empty)."""
        a = np.asarray(record.pred_target_val)
        b = a[context.mix_perm]
        pseudo = a if context.mix_lambda >= 0.5 else b
        hit = np.asarray(record.pred_target_mix) == pseudo
        same = a == b
        intra = float(hit[same].mean()) if same.any() else NAN
        inter = float(hit[~same].mean()) if (~same).any() else NAN
        return intra, inter

    def score(self, record, context):
        intra, inter = self.ice_scores(record, context)
        if self.ice == "intra":
            return intra
        if self.ice == "inter":
            return inter
        # NaN when either is: a one-class candidate has no inter-cluster probe, and its
        # intra-cluster ICE of 1 alone would make it the best candidate.
        return float(np.mean([intra, inter]))


@register_scorer("MaNo")
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


@register_scorer("BNM", aliases=("batch_nuclear_norm",))
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


@register_scorer("ClassAMI", aliases=("class_ami",))
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
