"""Exceptions raised by shiftlab.

Every error a user can trigger with bad input derives from :class:`ShiftlabError`
and its message names the problem *and* the fix. The classes also derive from the
matching built-in (``ValueError``, ``KeyError``, ...) so that generic handlers and
scikit-learn's own checks keep working. Warnings about results a user should not trust
as they are (:class:`DegeneratePriorWarning`, :class:`MaskedTargetLabelsWarning`) are
``UserWarning`` subclasses, so that they can be filtered one by one.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "AllCandidatesFailedError",
    "ChecksumError",
    "DataValidationError",
    "DatasetNotAvailableError",
    "DegeneratePriorWarning",
    "DownloadError",
    "MaskedTargetLabelsWarning",
    "MissingOutputsError",
    "ShiftlabError",
    "TargetLabelLeakError",
    "UnknownNameError",
    "UnknownParameterError",
    "suggest",
]


class ShiftlabError(Exception):
    """Base class of every error raised on purpose by shiftlab."""


class DataValidationError(ShiftlabError, ValueError):
    """Arrays given to shiftlab do not follow the domain data convention."""


class MissingOutputsError(DataValidationError):
    """A scorer added to a finished search reads outputs its records did not keep
    (``transform`` features, decision values); the search must run again with it."""


class TargetLabelLeakError(DataValidationError):
    """Target labels are visible where they must be hidden (masked)."""


class AllCandidatesFailedError(ShiftlabError, ValueError):
    """Every candidate of a model selection failed to fit on every inner split.

    No score exists, so no candidate can be selected; the message gives the first
    candidate's parameters and error (as scikit-learn's "All the N fits failed").
    """


class UnknownNameError(ShiftlabError, KeyError):
    """A name (domain, dataset, method, scorer, ...) that does not exist.

    ``KeyError`` quotes its message with ``repr``; ``__str__`` is overridden so
    the message reads as plain text.
    """

    def __str__(self) -> str:  # pragma: no cover - trivial
        return str(self.args[0]) if self.args else ""


class UnknownParameterError(ShiftlabError, TypeError, ValueError):
    """A parameter name that the method (or other object) does not accept.

    Also a ``TypeError`` (what Python raises for an unexpected keyword argument) and a
    ``ValueError`` (as scikit-learn's ``InvalidParameterError``).
    """


class DatasetNotAvailableError(ShiftlabError, FileNotFoundError):
    """Dataset files are neither in the data home nor downloadable."""


class DownloadError(ShiftlabError, OSError):
    """A download failed (network unreachable, HTTP error, ...)."""


class ChecksumError(ShiftlabError, OSError):
    """A file's sha256 sum differs from the one recorded in the catalog."""


class DegeneratePriorWarning(UserWarning):
    """A label-shift estimator's target class prior is on the boundary of the simplex.

    Some class is estimated at (about) zero, so its source rows get (about) zero weight
    and prior-corrected probabilities never predict it. Unless the target really lacks
    that class, this usually means a poorly calibrated classifier, or a shift that is not
    label shift.
    """


class MaskedTargetLabelsWarning(UserWarning):
    """The target labels a model selection was given are masked, so its test metrics
    (target accuracy, ...) cannot be computed and are NaN. Selection itself never reads
    target labels and still works."""


def suggest(name: str, choices: Iterable[str]) -> str:
    """Return a " Did you mean 'x'?" hint for ``name`` among ``choices`` (or "").

    Matching is case-insensitive; the original spelling of the choice is returned.
    """
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(name).lower(), list(lowered), n=1, cutoff=0.5)
    return f" Did you mean {lowered[close[0]]!r}?" if close else ""


def unknown_name(kind: str, name: str, choices: Iterable[str]) -> UnknownNameError:
    """Build the standard "unknown <kind>" error with a suggestion and the valid names."""
    choices = sorted(choices)
    return UnknownNameError(
        f"Unknown {kind} {name!r}.{suggest(name, choices)} Valid {kind}s: {', '.join(choices)}."
    )
