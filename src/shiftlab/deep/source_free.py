"""Source-free and test-time adaptation: adapt a source-trained model on target X only.

Two ways to use them:

* **from a source model** (the source-free setting): ``SHOT(source_model=m).fit(X_t)``
  where ``m`` is a fitted deep estimator (e.g. :class:`~shiftlab.deep.methods.SourceOnly`)
  and ``X_t`` holds target rows only (``y`` may be omitted: every row is then target).
  The source model is never modified; its network is copied and the copy adapted;
* **in one call** (benchmark setting): ``SHOT().fit(X, y, sample_domain)`` first trains
  a source model on the *source rows only* (stored as ``source_model_``), then adapts
  it on the *target rows only*. The adaptation stage never reads a source row, the
  source stage never reads a target row.

Either way target labels are masked on entry and never read.
"""

from __future__ import annotations

import copy

import numpy as np

from shiftlab.data.convention import check_domain_arrays, label_kind
from shiftlab.deep._source_model import is_fitted_model, train_source_model
from shiftlab.deep._torch import require_torch
from shiftlab.deep.estimator import BaseDeepDA
from shiftlab.deep.losses import adami_loss, entropy, information_maximization_loss
from shiftlab.deep.registry import register_deep_method
from shiftlab.deep.training import DatasetInputs, Pool, TensorInputs, is_torch_dataset
from shiftlab.exceptions import DataValidationError

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = ["SHOT", "TENT", "BaseSourceFree", "EntropyKLPrior"]


class BaseSourceFree(BaseDeepDA):
    """Base of methods that adapt a source model using unlabelled target rows only.

    Parameters
    ----------
    source_model : deep estimator, optional
        A fitted shiftlab deep classifier (e.g. :class:`~shiftlab.deep.methods.SourceOnly`)
        is adapted as it is (on a copy). An *unfitted* one (e.g. after
        :func:`sklearn.base.clone`, which drops fitted state, as in grid searches) is a
        template: it is cloned and trained on the source rows of ``X`` first. When
        None, ``fit`` trains a ``SourceOnly`` model on the source rows first, with this
        estimator's training parameters.
    source_epochs : int, optional
        Epochs of that source stage (default: ``n_epochs``).
    **training
        Shared training parameters (see :mod:`shiftlab.deep.estimator`); ``n_epochs``,
        ``lr``, ... apply to the adaptation stage and to the source stage if any
        (``label_smoothing`` only matters there: adaptation has no labelled loss).

    Attributes
    ----------
    source_model_ : deep estimator
        The given source model, or the one trained in ``fit``.
    """

    _uses_labelled = False

    def __init__(self, source_model=None, source_epochs=None, **training):
        super().__init__(**training)
        self.source_model = source_model
        self.source_epochs = source_epochs

    def _prepare(self, X, y, sample_domain):
        """Validated, target-masked inputs: ``(y, sample_domain, inputs)``."""
        if not is_fitted_model(self.source_model):
            return self._check_fit_inputs(X, y, sample_domain)
        # With a given source model, only target rows are needed: no source row is
        # required (and any is ignored). Labels, if given, are masked all the same.
        n = len(X) if is_torch_dataset(X) else None
        X_arr = np.zeros((n, 1)) if n is not None else X
        X_arr, y, sample_domain = check_domain_arrays(
            X_arr, y, sample_domain, target_labels="mask", require_source=False, allow_nd=True
        )
        inputs = DatasetInputs(X) if n is not None else TensorInputs(X_arr)
        return y, sample_domain, inputs

    def _source_stage(self, inputs, y, sample_domain):
        if self.source_model is not None:  # an unfitted template
            return train_source_model(self.source_model, inputs, y, sample_domain)
        params = self.training_params()
        params["n_epochs"] = self.source_epochs or self.n_epochs
        if params["early_stopping"] == "target_entropy":
            params["early_stopping"] = None  # the source stage must not look at target rows
        return train_source_model(params, inputs, y, sample_domain)

    def fit(self, X, y=None, sample_domain=None):
        """Adapt to the target rows of ``X`` (see the module docstring for the two modes).

        Parameters
        ----------
        X : array-like or torch Dataset
            Target inputs (plus source rows when no fitted ``source_model`` is given).
        y : array-like, optional
            Source labels with target entries masked; may be omitted when a fitted
            ``source_model`` is given (then every row is a target row).
        sample_domain : array-like of int, optional

        Returns
        -------
        self
        """
        y, sample_domain, inputs = self._prepare(X, y, sample_domain)
        if not is_fitted_model(self.source_model):
            if label_kind(y[sample_domain >= 0]) == "regression":
                raise self._regression_error()
            source = self._source_stage(inputs, y, sample_domain)
        else:
            source = self.source_model
            if getattr(source, "label_kind_", "classification") != "classification":
                raise self._regression_error()
            if tuple(source.input_shape_) != tuple(inputs.sample_shape):
                raise DataValidationError(
                    f"Samples have shape {tuple(inputs.sample_shape)} but the source model "
                    f"was fitted on {tuple(source.input_shape_)}."
                )
        self.source_model_ = source
        tgt = np.flatnonzero(sample_domain < 0)
        if tgt.size == 0:
            raise DataValidationError(
                "No target row to adapt to: give target rows (sample_domain < 0 or masked y)."
            )
        self.label_kind_ = "classification"
        self.classes_ = np.asarray(source.classes_)
        self.class_prior_ = np.asarray(
            getattr(source, "class_prior_", np.full(len(self.classes_), 1 / len(self.classes_)))
        )
        network = copy.deepcopy(source.network_)
        if not hasattr(network, "feature_dim"):
            raise DataValidationError("The source model's network has no feature_dim.")
        unlabelled = Pool(tgt, sample_domain[tgt])
        return self._train(inputs, None, unlabelled, len(self.classes_), network=network)


