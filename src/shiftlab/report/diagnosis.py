"""Diagnose the shift between the domains of a user's dataset, before choosing a method.

:func:`diagnose` answers four questions about a source -> target task of a
:class:`~shiftlab.data.DomainDataset` (labelled source, unlabelled target):

1. **How separable are the domains?** A domain classifier (source rows vs target rows)
   is evaluated by stratified cross-validated (out-of-fold) ROC AUC, with a seeded,
   stratified bootstrap 95% interval. ~0.5: no detectable covariate shift; > 0.9: the
   domains are almost separable.
2. **What is the target label distribution?** The source class prior, and the target
   prior estimated by :class:`~shiftlab.methods.BBSE` and :class:`~shiftlab.methods.MLLS`
   from the source labels and the *unlabelled* target rows (target labels are masked by
   :meth:`DomainDataset.pack <shiftlab.data.DomainDataset.pack>`; labels present in the
   file for target rows are never read by an estimate, only by a separate, labelled
   "evaluator only" line). The domain classifier is fitted again with the source rows
   reweighted to the estimated prior: what separability remains is not explained by the
   change of prior.
3. **Which features shift most?** Per feature, on the values present in each domain:
   Kolmogorov-Smirnov (numeric) or total variation and chi-square (categorical), the
   standardised mean difference, and the missing-value rate per domain (a change of
   missingness is a shift too).
4. **Which family of methods does the shift suggest?** A hint naming shiftlab methods,
   not a promise: model selection on the task decides.

The domain classifier is scikit-learn's ``HistGradientBoostingClassifier``: it accepts
missing values natively (a change of missingness is itself a signal it can use), treats
categorical codes as categories, needs no scaling, and detects non-linear differences
that a linear model misses. The label-shift estimators need finite inputs and calibrated
probabilities: they use a logistic regression on a label-free encoding of the features
(median imputation with missing-value indicators and standardisation for numeric columns,
one-hot for categorical ones, fitted on the rows' features only).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from shiftlab.data.convention import is_masked
from shiftlab.data.dataset import DomainDataset
from shiftlab.exceptions import DataValidationError, UnknownNameError, suggest
from shiftlab.report._diagnosis_stats import (
    _categorical_mask,
    _covariate_level,
    _domain_auc,
    _estimate_priors,
    _feature_names,
    _flat,
    _stratified_bootstrap_ci,
    _total_variation,
)

__all__ = ["Diagnosis", "FeatureShift", "choose_task", "diagnose"]

#: An estimated target prior with a class below ``DEGENERATE_LOW`` or one above
#: ``DEGENERATE_HIGH`` is degenerate (on the boundary of the simplex).
DEGENERATE_LOW = 1e-3
DEGENERATE_HIGH = 0.999
#: Total variation between the source prior and the estimated target prior above
#: which the prior is said to have changed (below ``PRIOR_SMALL``: stable).
PRIOR_CHANGED = 0.10
PRIOR_SMALL = 0.05
#: Number of top features shown (table) and plotted.
TOP_FEATURES = 10
PLOT_FEATURES = 6
_MAX_HGB_CATEGORIES = 255


# =============================================================================
# results
# =============================================================================
@dataclass
class FeatureShift:
    """Shift statistics of one feature (computed on the values present in each domain).

    Attributes
    ----------
    name : str
    kind : {"numeric", "categorical"}
    test : {"KS", "chi2"}
        Kolmogorov-Smirnov two-sample test (numeric) or chi-square test of homogeneity
        (categorical).
    statistic : float
        KS statistic (numeric) or total variation distance between the category
        frequencies (categorical), both in [0, 1]; NaN when a domain has no value.
    p_value : float
    smd : float
        Standardised mean difference ``(mean_t - mean_s) / sqrt((var_s + var_t) / 2)``
        (numeric only; NaN otherwise).
    missing_source, missing_target : float
        Fraction of missing values in each domain.
    score : float
        The ranking score, ``max(statistic, |missing_target - missing_source|)``.
    """

    name: str
    kind: str
    test: str
    statistic: float
    p_value: float
    smd: float
    missing_source: float
    missing_target: float
    score: float

    def to_dict(self) -> dict:
        return {k: _clean(v) for k, v in self.__dict__.items()}


@dataclass
class Diagnosis:
    """What :func:`diagnose` found; see the module docstring for the method.

    Every number is in :meth:`to_dict` (JSON-ready); :meth:`to_text` and
    :meth:`to_rich` print it, :meth:`write_html` and :meth:`write_json` save it.
    """

    dataset: str
    sources: list[str]
    target: str
    task_reason: str
    label_kind: str
    n_source: int
    n_target: int
    n_source_labelled: int
    n_features: int
    # 1. separability
    domain_auc: float
    domain_auc_ci: tuple[float, float]
    covariate_level: str
    covariate_text: str
    domain_rows_used: int
    residual_auc: float | None = None
    residual_auc_ci: tuple[float, float] | None = None
    # 2. label distribution
    classes: list[str] = field(default_factory=list)
    source_prior: list[float] | None = None
    target_prior: dict[str, list[float]] = field(default_factory=dict)
    prior_change: float | None = None
    prior_text: str = ""
    source_heldout_accuracy: float | None = None
    evaluator: dict | None = None
    # 3. features
    features: list[FeatureShift] = field(default_factory=list)
    # 4. hint
    hint: str = ""
    hint_methods: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    provenance: dict = field(default_factory=dict)
    # data kept for the figures only (not in to_dict)
    _plot: dict = field(default_factory=dict, repr=False, compare=False)

    # ------------------------------------------------------------------ output
    @property
    def top_features(self) -> list[FeatureShift]:
        return self.features[:TOP_FEATURES]

    def to_dict(self) -> dict:
        """All the numbers, JSON-serialisable (NaN written as ``null``)."""
        out = {
            "dataset": self.dataset,
            "task": {"sources": list(self.sources), "target": self.target,
                     "reason": self.task_reason},
            "label_kind": self.label_kind,
            "sizes": {"source": self.n_source, "target": self.n_target,
                      "source_labelled": self.n_source_labelled,
                      "features": self.n_features},
            "separability": {
                "classifier": "HistGradientBoostingClassifier",
                "metric": "out-of-fold ROC AUC (source vs target), bootstrap 95% CI",
                "auc": self.domain_auc,
                "ci": list(self.domain_auc_ci),
                "level": self.covariate_level,
                "interpretation": self.covariate_text,
                "rows_used": self.domain_rows_used,
                "auc_after_prior_correction": self.residual_auc,
                "ci_after_prior_correction": (list(self.residual_auc_ci)
                                              if self.residual_auc_ci else None),
            },
            "label_distribution": {
                "classes": list(self.classes),
                "source_prior": self.source_prior,
                "target_prior_estimates": dict(self.target_prior),
                "prior_change_total_variation": self.prior_change,
                "interpretation": self.prior_text,
                "source_heldout_accuracy": self.source_heldout_accuracy,
            },
            "evaluator_only": self.evaluator,
            "features": [f.to_dict() for f in self.features],
            "top_features": [f.name for f in self.top_features],
            "hint": {"text": self.hint, "methods": list(self.hint_methods)},
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "provenance": dict(self.provenance),
        }
        return _clean(out)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def write_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path

    def _lo_hi(self, ci) -> str:
        return f"[{ci[0]:.3f}, {ci[1]:.3f}]"

    def _task_line(self) -> str:
        return f"{' + '.join(self.sources)} -> {self.target}"

    def _prior_rows(self) -> list[tuple[str, list[float]]]:
        rows = []
        if self.source_prior is not None:
            rows.append(("source prior", self.source_prior))
        for name, q in self.target_prior.items():
            rows.append((f"target prior ({name})", q))
        return rows

    def to_text(self) -> str:
        """A plain-text summary (what the command line prints, without colours)."""
        from shiftlab.report._diagnosis_render import render_text

        return render_text(self)

    def to_rich(self):
        """A Rich renderable (tables and coloured text) of the diagnosis."""
        from shiftlab.report._diagnosis_render import render_rich

        return render_rich(self)

    def to_html(self) -> str:
        """The diagnosis as one self-contained HTML page (inline SVG figures)."""
        from shiftlab.report._diagnosis_render import render_html

        return render_html(self)

    def write_html(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path


_EVALUATOR_LABEL = "(evaluator only: labels present in the file)"


# =============================================================================
# helpers
# =============================================================================
def _clean(value):
    """JSON-ready copy: numpy scalars to Python, NaN/inf to None, tuples to lists."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return [_clean(v) for v in value.tolist()]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value

