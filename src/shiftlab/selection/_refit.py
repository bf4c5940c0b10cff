"""Derived fits a scorer needs, each run once: circular validation's backward models.

A scorer that needs a fit of its own asks for it with a :class:`RefitRequest`; the search
runs the requests of every record through one :class:`FitCache` per outer split, which
keeps their predictions by key, so adding the scorer again (or a variant sharing its
``refit_key``) fits nothing. Requests that fit on the same rows (``rows_key``) share what
the estimator's runner can share between them (:mod:`shiftlab.selection._fastpath`).

Both classes are re-exported by :mod:`shiftlab.selection.records`, their module until the
split of that module: stored run folders pickled them under that path, and still load.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from shiftlab.selection._fastpath import CandidateRunner, RowSet, runner_for

__all__ = ["FitCache", "RefitRequest"]


@dataclass
class RefitRequest:
    """A derived fit a scorer needs (circular validation's backward model).

    The search executes it once per ``key`` (cached) and returns the predictions of the
    fitted model on ``X_predict``.
    """

    key: tuple
    params: dict
    X_fit: np.ndarray
    y_fit: np.ndarray
    sample_domain_fit: np.ndarray
    X_predict: np.ndarray
    sample_domain_predict: np.ndarray
    constant: Any = None  # when set, skip the fit: the model predicts this constant
    #: Requests with the same ``rows_key`` fit on the same rows and predict the same
    #: rows (labels may differ): their label-free leading steps are fitted once.
    rows_key: Any = None


class FitCache:
    """Cache of derived fits' predictions, keyed by :attr:`RefitRequest.key`.

    ``n_fits`` counts the fits actually run (a cache hit runs none).
    """

    def __init__(self):
        self._store: dict = {}
        self.n_fits = 0

    def __contains__(self, key) -> bool:
        return key in self._store

    def __getitem__(self, key):
        return self._store[key]

    def __len__(self) -> int:
        return len(self._store)

    def run(self, estimator, requests, n_jobs=None) -> None:
        """Execute the requests whose key is not cached yet (in parallel with joblib)."""
        from joblib import Parallel, delayed

        todo, seen = [], set()
        for r in requests:
            if r.key not in self._store and r.key not in seen:
                seen.add(r.key)
                todo.append(r)
        if not todo:
            return
        runner = runner_for(estimator)
        rows = _request_rows(runner, todo)
        outs = Parallel(n_jobs=n_jobs)(
            delayed(_run_refit)(runner, r, rs) for r, rs in zip(todo, rows, strict=True)
        )
        for r, out in zip(todo, outs, strict=True):
            self._store[r.key] = out
            self.n_fits += r.constant is None


def _request_rows(runner: CandidateRunner, requests) -> list[RowSet | None]:
    """The rows each request fits on (``None`` for a constant): one :class:`RowSet` per
    ``rows_key``, whose shared parts are fitted here, once, before the fits go to joblib's
    workers."""
    shared: dict = {}
    out = []
    for r in requests:
        if r.constant is not None:
            out.append(None)
            continue
        rows = RowSet(r.X_fit, r.y_fit, r.sample_domain_fit,
                      {"predict": (r.X_predict, r.sample_domain_predict)})
        if r.rows_key is not None:
            rows = shared.setdefault(r.rows_key, rows)
            runner.prepare(r.params, rows)
        out.append(rows)
    return out


def _run_refit(runner: CandidateRunner, request: RefitRequest, rows: RowSet | None):
    if request.constant is not None:
        return np.full(len(request.X_predict), request.constant)
    model = runner.candidate(request.params)
    try:
        fitted = runner.fit(model, request.params, rows, y=request.y_fit,
                            share=request.rows_key is not None)
        pred = runner.outputs(fitted, ("predict",), features=False)["predict"]["predict"]
        return np.asarray(pred)
    except Exception as exc:  # a failed backward fit scores NaN, like a failed candidate
        warnings.warn(f"Derived refit {request.key} failed: {exc!r}", stacklevel=2)
        return None
