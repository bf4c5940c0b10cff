"""Import guard for the optional torch dependency.

Everything in :mod:`shiftlab.deep` imports torch through :func:`require_torch`, so a
missing torch gives one clear message instead of a bare ``ModuleNotFoundError`` from
deep inside a module.
"""

from __future__ import annotations

__all__ = ["INSTALL_HINT", "require_torch"]

INSTALL_HINT = (
    "shiftlab.deep needs PyTorch, an optional dependency. Install it with "
    "pip install 'shiftlab[deep]' (torch==2.13.0 first, e.g. pip install torch==2.13.0)."
)


def require_torch():
    """Return the ``torch`` module, or raise ImportError with the install command."""
    try:
        import torch
    except ImportError as exc:  # ModuleNotFoundError or a broken install
        raise ImportError(f"{INSTALL_HINT} (import failed: {exc})") from exc
    return torch