def _unknown_domain(name: str, role: str, choices: Sequence[str]) -> UnknownNameError:
    return UnknownNameError(
        f"Unknown {role} domain {name!r}.{suggest(name, choices)} The domains of the data "
        f"are {', '.join(map(repr, choices))}: pass one of them as the {role} (--{role} on "
        "the command line), or check the domain column."
    )


def choose_task(dataset: DomainDataset, sources: str | Sequence[str] | None = None,
                target: str | None = None) -> tuple[list[str], str, str]:
    """The source domains and the target domain to diagnose, and why.

    Without ``target``: the domain (among the non-sources) with the most masked
    (missing) labels, or the last one when no label is missing. Without ``sources``:
    every domain but the target (merged into one source).

    Returns ``(sources, target, reason)``.
    """
    names = dataset.domain_names
    if len(names) < 2:
        raise DataValidationError(
            f"The data has a single domain ({names[0]!r}); a diagnosis compares a source and "
            "a target domain. Check the domain column: it must take at least two values."
        )
    if isinstance(sources, str):
        sources = [sources]
    sources = list(dict.fromkeys(sources)) if sources else None
    for s in sources or []:
        if s not in dataset:
            raise _unknown_domain(s, "source", names)
    if target is not None and target not in dataset:
        raise _unknown_domain(target, "target", names)
    if target is not None and sources and target in sources:
        raise DataValidationError(
            f"Domain {target!r} is both a source and the target; drop it from the sources or "
            "pick another target."
        )
    if target is not None:
        reason = f"target {target!r} as given"
    else:
        candidates = [n for n in names if n not in (sources or [])]
        if not candidates:
            raise DataValidationError(
                "Every domain is a source, so none is left as the target; give the target "
                "domain (--target) or fewer sources."
            )
        masked = {n: int(is_masked(dataset[n][1], dataset.label_kind).sum())
                  for n in candidates}
        best = max(masked.values())
        if best > 0:
            target = max(candidates, key=lambda n: masked[n])  # first of the ties
            reason = (f"target {target!r} chosen as the domain with the most unlabelled rows "
                      f"({best})")
        else:
            target = candidates[-1]
            reason = (f"target {target!r} chosen as the last domain (no domain has unlabelled "
                      "rows)")
    if not sources:
        sources = [n for n in names if n != target]
        reason += (f"; source{'s' if len(sources) > 1 else ''} "
                   f"{', '.join(map(repr, sources))}: every other domain"
                   + (" (merged)" if len(sources) > 1 else ""))
    else:
        reason += (f"; source{'s' if len(sources) > 1 else ''} "
                   f"{', '.join(map(repr, sources))} as given"
                   + (" (merged)" if len(sources) > 1 else ""))
    return sources, target, reason + ". Pass --source/--target to choose."


