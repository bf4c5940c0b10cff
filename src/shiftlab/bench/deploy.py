"""A deployable model: select on all rows, save with provenance, predict new rows.

``shiftlab run`` answers "how well does letting shiftlab choose work on this data?"
with the nested protocol: its ``shiftlab: <selector>`` rows are the test scores of the
selection procedure on each outer split. :func:`select_model` then applies that same
procedure once more, to **all** rows of a task (labelled source rows, unlabelled target
rows), and fits the chosen candidate (or the aggregation's weighted ensemble) on them:
the model a user deploys. Its expected score is the run's outer-split range, which the
model card states.

File format
-----------
A model is saved with `skops <https://skops.readthedocs.io>`_ (``.skops``), not with
joblib or pickle: loading a pickle runs whatever code the file names, while skops loads
only the types it is told to trust. :func:`load_model` trusts numpy, scipy,
scikit-learn and shiftlab types and refuses a file that names any other, so a model
file received from someone else cannot run code when loaded. Next to it,
``<model>.card.md`` is a one-page model card (human-readable, the same provenance).

In Python::

    from shiftlab.bench.deploy import load_model
    model = load_model("model.skops")
    predictions = model.predict_frame(pandas.read_csv("new_rows.csv"))
"""

from __future__ import annotations

import datetime
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from shiftlab.exceptions import DataValidationError, ShiftlabError

__all__ = ["MODEL_FORMAT", "DeployedModel", "load_model", "save_model", "select_model"]

#: The format tag stored in every model file (bumped when the layout changes).
MODEL_FORMAT = "shiftlab-model/1"
#: Module prefixes of the types a model file may hold (see the module docstring).
TRUSTED_MODULES = ("shiftlab.", "sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


@dataclass
class DeployedModel:
    """A fitted model with what it needs to read new rows, and how it was obtained.

    Attributes
    ----------
    estimator : fitted estimator
        A :class:`~shiftlab.methods.DAPipeline` (one selected candidate) or a
        :class:`~shiftlab.selection.ensemble.WeightedEnsemble` (an aggregation).
    feature_columns : list of str
        The columns new rows must have (by name; their order does not matter).
    schema : dict or None
        How a table's values become numbers (:class:`~shiftlab.data.tables.TableSchema`).
    classes : list
        The original class labels, in the order of the model's class codes.
    card : dict
        Provenance: dataset, task, selector, chosen candidate(s), outer-split scores,
        versions, seeds.
    """

    estimator: object
    feature_columns: list[str]
    schema: dict | None = None
    classes: list = field(default_factory=list)
    card: dict = field(default_factory=dict)

    def features(self, frame: pd.DataFrame, where: str = "the new rows") -> np.ndarray:
        """New rows as the model's X (columns taken by name, encoded as in training)."""
        from shiftlab.data.tables import TableSchema

        # A dataset that was not read from a table: its columns are all numeric.
        schema = (TableSchema.from_dict(self.schema) if self.schema is not None else
                  TableSchema(domain_column="", label_column=None,
                              feature_columns=list(self.feature_columns)))
        return schema.encode_features(frame, where=where)

    def predict_frame(self, frame: pd.DataFrame, where: str = "the new rows") -> pd.DataFrame:
        """Predictions (original class labels) and class probabilities of new rows."""
        X = self.features(frame, where)
        out = pd.DataFrame(index=frame.index)
        codes = np.asarray(self.estimator.predict(X))
        out["prediction"] = self._labels(codes)
        if hasattr(self.estimator, "predict_proba"):
            proba = np.asarray(self.estimator.predict_proba(X))
            for j, code in enumerate(np.asarray(self.estimator.classes_)):
                out[f"proba_{self._labels(np.array([code]))[0]}"] = proba[:, j]
        return out

    def _labels(self, codes: np.ndarray) -> np.ndarray:
        if not self.classes:
            return codes
        names = np.asarray(self.classes, dtype=object)
        return names[codes.astype(np.int64)]


def save_model(model: DeployedModel, path: str | Path) -> tuple[Path, Path]:
    """Write ``model`` to ``path`` (``.skops``) and its card to ``<path stem>.card.md``."""
    import skops.io as sio

    path = Path(path)
    if path.suffix != ".skops":
        path = path.with_suffix(".skops")
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": MODEL_FORMAT,
        "estimator": model.estimator,
        "feature_columns": list(model.feature_columns),
        "schema": json.dumps(model.schema),
        "classes": json.dumps(list(model.classes), default=str),
        "card": json.dumps(model.card, default=str),
    }
    tmp = path.with_name(path.name + ".tmp")
    sio.dump(payload, tmp)
    tmp.replace(path)
    card = path.with_name(path.stem + ".card.md")
    card.write_text(model_card(model), encoding="utf-8")
    return path, card


