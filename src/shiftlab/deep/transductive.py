"""Transductive information maximisation (TIM) on top of a fixed feature extractor."""

from __future__ import annotations

import copy

import numpy as np
from sklearn.base import clone

from shiftlab.deep._source_model import is_fitted_model, train_source_model
from shiftlab.deep._torch import require_torch
from shiftlab.deep.backbones import DANetwork
from shiftlab.deep.estimator import BaseDeepDA
from shiftlab.deep.losses import entropy, tim_loss
from shiftlab.deep.registry import register_deep_method
from shiftlab.deep.training import embed_rows, resolve_device, seeded
from shiftlab.exceptions import DataValidationError

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

__all__ = ["TIM", "PrototypeHead"]


class _L2Normalize(nn.Module):
    def forward(self, x):
        return F.normalize(x, dim=1)


class PrototypeHead(nn.Module):
    """Soft nearest-prototype classifier: ``logit_k = -temperature / 2 * ||z - w_k||^2``."""

    def __init__(self, prototypes, temperature: float):
        super().__init__()
        self.weight = nn.Parameter(prototypes.clone())
        self.temperature = float(temperature)

    def forward(self, z):
        w = self.weight
        d2 = z.pow(2).sum(1, keepdim=True) - 2 * z @ w.T + w.pow(2).sum(1)
        return -0.5 * self.temperature * d2


@register_deep_method(
    name="TIM",
    family="transductive",
    setting="transductive",
    reference=(
        "M. Boudiaf, I. Ziko, J. Rony, J. Dolz, P. Piantanida, I. Ben Ayed. Information "
        "Maximization for Few-Shot Learning. NeurIPS 2020."
    ),
    grid={"conditional_weight": [0.1, 0.5, 1.0], "temperature": [10.0, 15.0, 20.0]},
    cpu_grid={"conditional_weight": [0.1, 1.0]},
)
class TIM(BaseDeepDA):
    """Transductive Information Maximisation on a fixed feature extractor (TIM-GD).

    Boudiaf, Ziko, Rony, Dolz, Piantanida & Ben Ayed, "Information Maximization for
    Few-Shot Learning", NeurIPS 2020. The features of a source-trained extractor are
    frozen and L2-normalised; a soft nearest-prototype classifier, initialised at the
    source class means, is trained by full-batch gradient descent on
    ``ce_weight * CE(source) - marginal_weight * H(Y_target)
    + conditional_weight * H(Y_target | X_target)`` (:func:`~shiftlab.deep.losses.tim_loss`):
    source labels anchor the prototypes, the target predictions are made confident yet
    balanced over classes. Only the classifier is learnt, so it is fast and cannot
    distort the representation.

    Parameters
    ----------
    base_model : deep estimator, optional
        A fitted model provides the fixed extractor (its ``network_.extractor``; the
        model is not modified). An unfitted one (e.g. after ``clone``, which drops fitted
        state, as in grid searches) is cloned and fitted on ``X, y, sample_domain``
        first; None trains a :class:`~shiftlab.deep.methods.SourceOnly` model on the
        source rows with this estimator's training parameters. Either way the model used
        is stored as ``base_model_``.
    temperature : float, default=15.0
        Logit scale of the prototype classifier (the paper's 15).
    ce_weight, marginal_weight, conditional_weight : float, default=0.1, 1.0, 0.1
        Loss weights (TIM-GD's lambda, alpha and the conditional-entropy weight).
    n_iter : int, default=1000
        Full-batch Adam iterations on the prototypes.
    head_lr : float, default=1e-3
        Adam learning rate of the prototypes.
    **training
        Shared training parameters for the source stage (see :mod:`shiftlab.deep.estimator`).

    Attributes
    ----------
    base_model_ : deep estimator
    history_ : list of dict
        One record per iteration: ``loss``, ``target_entropy``.
    """

    def __init__(
        self,
        base_model=None,
        temperature=15.0,
        ce_weight=0.1,
        marginal_weight=1.0,
        conditional_weight=0.1,
        n_iter=1000,
        head_lr=1e-3,
        **training,
    ):
        super().__init__(**training)
        self.base_model = base_model
        self.temperature = temperature
        self.ce_weight = ce_weight
        self.marginal_weight = marginal_weight
        self.conditional_weight = conditional_weight
        self.n_iter = n_iter
        self.head_lr = head_lr

    def fit(self, X, y=None, sample_domain=None):
        """Fit the prototypes on source labels and unlabelled target rows (see class doc)."""
        y, sample_domain, inputs = self._check_fit_inputs(X, y, sample_domain)
        if int(self.n_iter) < 1:
            raise ValueError(f"n_iter must be >= 1, got {self.n_iter}.")
        src = sample_domain >= 0
        if self.base_model is None:
            base = train_source_model(self.training_params(), inputs, y, sample_domain)
        elif not is_fitted_model(self.base_model):
            # TIM is transductive, so the base model may adapt with the target rows too.
            base = clone(self.base_model).fit(X, y, sample_domain)
        else:
            base = self.base_model
            if tuple(base.input_shape_) != tuple(inputs.sample_shape):
                raise DataValidationError(
                    f"Samples have shape {tuple(inputs.sample_shape)} but the base model was "
                    f"fitted on {tuple(base.input_shape_)}."
                )
        self.base_model_ = base
        y_t, k = self._encode_labels(y[src])
        device = resolve_device(self.device)
        self.device_ = device
        self._set_input_shape(inputs.sample_shape)
        self.n_outputs_ = k
        self._amp = None
        extractor = nn.Sequential(copy.deepcopy(base.network_.extractor), _L2Normalize()).to(device)
        for p in extractor.parameters():
            p.requires_grad_(False)
        head_probe = DANetwork(extractor, nn.Identity())
        rows_s, rows_t = np.flatnonzero(src), np.flatnonzero(~src)
        zs, _ = embed_rows(head_probe, inputs, rows_s, device, None)
        zt, _ = embed_rows(head_probe, inputs, rows_t, device, None)
        ys = y_t.to(device)
        with seeded(self._seed(), device):
            onehot = F.one_hot(ys, k).to(zs.dtype)
            prototypes = (onehot.T @ zs) / onehot.sum(0).unsqueeze(1).clamp_min(1)
            head = PrototypeHead(prototypes, float(self.temperature)).to(device)
            opt = torch.optim.Adam(head.parameters(), lr=float(self.head_lr))
            history = []
            for _ in range(int(self.n_iter)):
                logits_s, logits_t = head(zs), head(zt)
                loss = tim_loss(
                    logits_s,
                    ys,
                    logits_t,
                    ce_weight=float(self.ce_weight),
                    marginal_weight=float(self.marginal_weight),
                    conditional_weight=float(self.conditional_weight),
                )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                ent = entropy(torch.softmax(logits_t.detach(), dim=1))
                history.append({"loss": float(loss.detach()), "target_entropy": float(ent)})
        network = DANetwork(extractor, head)
        network.feature_dim = int(zs.shape[1])
        network.eval()
        self.network_ = network
        self.modules_ = {}
        self.history_ = history
        self.n_iter_ = int(self.n_iter)
        self.best_epoch_ = self.n_iter_ - 1
        self.n_epochs_ = 1
        return self