def _degenerate(q: np.ndarray) -> bool:
    return bool(q.min() < DEGENERATE_LOW or q.max() > DEGENERATE_HIGH)


# =============================================================================
# 3. features
# =============================================================================
def _feature_shift(name, xs, xt, categorical: bool) -> FeatureShift:
    from scipy import stats

    ms, mt = np.isnan(xs), np.isnan(xt)
    miss_s = float(ms.mean()) if xs.size else float("nan")
    miss_t = float(mt.mean()) if xt.size else float("nan")
    vs, vt = xs[~ms], xt[~mt]
    stat = p = smd = float("nan")
    if categorical:
        test = "chi2"
        if vs.size and vt.size:
            cats = np.union1d(np.unique(vs), np.unique(vt))
            cs = np.array([(vs == c).sum() for c in cats], dtype=float)
            ct = np.array([(vt == c).sum() for c in cats], dtype=float)
            stat = _total_variation(cs / cs.sum(), ct / ct.sum())
            if cats.size > 1:
                p = float(stats.chi2_contingency(np.vstack([cs, ct]))[1])
            else:
                p = 1.0
    else:
        test = "KS"
        if vs.size and vt.size:
            res = stats.ks_2samp(vs, vt)
            stat, p = float(res.statistic), float(res.pvalue)
            pooled = math.sqrt((vs.var() + vt.var()) / 2.0)
            diff = float(vt.mean() - vs.mean())
            smd = diff / pooled if pooled > 0 else (0.0 if diff == 0 else float("nan"))
    dmiss = abs(miss_t - miss_s) if np.isfinite(miss_s) and np.isfinite(miss_t) else 0.0
    score = max(stat if np.isfinite(stat) else 0.0, dmiss)
    return FeatureShift(name=name, kind="categorical" if categorical else "numeric",
                        test=test, statistic=stat, p_value=p, smd=smd,
                        missing_source=miss_s, missing_target=miss_t, score=float(score))