def load_model(path: str | Path) -> DeployedModel:
    """Read a model written by :func:`save_model` (or ``shiftlab select``).

    Only numpy, scipy, scikit-learn and shiftlab types are loaded; a file naming any
    other type is refused (it could run code), with the types named.
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise DataValidationError(f"No model file at {path}.")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:  # not a zip / not a skops file
        raise DataValidationError(f"{path} is not a shiftlab model file (skops): {exc}") \
            from exc
    foreign = [t for t in untrusted if not t.startswith(TRUSTED_MODULES)]
    if foreign:
        raise ShiftlabError(
            f"{path} holds types outside numpy, scipy, scikit-learn and shiftlab: {foreign}. "
            "Loading it could run their code; it was not written by `shiftlab select`. Load "
            "it with skops.io.load(..., trusted=[...]) only if you trust its author."
        )
    payload = sio.load(path, trusted=untrusted)
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FORMAT:
        raise DataValidationError(
            f"{path} is not a {MODEL_FORMAT} file (format "
            f"{payload.get('format') if isinstance(payload, dict) else None!r})."
        )
    return DeployedModel(
        estimator=payload["estimator"],
        feature_columns=list(payload["feature_columns"]),
        schema=json.loads(payload["schema"]),
        classes=json.loads(payload["classes"]),
        card=json.loads(payload["card"]),
    )


def model_card(model: DeployedModel) -> str:
    """A one-page model card (Markdown) from the model's provenance."""
    c = model.card
    est = c.get("outer_split_estimate") or {}
    lines = [
        f"# Model card: {c.get('dataset')} {c.get('task')}",
        "",
        f"Created {c.get('created')} by shiftlab {c.get('versions', {}).get('shiftlab')} "
        f"(`shiftlab select`). Load it in Python with "
        "`shiftlab.bench.deploy.load_model(path)`; predict with `shiftlab predict`.",
        "",
        "## What it is",
        f"- Selector: **{c.get('selector')}** (selection metric "
        f"{c.get('selection_metric')}), applied to every candidate of the pool "
        f"({c.get('n_candidates')} candidates of {', '.join(c.get('methods', []))}).",
        f"- Chosen: {c.get('chosen')}",
        f"- Fitted on all rows of the task: {c.get('n_source_rows')} labelled source rows "
        f"({', '.join(c.get('sources', []))}) and {c.get('n_target_rows')} unlabelled target "
        f"rows ({c.get('target')}); target labels were not used.",
        f"- Preprocessing (fitted on those rows, without labels): "
        f"{c.get('preprocessing') or 'none'}; base estimator: {c.get('estimator')}.",
        f"- Input: the columns {model.feature_columns}; classes {model.classes}.",
        "",
        "## How well it is expected to do",
    ]
    if est:
        lines += [
            f"The nested protocol of run `{est.get('run_dir')}` scored this selection "
            f"procedure on {est.get('n_outer_splits')} outer splits (target rows it never "
            "saw):",
            "",
            "| metric | min | mean | max | source-only mean |",
            "|---|---|---|---|---|",
        ]
        for metric, row in est.get("metrics", {}).items():
            lines.append(f"| {metric} | {row['min']:.3f} | {row['mean']:.3f} | "
                         f"{row['max']:.3f} | {row.get('source_only_mean', float('nan')):.3f} |")
    else:
        lines.append(f"Not estimated: {c.get('no_estimate_reason', 'no run folder')}. Run "
                     "`shiftlab run` on the same definition first (with this selector in "
                     "`[scorers] pool`) to measure it.")
    lines += [
        "",
        "## Provenance",
        f"- Data: {c.get('data_file') or c.get('dataset')} (sha256 {c.get('data_sha256')})",
        f"- Definition: {c.get('definition')} (digest {c.get('definition_digest')})",
        f"- Seed: {c.get('seed')}; inner splits: {c.get('inner_splits')}",
        f"- Versions: {json.dumps(c.get('versions', {}))}",
        "",
        "## Limits",
        "- The estimate holds for target rows drawn like the target rows it was measured "
        "on; a new shift (another site, season, sensor) needs a new selection.",
        "- Selection is label-free: it can pick a worse model than the best one; the "
        "outer-split range above is what the procedure achieved where labels were known.",
    ]
    return "\n".join(lines) + "\n"