@register_deep_method(
    name="SHOT",
    family="source_free",
    setting="source_free",
    reference=(
        "J. Liang, D. Hu, J. Feng. Do We Really Need to Access the Source Data? Source "
        "Hypothesis Transfer for Unsupervised Domain Adaptation. ICML 2020."
    ),
    grid={"reg": [0.0, 0.1, 0.3]},
    cpu_grid={"reg": [0.1, 0.3]},
)
class SHOT(BaseSourceFree):
    """Source HypOthesis Transfer (SHOT-IM + self-supervised pseudo-labels).

    Liang, Hu & Feng, "Do We Really Need to Access the Source Data? Source Hypothesis
    Transfer for Unsupervised Domain Adaptation", ICML 2020. The source classifier
    head (the "hypothesis") is frozen; the feature extractor is trained on target data
    with information maximisation (confident and diverse predictions,
    :func:`~shiftlab.deep.losses.information_maximization_loss`) plus ``reg`` x the
    cross-entropy to pseudo-labels recomputed at every epoch by nearest (cosine)
    class centroid, the centroids being prediction-weighted target feature means,
    refined once with hard labels.

    Parameters
    ----------
    reg : float, default=0.3
        Weight of the pseudo-label cross-entropy (the paper's beta = 0.3).
    ent_weight, div_weight : float, default=1.0
        Weights of the conditional-entropy and diversity terms.
    label_smoothing : float, default=0.1
        Label smoothing of the built-in source stage (the paper's 0.1).
    source_model, source_epochs, **training
        See :class:`BaseSourceFree`.
    """

    def __init__(self, reg=0.3, ent_weight=1.0, div_weight=1.0, label_smoothing=0.1, **training):
        super().__init__(label_smoothing=label_smoothing, **training)
        self.reg = reg
        self.ent_weight = ent_weight
        self.div_weight = div_weight

    def _trainable_parameters(self, network, modules):
        return list(network.extractor.parameters())  # the hypothesis (head) stays fixed

    def _on_epoch_start(self, state):
        if self.reg <= 0:
            return
        f, out = state.embed("unlabelled")
        # Cosine distances on features with an appended constant 1 (as SHOT does), so
        # that the comparison also sees the feature norm, not only the direction.
        z = F.normalize(torch.cat([f, torch.ones_like(f[:, :1])], dim=1), dim=1)
        p = torch.softmax(out, dim=1)
        k = p.shape[1]
        centres = F.normalize(p.T @ z, dim=1)
        labels = (z @ centres.T).argmax(dim=1)
        hard = F.one_hot(labels, k).to(z.dtype)
        counts = hard.sum(0, keepdim=True).T
        centres = torch.where(counts > 0, F.normalize(hard.T @ z, dim=1), centres)
        self._pseudo_labels = (z @ centres.T).argmax(dim=1)

    def _on_train_end(self, state):
        if hasattr(self, "_pseudo_labels"):
            del self._pseudo_labels

    def _adaptation_loss(self, step):
        p = torch.softmax(step.logits_t, dim=1)
        im = information_maximization_loss(
            p, ent_weight=float(self.ent_weight), div_weight=float(self.div_weight)
        )
        logs = {"im": float(im.detach())}
        loss = im
        if self.reg > 0:
            yt = self._pseudo_labels[torch.as_tensor(step.pos_t, device=step.ft.device)]
            ce = F.cross_entropy(step.logits_t, yt)
            loss = loss + self.reg * ce
            logs["pseudo_ce"] = float(ce.detach())
        return loss, logs