# =============================================================================
# 4. hint
# =============================================================================
def _existing(names: Sequence[str]) -> list[str]:
    from shiftlab.methods.registry import list_methods

    known = {spec.name for spec in list_methods()}
    return [n for n in names if n in known]


def _hint(level: str, prior_change: float | None, residual_level: str | None,
          regression: bool) -> tuple[str, list[str]]:
    caveat = (" This is a hint, not a promise: compare candidates with label-free model "
              "selection (shiftlab.selection.DomainSearchCV, or a benchmark definition) "
              "before deploying.")
    reweight = _existing(["KMM", "KLIEP", "DiscriminatorReweight", "NearestNeighborReweight"])
    mapping = _existing(["CORAL", "EntOT", "MapOT", "LinOT", "SA", "TCA"])
    label = _existing(["BBSE", "MLLS"])
    both = _existing(["MMDTarS", "JCPOT", "ClassRegOT", "JDOT", "OTLabelProp"])
    changed = prior_change is not None and prior_change >= PRIOR_CHANGED
    if residual_level is None:  # no prior correction: judge on the raw separability
        residual_level = level
    if level == "none" and not changed:
        return ("No detectable shift: a model trained on the source only (SourceOnly) is "
                "likely as good as any adaptation method here, and adaptation can even cost "
                "accuracy." + caveat, _existing(["SourceOnly"]))
    if changed and residual_level in ("none", "weak"):
        text = ("The class prior changed while, once the source is reweighted to the estimated "
                "target prior, little or no separability remains: this looks like label shift. "
                f"Label-shift methods ({', '.join(label)}) correct it (class weights, or "
                "prior-corrected probabilities).")
        return text + caveat, label
    if changed:
        text = ("The class prior changed and the features shift beyond what the prior change "
                "explains: both label shift and covariate/conditional shift. Methods that model "
                f"a prior change with a change of the features ({', '.join(both[:2])}), "
                f"OT-based conditional methods ({', '.join(both[2:])}), or a label-shift "
                f"weighting ({', '.join(label)}) combined with a mapping "
                f"({', '.join(mapping[:2])}).")
        return text + caveat, label + both + mapping[:2]
    prior_note = ("" if regression or prior_change is None
                  else " with a stable class prior")
    if level == "weak":
        text = (f"Weak covariate shift{prior_note}: source-only is likely close to the best; "
                f"reweighting ({', '.join(reweight)}) is the low-risk adaptation to try.")
        return text + caveat, _existing(["SourceOnly"]) + reweight
    if level == "moderate" or level == "none":
        text = (f"Covariate shift{prior_note}: reweighting ({', '.join(reweight)}) while the "
                f"domains still overlap, or mapping/alignment ({', '.join(mapping)}).")
        return text + caveat, reweight + mapping
    text = (f"Strong covariate shift{prior_note}: the domains barely overlap, so importance "
            "weights become extreme and reweighting is fragile; prefer mapping/alignment "
            f"methods ({', '.join(mapping)}).")
    return text + caveat, mapping