def _outer_estimate(run_dir: Path, dataset: str, task: str, selector: str,
                    digest: str) -> dict:
    """The run's test scores of ``shiftlab: <selector>`` on the task's outer splits."""
    from shiftlab.bench.store import RunStore
    from shiftlab.selection._table import (
        BASELINE_SCORER,
        POOL_METHOD_PREFIX,
        SOURCE_ONLY,
        result_roles,
    )

    store = RunStore(run_dir)
    if not store.exists():
        return {"reason": f"no run folder at {run_dir}"}
    results = store.results()
    if results.empty:
        return {"reason": f"the run folder {run_dir} has no results"}
    ours = results["definition_digest"] == digest
    if not ours.any():
        return {"reason": f"the run folder {run_dir} holds results of another definition "
                          "(another digest): run this definition there first"}
    results = results[ours]
    rows = results[(results["dataset"] == dataset) & (results["task"] == task)
                   & results["selected"].astype(bool)]
    mine = rows[rows["method"] == f"{POOL_METHOD_PREFIX}{selector}"]
    if mine.empty:
        return {"reason": f"run {run_dir} has no `shiftlab: {selector}` rows for {dataset} "
                          f"{task} (add {selector!r} to [scorers] pool and run it)"}
    # The source-only baseline's own rows (not the SourceOnly candidate's scorer rows).
    baseline = (result_roles(rows) == SOURCE_ONLY) & (rows["scorer"] == BASELINE_SCORER)
    source = rows[baseline].drop_duplicates("outer_split")
    mine = mine.drop_duplicates("outer_split")
    metrics = {}
    for metric in ("test_accuracy", "test_balanced_accuracy", "test_roc_auc"):
        values = mine[metric].astype(float).dropna()
        if values.empty:
            continue
        metrics[metric] = {"min": float(values.min()), "mean": float(values.mean()),
                           "max": float(values.max())}
        if not source.empty:
            metrics[metric]["source_only_mean"] = float(source[metric].astype(float).mean())
    return {"run_dir": str(run_dir), "n_outer_splits": int(len(mine)), "metrics": metrics}


def _pick(spec_names: list[str], given: str | None, what: str, flag: str) -> str:
    if given is not None:
        if given not in spec_names:
            from shiftlab.exceptions import unknown_name

            raise unknown_name(what, given, spec_names)
        return given
    if len(spec_names) != 1:
        raise DataValidationError(f"The definition has several {what}s {spec_names}; name "
                                  f"one with {flag}.")
    return spec_names[0]


