"""What the generators share: the shift names, argument checks, seeding and the
integer allocation of samples to mixture components."""

from __future__ import annotations

import math
import numbers

import numpy as np

from shiftlab.exceptions import DataValidationError, suggest

#: Canonical names of the simulated shifts.
SHIFT_KINDS = ("covariate", "target", "conditional", "subspace")

# skada's spellings (and the older "concept_drift", the name SKADA-Bench's config uses
# for the conditional shift) are accepted so that configs written for skada work here.
_SHIFT_ALIASES = {
    "covariate": "covariate",
    "covariate_shift": "covariate",
    "target": "target",
    "target_shift": "target",
    "label": "target",
    "label_shift": "target",
    "prior_shift": "target",
    "conditional": "conditional",
    "conditional_shift": "conditional",
    "concept_drift": "conditional",
    "subspace": "subspace",
    "subspace_shift": "subspace",
}


# Length of the covariate-shift tilt vector per unit of strength, in cluster stds: at
# strength 1 a linear source-only model is about 0.1 accuracy below a target-trained one.
_TILT = 2.0


# --------------------------------------------------------------------------- helpers
def _canonical_shift(shift) -> str:
    if not isinstance(shift, str):
        raise DataValidationError(
            f"shift must be a string, got {type(shift).__name__}. "
            f"Use one of {', '.join(SHIFT_KINDS)}."
        )
    key = shift.strip().lower().replace("-", "_").replace(" ", "_")
    if key not in _SHIFT_ALIASES:
        raise DataValidationError(
            f"Unknown shift {shift!r}.{suggest(key, _SHIFT_ALIASES)} "
            f"Use one of {', '.join(SHIFT_KINDS)} (skada spellings such as "
            "'covariate_shift' are accepted too)."
        )
    return _SHIFT_ALIASES[key]


def _make_rng(random_state) -> np.random.Generator:
    """Turn ``random_state`` into a :class:`numpy.random.Generator`."""
    if random_state is None or isinstance(random_state, (numbers.Integral, np.integer)):
        if random_state is not None and int(random_state) < 0:
            raise DataValidationError(
                f"random_state must be a non-negative int, got {random_state}."
            )
        return np.random.default_rng(None if random_state is None else int(random_state))
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        # Derive a Generator from the legacy state so that old-style callers stay seeded.
        return np.random.default_rng(random_state.randint(0, 2**31 - 1, size=4))
    raise DataValidationError(
        f"random_state must be None, an int or a numpy.random.Generator, got "
        f"{type(random_state).__name__}."
    )


def _seed_record(random_state):
    """What to store as the seed in metadata (an int, or a note that none was fixed)."""
    if isinstance(random_state, (numbers.Integral, np.integer)):
        return int(random_state)
    if random_state is None:
        return None
    return f"<{type(random_state).__name__}>"


def _check_count(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise DataValidationError(f"{name} must be an int, got {value!r}.")
    if int(value) < minimum:
        raise DataValidationError(
            f"{name}={value} is too small; it must be at least {minimum} (for sample "
            "sizes: enough to hold every class)."
        )
    return int(value)


def _check_real(name: str, value, *, low=None, high=None, low_open=False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DataValidationError(f"{name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise DataValidationError(f"{name} must be finite, got {value}.")
    if low is not None and (value < low or (low_open and value == low)):
        op = ">" if low_open else ">="
        raise DataValidationError(f"{name} must be {op} {low}, got {value}.")
    if high is not None and value > high:
        raise DataValidationError(f"{name} must be <= {high}, got {value}.")
    return value


def _check_noise(noise, default: float) -> tuple[float, float]:
    """Noise std for (source, target): 'auto', None, a float or a pair."""
    if isinstance(noise, str):
        if noise != "auto":
            raise DataValidationError(
                f"noise must be 'auto', None, a float or a (source, target) pair; got {noise!r}."
            )
        return default, default
    if noise is None:
        return 0.0, 0.0
    if isinstance(noise, numbers.Real) and not isinstance(noise, bool):
        v = _check_real("noise", noise, low=0.0)
        return v, v
    try:
        pair = tuple(noise)
    except TypeError:
        pair = ()
    if len(pair) != 2:
        raise DataValidationError(
            f"noise must be 'auto', None, a float or a (source, target) pair; got {noise!r}."
        )
    return _check_real("noise[0]", pair[0], low=0.0), _check_real("noise[1]", pair[1], low=0.0)


def _allocate(n: int, weights) -> np.ndarray:
    """Split ``n`` into integer counts proportional to ``weights`` (largest remainder).

    Deterministic, so that every component with a fair share gets it; component
    proportions are then exact up to rounding rather than multinomial.
    """
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    raw = n * w
    counts = np.floor(raw).astype(np.int64)
    short = n - int(counts.sum())
    if short:
        # Ties broken by position, which keeps the function deterministic.
        order = np.argsort(-(raw - counts), kind="stable")
        counts[order[:short]] += 1
    return counts


def _unit(rng, d: int) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)