# =============================================================================
# the entry point
# =============================================================================
def diagnose(
    dataset: DomainDataset,
    source: str | Sequence[str] | None = None,
    target: str | None = None,
    *,
    random_state: int = 0,
    n_bootstrap: int = 1000,
    cv: int = 5,
    max_rows: int | None = 20_000,
    prior_correction: bool = True,
) -> Diagnosis:
    """Diagnose the shift from ``source`` to ``target`` (see the module docstring).

    Parameters
    ----------
    dataset : DomainDataset
        The data; X may hold NaN (missing values, ``allow_missing=True``) and
        categorical columns as float codes (named in ``metadata["categorical_columns"]``).
    source : str or sequence of str, optional
        Source domain(s), merged into one source. Default: every domain but the target.
    target : str, optional
        Target domain. Default: the domain with the most masked labels, else the last.
    random_state : int, default=0
        Seed of the folds, the classifiers, the subsample and the bootstrap.
    n_bootstrap : int, default=1000
        Bootstrap resamples of the AUC's 95% interval.
    cv : int, default=5
        Stratified folds of the domain classifier and of the label-shift estimators.
    max_rows : int or None, default=20000
        The domain classifier uses at most this many rows (a stratified random
        subsample); the feature statistics and the prior estimates use every row.
    prior_correction : bool, default=True
        Also fit the domain classifier with the source rows reweighted to the estimated
        target prior (classification only).

    Returns
    -------
    Diagnosis
    """
    if not isinstance(dataset, DomainDataset):
        raise TypeError(f"diagnose needs a shiftlab DomainDataset, got {type(dataset).__name__}."
                        " Read a table with shiftlab.data.tables.read_table.")
    if dataset.heterogeneous:
        shapes = {dataset[n][0].shape[1:] for n in dataset}
        if len(shapes) > 1:
            raise DataValidationError(
                "The domains have different feature dimensions; a shift diagnosis compares "
                "features column by column and needs one feature space."
            )
    sources, target, reason = choose_task(dataset, source, target)
    seed = int(random_state)
    warnings_: list[str] = []
    notes: list[str] = []
    kind = dataset.label_kind
    Xs = _flat(np.concatenate([dataset[s][0] for s in sources]))
    ys = np.concatenate([dataset[s][1] for s in sources])
    Xt = _flat(dataset[target][0])
    n_features = Xs.shape[1]
    names = _feature_names(dataset, n_features)
    categorical = _categorical_mask(dataset, n_features, np.vstack([Xs, Xt]))
    src_labelled = ~is_masked(ys, kind)
    if Xt.shape[0] < 2 or Xs.shape[0] < 2:
        raise DataValidationError(
            f"The source has {Xs.shape[0]} row(s) and the target {Xt.shape[0]}; a diagnosis "
            "needs at least 2 rows in each (and a few hundred for stable numbers)."
        )
    if min(Xs.shape[0], Xt.shape[0]) < 50:
        warnings_.append(
            f"Few rows (source {Xs.shape[0]}, target {Xt.shape[0]}): the intervals are wide "
            "and the estimates unstable."
        )

    # ---- 1. separability --------------------------------------------------------
    rng = np.random.default_rng(seed)
    rows_s, rows_t = np.arange(Xs.shape[0]), np.arange(Xt.shape[0])
    n_total = rows_s.size + rows_t.size
    if max_rows is not None and n_total > max_rows:
        frac = max_rows / n_total
        rows_s = np.sort(rng.choice(rows_s, max(2, int(round(frac * rows_s.size))),
                                    replace=False))
        rows_t = np.sort(rng.choice(rows_t, max(2, int(round(frac * rows_t.size))),
                                    replace=False))
        notes.append(f"The domain classifier used a random subsample of {rows_s.size + rows_t.size}"
                     f" of the {n_total} rows (max_rows={max_rows}), same proportions.")
    hgb_cat = categorical.copy()
    for j in np.flatnonzero(hgb_cat):
        col = np.concatenate([Xs[:, j], Xt[:, j]])
        if np.nanmax(col, initial=0) >= _MAX_HGB_CATEGORIES:
            hgb_cat[j] = False
            notes.append(f"Categorical feature {names[j]!r} has more than "
                         f"{_MAX_HGB_CATEGORIES} categories; the domain classifier treats its "
                         "codes as numbers.")
    Xd = np.vstack([Xs[rows_s], Xt[rows_t]])
    d = np.r_[np.zeros(rows_s.size, dtype=int), np.ones(rows_t.size, dtype=int)]
    auc, ci, oof = _domain_auc(Xd, d, categorical=hgb_cat, cv=cv, n_bootstrap=n_bootstrap,
                               seed=seed)
    level, level_text = _covariate_level(auc, ci)

    # ---- 2. label distribution --------------------------------------------------
    classes: list[str] = []
    source_prior = None
    target_prior: dict[str, list[float]] = {}
    prior_change = None
    prior_text = ""
    heldout_acc = None
    evaluator = None
    residual_auc = residual_ci = None
    residual_level = None
    fitted = None
    if kind != "classification":
        prior_text = ("Regression labels: there is no class prior to estimate (label-shift "
                      "estimation needs class labels).")
    elif len(np.unique(ys[src_labelled])) < 2:
        prior_text = ("The labelled source rows hold fewer than two classes: the target prior "
                      "cannot be estimated (name the label column, --label on the command "
                      "line, and give the source rows their labels).")
        warnings_.append(prior_text)
    else:
        try:
            fitted, estimates = _estimate_priors(dataset, sources, target, categorical, seed,
                                                 cv)
        except DataValidationError as exc:  # e.g. a class with a single labelled row
            fitted = None
            prior_text = f"The target prior could not be estimated: {exc}"
            warnings_.append(prior_text)
    if fitted is not None:
        mlls = fitted["MLLS"]
        codes = mlls.classes_
        tn = list(dataset.target_names) if dataset.target_names is not None else None
        classes = [tn[int(c)] if tn is not None and 0 <= int(c) < len(tn) else str(c)
                   for c in codes]
        source_prior = [float(v) for v in mlls.source_prior_]
        target_prior = {k: [float(v) for v in q] for k, q in estimates.items()}
        prior_change = _total_variation(source_prior, estimates["MLLS"])
        heldout_acc = float(np.trace(fitted["BBSE"].confusion_matrix_))
        if prior_change >= PRIOR_CHANGED:
            prior_text = (f"The class prior changed: total variation {prior_change:.3f} between "
                          "the source prior and the MLLS estimate of the target prior "
                          f"(>= {PRIOR_CHANGED}).")
        elif prior_change >= PRIOR_SMALL:
            prior_text = (f"Small change of the class prior (total variation {prior_change:.3f}"
                          f", between {PRIOR_SMALL} and {PRIOR_CHANGED}).")
        else:
            prior_text = (f"The class prior looks stable (total variation {prior_change:.3f} "
                          f"< {PRIOR_SMALL}).")
        for name, q in estimates.items():
            if _degenerate(q):
                j = int(np.argmin(q)) if q.min() < DEGENERATE_LOW else int(np.argmax(q))
                warnings_.append(
                    f"The {name} estimate of the target prior is degenerate: class "
                    f"{classes[j]!r} gets {q[j]:.4f}, on the boundary of the simplex (a class "
                    f"below {DEGENERATE_LOW} or one above {DEGENERATE_HIGH}). The estimator hit "
                    "a constraint: the class may truly be (almost) absent from the target, or "
                    "the target sample is small, or the classifier confuses the classes, or "
                    "the shift is not a pure label shift (P(x | y) changed, which breaks the "
                    "estimator's assumption). Treat this estimate with caution."
                )
        gap = _total_variation(estimates["BBSE"], estimates["MLLS"])
        if gap >= PRIOR_CHANGED:
            warnings_.append(
                f"BBSE and MLLS disagree (total variation {gap:.3f} between their estimates): "
                "the label-shift assumption may not hold, or the sample is too small."
            )
        counts = np.bincount(np.searchsorted(codes, ys[src_labelled]), minlength=codes.size)
        if counts.min() < 10:
            warnings_.append(
                f"Class {classes[int(np.argmin(counts))]!r} has only {int(counts.min())} "
                "labelled source rows: its prior estimate is unreliable."
            )
        if tn is not None and len(tn) > codes.size:
            absent = [tn[k] for k in range(len(tn)) if k not in set(codes.tolist())]
            notes.append(f"Classes without a labelled source row are not estimated: {absent}.")
        # The same out-of-fold scores, evaluated with the labelled source rows weighted to
        # the estimated target prior: if the shift is a pure label shift, the reweighted
        # source has the target's feature distribution and any score gives AUC 0.5.
        if prior_correction:
            from sklearn.metrics import roc_auc_score

            lab = np.r_[src_labelled[rows_s], np.ones(rows_t.size, dtype=bool)]
            w_src = mlls.class_weights_[np.searchsorted(codes, ys[rows_s][src_labelled[rows_s]])]
            if w_src.sum() > 0:
                w = np.r_[w_src / w_src.mean(), np.ones(rows_t.size)]
                dr, sr = d[lab], oof[lab]
                residual_auc = float(roc_auc_score(dr, sr, sample_weight=w))
                residual_ci = _stratified_bootstrap_ci(dr, sr, w, n_bootstrap,
                                                       np.random.default_rng(seed + 1))
                residual_level, _ = _covariate_level(residual_auc, residual_ci)
        # evaluator only: computed last, from labels the estimates above never saw
        yt_file = dataset[target][1]
        present = ~is_masked(yt_file, kind)
        if present.any():
            true = np.bincount(np.searchsorted(codes, yt_file[present]),
                               minlength=codes.size)[: codes.size] / present.sum()
            unseen = ~np.isin(yt_file[present], codes)
            evaluator = {
                "label": _EVALUATOR_LABEL,
                "n_labelled": int(present.sum()),
                "true_prior": [float(v) for v in true],
                "error_total_variation": {k: _total_variation(true, q)
                                          for k, q in estimates.items()},
                "rows_with_classes_unseen_in_source": int(unseen.sum()),
            }

    # ---- 3. features ------------------------------------------------------------
    features = [_feature_shift(names[j], Xs[:, j], Xt[:, j], bool(categorical[j]))
                for j in range(n_features)]
    features.sort(key=lambda f: (-f.score, names.index(f.name)))

    # ---- 4. hint ----------------------------------------------------------------
    hint, hint_methods = _hint(level, prior_change, residual_level, kind != "classification")

    provenance = _provenance(dataset, seed, n_bootstrap, cv, max_rows)
    plot = {
        "oof": oof, "domain": d,
        "features": {f.name: (Xs[:, names.index(f.name)], Xt[:, names.index(f.name)])
                     for f in features[:PLOT_FEATURES]},
        "categories": {k: [str(c) for c in v] for k, v in
                       ((dataset.metadata.get("schema") or {}).get("categories") or {}).items()},
    }
    return Diagnosis(
        dataset=dataset.name, sources=list(sources), target=target, task_reason=reason,
        label_kind=kind, n_source=int(Xs.shape[0]), n_target=int(Xt.shape[0]),
        n_source_labelled=int(src_labelled.sum()), n_features=int(n_features),
        domain_auc=auc, domain_auc_ci=ci, covariate_level=level, covariate_text=level_text,
        domain_rows_used=int(d.size), residual_auc=residual_auc, residual_auc_ci=residual_ci,
        classes=classes, source_prior=source_prior, target_prior=target_prior,
        prior_change=prior_change, prior_text=prior_text,
        source_heldout_accuracy=heldout_acc, evaluator=evaluator, features=features,
        hint=hint, hint_methods=hint_methods, warnings=warnings_, notes=notes,
        provenance=provenance, _plot=plot,
    )


def _provenance(dataset, seed, n_bootstrap, cv, max_rows) -> dict:
    import scipy
    import sklearn

    from shiftlab import __version__

    meta = dataset.metadata or {}
    return {
        "shiftlab_version": __version__,
        "seed": seed,
        "n_bootstrap": int(n_bootstrap),
        "cv": int(cv),
        "max_rows": max_rows,
        "data_sha256": meta.get("sha256"),
        "data_file": meta.get("source_file"),
        "columns": ({k: (meta.get("schema") or {}).get(f"{k}_column")
                     for k in ("domain", "label")} if meta.get("schema") else None),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": {"python": platform.python_version(), "numpy": np.__version__,
                     "scipy": scipy.__version__, "scikit-learn": sklearn.__version__},
    }
