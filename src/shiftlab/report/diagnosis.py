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
import html
import io
import json
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from shiftlab.data.convention import is_masked
from shiftlab.data.dataset import DomainDataset
from shiftlab.exceptions import DataValidationError, UnknownNameError, suggest

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
        lines = [f"Shift diagnosis of {self.dataset}: {self._task_line()}",
                 f"  {self.task_reason}",
                 f"  rows: source {self.n_source} ({self.n_source_labelled} labelled), "
                 f"target {self.n_target}; {self.n_features} features",
                 "",
                 "1. Domain separability (domain classifier, out-of-fold ROC AUC)",
                 f"  AUC {self.domain_auc:.3f}, 95% CI {self._lo_hi(self.domain_auc_ci)}: "
                 f"{self.covariate_text}"]
        if self.residual_auc is not None:
            lines.append(f"  after reweighting the source to the estimated target prior: "
                         f"AUC {self.residual_auc:.3f}, 95% CI "
                         f"{self._lo_hi(self.residual_auc_ci)}")
        lines += ["", "2. Label distribution"]
        if self.source_prior is None:
            lines.append(f"  {self.prior_text}")
        else:
            lines.append("  classes: " + ", ".join(self.classes))
            for label, q in self._prior_rows():
                lines.append(f"  {label}: " + ", ".join(f"{v:.3f}" for v in q))
            lines.append(f"  {self.prior_text}")
            if self.evaluator:
                lines.append(f"  {_EVALUATOR_LABEL}: true target prior "
                             + ", ".join(f"{v:.3f}" for v in self.evaluator["true_prior"])
                             + f" ({self.evaluator['n_labelled']} labelled target rows)")
        lines += ["", f"3. Features that shift most (top {len(self.top_features)})"]
        for f in self.top_features:
            lines.append(f"  {f.name}: {f.test} {_num(f.statistic)} (p={_p(f.p_value)}), "
                         f"SMD {_num(f.smd)}, missing {_pct(f.missing_source)} -> "
                         f"{_pct(f.missing_target)}")
        lines += ["", "4. Suggested family of methods (a hint, not a promise)",
                  f"  {self.hint}"]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  ! {w}" for w in self.warnings]
        if self.notes:
            lines += ["", "Notes:"] + [f"  - {n}" for n in self.notes]
        return "\n".join(lines)

    def to_rich(self):
        """A Rich renderable (tables and coloured text) of the diagnosis."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        parts: list[Any] = [
            Text(f"Shift diagnosis of {self.dataset}: {self._task_line()}", style="bold"),
            Text(f"{self.task_reason} Rows: source {self.n_source} "
                 f"({self.n_source_labelled} labelled), target {self.n_target}; "
                 f"{self.n_features} features", style="dim"),
            Text(""),
            Text("1. Domain separability (domain classifier, out-of-fold ROC AUC)",
                 style="bold"),
            Text(f"   AUC {self.domain_auc:.3f}, 95% CI {self._lo_hi(self.domain_auc_ci)}: "
                 f"{self.covariate_text}"),
        ]
        if self.residual_auc is not None:
            parts.append(Text(f"   after reweighting the source to the estimated target prior: "
                              f"AUC {self.residual_auc:.3f}, 95% CI "
                              f"{self._lo_hi(self.residual_auc_ci)}"))
        parts += [Text(""), Text("2. Label distribution", style="bold")]
        if self.source_prior is not None:
            table = Table(show_edge=False)
            table.add_column("")
            for c in self.classes:
                table.add_column(c, justify="right")
            for label, q in self._prior_rows():
                table.add_row(label, *(f"{v:.3f}" for v in q))
            if self.evaluator:
                table.add_row(Text(f"{_EVALUATOR_LABEL}: true target prior", style="dim"),
                              *(Text(f"{v:.3f}", style="dim")
                                for v in self.evaluator["true_prior"]))
            parts.append(table)
        parts.append(Text(f"   {self.prior_text}"))
        parts += [Text(""), Text(f"3. Features that shift most (top {len(self.top_features)})",
                                 style="bold")]
        ftable = Table(show_edge=False)
        for col in ("feature", "test", "statistic", "p-value", "SMD", "missing source",
                    "missing target"):
            ftable.add_column(col, justify="left" if col in ("feature", "test") else "right")
        for f in self.top_features:
            ftable.add_row(f.name, f.test, _num(f.statistic), _p(f.p_value), _num(f.smd),
                           _pct(f.missing_source), _pct(f.missing_target))
        parts.append(ftable)
        parts += [Text(""), Text("4. Suggested family of methods (a hint, not a promise)",
                                 style="bold"), Text(f"   {self.hint}", style="green")]
        for w in self.warnings:
            parts.append(Text(f"warning: {w}", style="yellow"))
        for n in self.notes:
            parts.append(Text(f"note: {n}", style="dim"))
        return Group(*parts)

    def to_html(self) -> str:
        """The diagnosis as one self-contained HTML page (inline SVG figures)."""
        return _render_html(self)

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


def _num(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{v:.3f}"


def _p(v) -> str:
    if v is None or not np.isfinite(v):
        return "–"
    return f"{v:.1e}" if v < 1e-3 else f"{v:.3f}"


def _pct(v) -> str:
    return "–" if v is None or not np.isfinite(v) else f"{100 * v:.1f}%"


def _total_variation(p, q) -> float:
    return float(0.5 * np.abs(np.asarray(p, float) - np.asarray(q, float)).sum())


def _flat(X) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X.reshape(X.shape[0], -1)


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


# =============================================================================
# HTML
# =============================================================================
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#1d2733;line-height:1.45;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2rem;border-bottom:2px solid #e3e8ee;
padding-bottom:.2rem;font-size:1.25rem}.sub{color:#5b6b7c}
table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}
th,td{padding:.3rem .6rem;border-bottom:1px solid #e3e8ee;text-align:right;white-space:nowrap}
th:first-child,td:first-child{text-align:left}thead th{background:#f4f6f9}
.hint{background:#eef7f0;border-left:4px solid #0a7d32;padding:.6rem 1rem}
.warn{background:#fff6e5;border-left:4px solid #b36b00;padding:.6rem 1rem;margin:.4rem 0}
.evaluator td{color:#8a4b00;font-style:italic}.note{font-size:.85rem;color:#5b6b7c}
.fig{margin:1rem 0}pre{background:#f4f6f9;padding:.6rem;overflow:auto}
"""

