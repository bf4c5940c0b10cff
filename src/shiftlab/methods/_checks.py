"""Parameter checks shared by the shallow methods (raised at ``fit``, per the estimator
contract), with messages that name the parameter, the accepted values and the value got.

Every registered method also declares scikit-learn's ``_parameter_constraints`` (checked
by ``_validate_params()`` at the start of ``fit``, and by benchmark definitions before any
job runs); the constraint pieces its classes share are defined here. They state the type
and range of each parameter; the checks below stay for what constraints cannot say
(booleans passed as numbers, relations between parameters, data-dependent limits).
"""

from __future__ import annotations

import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

# ----------------------------------------------------------- parameter constraints
#: A number > 0 (a kernel width, an entropic regularisation, a weight bound).
POSITIVE = Interval(Real, 0, None, closed="neither")
#: A number >= 0 (a penalty weight, a tolerance).
NON_NEGATIVE = Interval(Real, 0, None, closed="left")
#: A number in [0, 1] (a shrinkage, a trade-off).
UNIT = Interval(Real, 0, 1, closed="both")
#: ``approx="auto" | True | False`` (see :func:`use_approx`).
APPROX = [StrOptions({"auto"}), "boolean"]
MULTI_SOURCE = [StrOptions({"pooled", "per_domain"})]
#: A kernel width as :func:`shiftlab.methods._kernels.resolve_gamma` understands it.
GAMMA = [POSITIVE, StrOptions({"auto", "scale", "median"}), None]
#: A scikit-learn estimator (or None for the method's default). What else it must have
#: (predict_proba, decision_function, sample_weight) is checked at fit, whose messages
#: say which estimators fit.
ESTIMATOR = [HasMethods(["fit"]), None]


def at_least(minimum: int) -> Interval:
    """An integer >= ``minimum`` (a count, a size, an iteration cap)."""
    return Interval(Integral, minimum, None, closed="left")


def _matches(value, allowed) -> bool:
    # Booleans match booleans only (1 is not True, "auto" is not 1); other values match
    # by identity (None) or by equality within the same type.
    if value is allowed:
        return True
    if isinstance(allowed, bool) or isinstance(value, bool | np.bool_):
        return isinstance(allowed, bool) and isinstance(value, bool | np.bool_) and (
            bool(value) == allowed)
    return isinstance(value, type(allowed)) and value == allowed


def check_choice(name, value, allowed):
    """Return ``value`` if it is one of ``allowed``, else raise a ValueError listing them."""
    if not any(_matches(value, a) for a in allowed):
        raise ValueError(f"{name} must be one of {list(allowed)!r}, got {value!r}.")
    return value


def check_real(name, value, *, low=None, high=None, strict=False, allow_none=False):
    """Return ``float(value)`` for a finite real number within the bounds (or None if
    allowed), else raise. ``low`` is exclusive when ``strict`` (e.g. a regularisation
    that must be positive), inclusive otherwise; ``high`` is inclusive."""
    if value is None and allow_none:
        return None
    ok = (isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
          and bool(np.isfinite(value)))
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = ([f"{'>' if strict else '>='} {low}"] if low is not None else []) + (
            [f"<= {high}"] if high is not None else [])
        what = " ".join(["a finite number", " and ".join(bounds)]).strip()
        none = " or None" if allow_none else ""
        raise ValueError(f"{name} must be {what}{none}, got {value!r}.")
    return float(value)


def check_int(name, value, minimum=1, *, allow_none=False):
    """Return ``int(value)`` for an integer ``>= minimum`` (or None if allowed), else raise."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        what = f"an integer >= {minimum}" + (" or None" if allow_none else "")
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return int(value)


def use_approx(approx, max_exact_samples, *sizes) -> bool:
    """Resolve ``approx="auto" | True | False``: "auto" approximates when a size exceeds
    ``max_exact_samples`` (the documented, user-settable threshold)."""
    check_choice("approx", approx, ("auto", True, False))
    check_int("max_exact_samples", max_exact_samples)
    if isinstance(approx, str):
        return max(sizes) > max_exact_samples
    return bool(approx)