@register_deep_method(
    name="EntropyKLPrior",
    family="source_free",
    setting="source_free",
    reference=(
        "M. Bateson, H. Kervadec, J. Dolz, H. Lombaert, I. Ben Ayed. Source-free domain "
        "adaptation for image segmentation. Medical Image Analysis 82, 2022 (AdaMI "
        "formulation: entropy + class-ratio KL prior)."
    ),
    grid={"kl_weight": [0.1, 1.0, 10.0]},
    cpu_grid={"kl_weight": [1.0, 10.0]},
)
class EntropyKLPrior(BaseSourceFree):
    """Source-free entropy minimisation with a class-ratio KL prior (AdaMI formulation).

    Bateson, Kervadec, Dolz, Lombaert & Ben Ayed, "Source-free domain adaptation for
    image segmentation", Medical Image Analysis 2022 (first form: "Source-relaxed
    domain adaptation for image segmentation", MICCAI 2020). The whole network is
    trained on target batches with class-weighted entropy plus ``kl_weight`` x
    ``KL(prior || mean prediction)`` (:func:`~shiftlab.deep.losses.adami_loss`): the
    prior on the target class ratios stops entropy minimisation from collapsing onto a
    few classes.

    Parameters
    ----------
    kl_weight : float, default=1.0
        Weight of the KL prior term (the segmentation papers use 100 on pixel ratios).
    class_prior : {"source", "uniform"} or array-like, default="source"
        Target class proportions: those of the source labels (``class_prior_`` of the
        source model), uniform, or given (e.g. from domain knowledge).
    source_model, source_epochs, **training
        See :class:`BaseSourceFree`.
    """

    def __init__(self, kl_weight=1.0, class_prior="source", **training):
        super().__init__(**training)
        self.kl_weight = kl_weight
        self.class_prior = class_prior

    def _prior(self):
        k = len(self.classes_)
        if isinstance(self.class_prior, str):
            if self.class_prior == "uniform":
                prior = np.full(k, 1.0 / k)
            elif self.class_prior == "source":
                prior = np.asarray(self.class_prior_, dtype=float)
            else:
                raise ValueError(
                    "class_prior must be 'source', 'uniform' or an array, got "
                    f"{self.class_prior!r}."
                )
        else:
            prior = np.asarray(self.class_prior, dtype=float).ravel()
            if prior.shape[0] != k or (prior < 0).any() or prior.sum() <= 0:
                raise ValueError(
                    f"class_prior must hold {k} non-negative proportions, got {prior}."
                )
        return prior / prior.sum()

    def _on_epoch_start(self, state):
        if state.epoch == 0:
            self.prior_ = self._prior()
            self._prior_t = torch.as_tensor(self.prior_, dtype=torch.float32, device=self.device_)

    def _on_train_end(self, state):
        if hasattr(self, "_prior_t"):
            del self._prior_t

    def _adaptation_loss(self, step):
        p = torch.softmax(step.logits_t, dim=1)
        loss = adami_loss(p, self._prior_t, kl_weight=float(self.kl_weight))
        return loss, {"entropy": float(entropy(p.detach()))}