_COLORS = ("#1f77b4", "#ff7f0e")


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.find("<svg"):]


def _figure(width, height):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height))


def _oof_figure(diag: Diagnosis) -> str:
    oof, d = diag._plot["oof"], diag._plot["domain"]
    fig = _figure(6, 2.8)
    ax = fig.add_subplot()
    bins = np.linspace(0, 1, 31)
    for k, label in enumerate(("source", "target")):
        ax.hist(oof[d == k], bins=bins, density=True, histtype="step", lw=1.8,
                color=_COLORS[k], label=label)
    ax.set_xlabel("out-of-fold P(target | x) of the domain classifier")
    ax.set_ylabel("density")
    ax.legend(frameon=False)
    return _svg(fig)


def _prior_figure(diag: Diagnosis) -> str:
    rows = diag._prior_rows()
    if diag.evaluator:
        rows.append(("true target prior (evaluator only)", diag.evaluator["true_prior"]))
    k = len(diag.classes)
    fig = _figure(max(4.0, 1.0 + 0.9 * k), 2.8)
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    for i, (label, q) in enumerate(rows):
        ax.bar(np.arange(k) + (i - (len(rows) - 1) / 2) * width, q, width, label=label,
               hatch="//" if "evaluator" in label else None,
               alpha=0.6 if "evaluator" in label else 1.0)
    ax.set_xticks(np.arange(k), diag.classes)
    ax.set_ylabel("class probability")
    ax.set_ylim(0, 1)
    ax.legend(frameon=False, fontsize=8)
    return _svg(fig)


