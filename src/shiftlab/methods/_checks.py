"""Parameter checks shared by the shallow methods (raised at ``fit``, per the estimator
contract), with messages that name the parameter, the accepted values and the value got."""

from __future__ import annotations

import numbers

import numpy as np


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