@register_deep_method(
    name="TENT",
    family="source_free",
    setting="test_time",
    reference=(
        "D. Wang, E. Shelhamer, S. Liu, B. Olshausen, T. Darrell. Tent: Fully Test-Time "
        "Adaptation by Entropy Minimization. ICLR 2021."
    ),
    grid={"n_epochs": [1, 3, 10]},
    cpu_grid={"n_epochs": [1, 3]},
)
class TENT(BaseSourceFree):
    """Test-time entropy minimisation of the BatchNorm affine parameters (TENT).

    Wang, Shelhamer, Liu, Olshausen & Darrell, "Tent: Fully Test-Time Adaptation by
    Entropy Minimization", ICLR 2021. Only the scale and shift of the normalisation
    layers are updated, with batch statistics of the target batches, to minimise the
    prediction entropy. After adaptation the BN running statistics are re-estimated on
    all target rows, so that ``predict`` (eval mode) uses target statistics for every
    sample independently of batch composition. Needs a backbone with BatchNorm (the
    built-in ones have it).

    Parameters
    ----------
    n_epochs : int, default=1
        Passes over the target data (the paper adapts online, in one pass).
    source_epochs : int, default=20
        Epochs of the built-in source stage.
    source_model, **training
        See :class:`BaseSourceFree`.
    """

    def __init__(self, n_epochs=1, source_epochs=20, **training):
        super().__init__(n_epochs=n_epochs, source_epochs=source_epochs, **training)

    @staticmethod
    def _norm_layers(network):
        return [m for m in network.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]

    def _trainable_parameters(self, network, modules):
        layers = self._norm_layers(network)
        params = [p for m in layers for p in (m.weight, m.bias) if p is not None]
        if not params:
            raise DataValidationError(
                "TENT adapts BatchNorm layers, but the network has none with affine "
                "parameters; use a backbone with BatchNorm (batch_norm=True)."
            )
        # Freeze the rest so that backward only computes what is updated.
        keep = {id(p) for p in params}
        self._frozen = [p for p in network.parameters() if id(p) not in keep and p.requires_grad]
        for p in self._frozen:
            p.requires_grad_(False)
        return params

    def _adaptation_loss(self, step):
        loss = entropy(torch.softmax(step.logits_t, dim=1))
        return loss, {"entropy": float(loss.detach())}

    @torch.no_grad()
    def _on_train_end(self, state):
        for p in self._frozen:
            p.requires_grad_(True)
        del self._frozen
        # Re-estimate BN statistics on the target rows (cumulative average).
        network = state.network
        layers = self._norm_layers(network)
        momenta = [m.momentum for m in layers]
        for m in layers:
            m.reset_running_stats()
            m.momentum = None
        network.train()
        rows = state.trainer.train_pools["unlabelled"].rows
        bs = max(int(self.batch_size), 2)
        for start in range(0, rows.shape[0], bs):
            chunk = rows[start : start + bs]
            if chunk.shape[0] < 2:  # BatchNorm needs two samples
                chunk = rows[-2:]
            network(state.trainer.inputs.take(chunk, state.trainer.device))
        for m, mom in zip(layers, momenta, strict=True):
            m.momentum = mom
        network.eval()