def _features_figure(diag: Diagnosis) -> str:
    shown = [f for f in diag.features[:PLOT_FEATURES]]
    if not shown:
        return ""
    ncols = min(3, len(shown))
    nrows = math.ceil(len(shown) / ncols)
    fig = _figure(4.0 * ncols, 2.8 * nrows)
    for i, f in enumerate(shown):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        xs, xt = diag._plot["features"][f.name]
        vs, vt = xs[~np.isnan(xs)], xt[~np.isnan(xt)]
        if f.kind == "categorical":
            cats = np.union1d(np.unique(vs), np.unique(vt))[:30]
            for k, v in enumerate((vs, vt)):
                freq = [(v == c).mean() if v.size else 0.0 for c in cats]
                ax.bar(np.arange(cats.size) + (k - 0.5) * 0.4, freq, 0.4, color=_COLORS[k],
                       label=("source", "target")[k])
            labels = diag._plot.get("categories", {}).get(f.name) or []
            ax.set_xticks(np.arange(cats.size),
                          [labels[int(c)] if 0 <= int(c) < len(labels) else f"{c:g}"
                           for c in cats], fontsize=7, rotation=30 if cats.size > 6 else 0)
        else:
            both = np.concatenate([vs, vt])
            if both.size:
                lo, hi = np.percentile(both, [0.5, 99.5])
                if hi <= lo:
                    lo, hi = lo - 0.5, hi + 0.5
                bins = np.linspace(lo, hi, 31)
                for k, v in enumerate((vs, vt)):
                    if v.size:
                        ax.hist(np.clip(v, lo, hi), bins=bins, density=True, histtype="step",
                                lw=1.6, color=_COLORS[k], label=("source", "target")[k])
        ax.set_title(f"{f.name}\n{f.test} {_num(f.statistic)}, missing "
                     f"{_pct(f.missing_source)} → {_pct(f.missing_target)}", fontsize=9)
        ax.tick_params(labelsize=7)
        if i == 0:
            ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def _render_html(diag: Diagnosis) -> str:
    e = html.escape
    title = f"Shift diagnosis: {diag.dataset} ({diag._task_line()})"
    p = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
         f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
         f"<title>{e(title)}</title><style>{_CSS}</style></head><body>",
         f"<h1>{e(title)}</h1>",
         f"<p class='sub'>{e(diag.task_reason)} Rows: source {diag.n_source} "
         f"({diag.n_source_labelled} labelled), target {diag.n_target}; "
         f"{diag.n_features} features.</p>",
         "<h2>Suggested family of methods</h2>",
         f"<p class='hint'>{e(diag.hint)}</p>"]
    for w in diag.warnings:
        p.append(f"<p class='warn'>Warning: {e(w)}</p>")

    p.append("<h2>1. How separable are the domains?</h2>")
    p.append(f"<p>Domain classifier ROC AUC (out-of-fold, {diag.provenance.get('cv')}-fold "
             f"stratified): <b>{diag.domain_auc:.3f}</b>, 95% CI "
             f"{e(diag._lo_hi(diag.domain_auc_ci))} (stratified bootstrap, "
             f"{diag.provenance.get('n_bootstrap')} resamples). {e(diag.covariate_text)}.</p>")
    p.append("<p class='note'>About 0.5: no detectable covariate shift; above 0.9: strong "
             "shift. The classifier is a histogram gradient boosting model: it handles missing "
             "values natively (a change of missingness is a shift it can detect), categorical "
             "codes as categories, and non-linear differences. The interval reflects the "
             "sampling of the evaluated rows, not the refitting of the folds.</p>")
    if diag.residual_auc is not None:
        p.append(f"<p>After reweighting the labelled source rows to the MLLS estimate of the "
                 f"target prior: AUC <b>{diag.residual_auc:.3f}</b>, 95% CI "
                 f"{e(diag._lo_hi(diag.residual_auc_ci))} (the same out-of-fold scores, with "
                 "each source row weighted by its class's estimated prior ratio). Under a pure "
                 "label shift the reweighted source has the target's feature distribution and "
                 "this AUC is about 0.5; what remains is shift that the change of class prior "
                 "does not explain.</p>")
    p.append(f"<div class='fig'>{_oof_figure(diag)}</div>")

    p.append("<h2>2. Estimated target label distribution</h2>")
    if diag.source_prior is None:
        p.append(f"<p>{e(diag.prior_text)}</p>")
    else:
        head = "".join(f"<th>{e(c)}</th>" for c in diag.classes)
        body = "".join(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{v:.3f}</td>" for v in q)
                       + "</tr>" for label, q in diag._prior_rows())
        if diag.evaluator:
            body += (f"<tr class='evaluator'><td>{e(_EVALUATOR_LABEL)}: true target prior "
                     f"({diag.evaluator['n_labelled']} labelled target rows)</td>"
                     + "".join(f"<td>{v:.3f}</td>" for v in diag.evaluator["true_prior"])
                     + "</tr>")
        p.append(f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>")
        p.append(f"<p>{e(diag.prior_text)}</p>")
        p.append("<p class='note'>BBSE (Lipton et al., 2018) and MLLS (EM with bias-corrected "
                 "calibration; Saerens et al., 2002, Alexandari et al., 2020) are fitted on the "
                 "source labels and the target rows with their labels masked; a logistic "
                 "regression on imputed, standardised / one-hot features is their classifier "
                 f"(held-out source accuracy {_num(diag.source_heldout_accuracy)}). Both assume "
                 "label shift: P(x | y) shared by the domains.</p>")
        if diag.evaluator:
            p.append("<p class='note'>The evaluator-only row uses target labels present in the "
                     "file; no estimate on this page reads them.</p>")
        p.append(f"<div class='fig'>{_prior_figure(diag)}</div>")

    p.append(f"<h2>3. Features that shift most (top {len(diag.top_features)})</h2>")
    cols = ("feature", "kind", "test", "statistic", "p-value", "SMD", "missing source",
            "missing target")

    def rows(feats):
        return "".join(
            f"<tr><td>{e(f.name)}</td><td>{f.kind}</td><td>{f.test}</td>"
            f"<td>{_num(f.statistic)}</td><td>{_p(f.p_value)}</td><td>{_num(f.smd)}</td>"
            f"<td>{_pct(f.missing_source)}</td><td>{_pct(f.missing_target)}</td></tr>"
            for f in feats)

    head = "".join(f"<th>{c}</th>" for c in cols)
    p.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows(diag.top_features)}"
             "</tbody></table>")
    p.append("<p class='note'>Statistics on the values present in each domain: "
             "Kolmogorov-Smirnov for numeric features, total variation distance with a "
             "chi-square test for categorical ones; SMD: standardised mean difference "
             "(target minus source). Ranked by the larger of the statistic and the change of "
             "the missing-value rate. p-values are not corrected for multiple testing.</p>")
    p.append(f"<div class='fig'>{_features_figure(diag)}</div>")
    if len(diag.features) > len(diag.top_features):
        p.append(f"<details><summary>All {len(diag.features)} features</summary><table><thead>"
                 f"<tr>{head}</tr></thead><tbody>{rows(diag.features)}</tbody></table>"
                 "</details>")
    if diag.notes:
        p.append("<h2>Notes</h2><ul>" + "".join(f"<li>{e(n)}</li>" for n in diag.notes)
                 + "</ul>")
    p.append("<h2>Provenance</h2>")
    p.append("<pre>" + e(json.dumps(_clean(diag.provenance), indent=2)) + "</pre>")
    p.append("</body></html>")
    return "".join(p)