def select_model(
    definition: str | Path,
    *,
    dataset: str | None = None,
    task: str | None = None,
    selector: str | None = None,
    run_dir: str | Path | None = None,
) -> DeployedModel:
    """Select on all rows of a task with a definition's pool, and fit the choice.

    Parameters
    ----------
    definition : path
        A benchmark definition (its datasets, methods and grids, base estimator,
        preprocessing, scorers and selection metric, protocol seed and inner splits).
    dataset, task : str, optional
        Which of its datasets and tasks (needed when it has several). The task's
        target rows are used without their labels, which may be absent.
    selector : str, optional
        A realistic scorer or pool selector (``EnsV``, ``Average``, ``IWA``, ``safe``,
        ``zconsensus``, ``IW``...); default: the first of ``[scorers] pool``.
    run_dir : path, optional
        The run folder of ``shiftlab run`` on this definition (default
        ``shiftlab-runs/<name>``), read for the outer-split estimate of the card.

    Returns
    -------
    DeployedModel
    """
    from shiftlab.bench.datasets import load_spec
    from shiftlab.bench.definition import POOL_ONLY_SCORERS, load_definition
    from shiftlab.bench.jobs import job_base_estimator, preprocessing_step
    from shiftlab.bench.planner import job_scorer, pooled, template_job, version_info
    from shiftlab.data.convention import is_masked
    from shiftlab.data.dataset import Task
    from shiftlab.selection import DomainSearchCV, get_scorer, method_pool
    from shiftlab.selection.splitters import StratifiedDomainShuffleSplit

    defn = load_definition(definition, keep_unlabelled=True)
    spec = next(d for d in defn.datasets
                if d.name == _pick([d.name for d in defn.datasets], dataset, "dataset",
                                   "--dataset"))
    ds = load_spec(spec, random_state=defn.protocol.seed)
    tasks = list(spec.tasks) if spec.tasks else [t.name for t in ds.tasks()]
    if task is None:
        task = _pick(tasks, None, "task", "--task")
    parsed = Task.parse(task)
    ds.task(parsed.sources, parsed.target)  # unknown domains: a clear error
    X, y, sd = ds.pack(parsed, mask_target=True)
    unlabelled = (sd >= 0) & is_masked(y, ds.label_kind)
    if unlabelled.any():
        warnings.warn(f"{int(unlabelled.sum())} source rows have no label; they are left "
                      "out of the selection.", UserWarning, stacklevel=2)
        X, y, sd = X[~unlabelled], y[~unlabelled], sd[~unlabelled]

    realistic = [s for s in defn.scorers if not get_scorer(s).uses_target_labels
                 and s not in POOL_ONLY_SCORERS]
    if selector is None:
        if not defn.pool:
            raise DataValidationError(
                "Name the selector (--selector, e.g. EnsV, Average, IWA, safe), or give the "
                "definition a [scorers] pool."
            )
        selector = defn.pool[0]
    scorer = get_scorer(selector)
    if scorer.uses_target_labels:
        raise DataValidationError("The oracle reads target labels; a deployed model is "
                                  "selected with a realistic selector (e.g. EnsV, IWA).")
    names = list(dict.fromkeys([*realistic, selector]))
    scorers = [job_scorer(n, defn.selection_metric, ds.label_kind) for n in names]

    # The methods of the run's pools (capped methods are left out, as there).
    methods = {m.name: m.on_dataset(spec.name).grid for m in defn.methods if pooled(m)}
    if not methods:
        raise DataValidationError("The definition has no shallow method to select among "
                                  "(capped methods, max_samples_per_domain, are left out).")
    digest = defn.digest()
    template = template_job(defn, spec, task, 0, digest, method=defn.methods[0])
    base = job_base_estimator(template)
    estimator = base.build()
    pipe, grids = method_pool(methods, estimator, standardize=base.standardize,
                              random_state=defn.protocol.seed,
                              preprocessing=preprocessing_step(template))
    inner = StratifiedDomainShuffleSplit(n_splits=defn.protocol.inner_splits,
                                         test_size=defn.protocol.inner_val_size,
                                         random_state=defn.protocol.seed)
    aggregation = getattr(scorer, "is_aggregation", False)
    search = DomainSearchCV(pipe, grids, scorers=scorers, cv=None, inner_cv=inner,
                            refit=selector, refit_candidates="all" if aggregation
                            else "selected", random_state=defn.protocol.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        search.fit(X, y, sd)

    final = search.final_search_
    methods_of = final.candidate_methods()
    if aggregation:
        weights = np.nan_to_num(final.aggregations[selector][1])
        used = np.flatnonzero(weights)
        chosen_text = (f"weighted ensemble of {used.size} candidates: " + "; ".join(
            f"{_candidate_text(methods_of[c], search.candidates_[c])} x {weights[c]:.4g}"
            for c in used))
    else:
        c = final.selected[selector]
        chosen_text = _candidate_text(methods_of[c], search.candidates_[c])

    run_dir = Path(run_dir) if run_dir is not None else Path("shiftlab-runs") / defn.name
    estimate = _outer_estimate(run_dir, spec.name, task, selector, digest)
    prep = spec.preprocessing
    card = {
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "dataset": spec.name, "task": task, "sources": list(parsed.sources),
        "target": parsed.target, "selector": selector,
        "selection_metric": defn.selection_metric, "scorers": names,
        "methods": ["SourceOnly", *methods], "n_candidates": len(search.candidates_),
        "chosen": chosen_text, "n_source_rows": int((sd >= 0).sum()),
        "n_target_rows": int((sd < 0).sum()), "preprocessing": prep,
        "estimator": {"name": base.name, "params": base.params,
                      "standardize": base.standardize},
        "seed": defn.protocol.seed, "inner_splits": defn.protocol.inner_splits,
        "definition": str(definition), "definition_digest": digest,
        "data_file": spec.file, "data_sha256": spec.file_sha256 or None,
        "versions": {**version_info(), "skops": _skops_version()},
    }
    if "reason" in estimate:
        card["no_estimate_reason"] = estimate["reason"]
    else:
        card["outer_split_estimate"] = estimate
    schema = ds.metadata.get("schema")
    features = list(ds.feature_names) if ds.feature_names is not None else \
        [f"x{j}" for j in range(ds.n_features)]
    classes = (schema or {}).get("classes") or (list(ds.target_names)
                                                if ds.target_names is not None else [])
    return DeployedModel(estimator=search.best_estimator_, feature_columns=features,
                         schema=schema, classes=classes, card=card)


def _candidate_text(method: str, params: dict) -> str:
    """``"KMM {'gamma': 0.1}"``: a pool candidate's method and its own parameters."""
    own = {k.partition("__")[2]: v for k, v in params.items() if "__" in k}
    return f"{method} {own}" if own else method


def _skops_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("skops")
