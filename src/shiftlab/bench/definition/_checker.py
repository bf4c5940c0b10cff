"""The checker that turns a definition's mistakes into :class:`DefinitionError`
messages (with the line they are on), and the small value tests its checks share."""

from __future__ import annotations

import math
import re

from shiftlab.bench.definition._spec import (
    DefinitionError,
)
from shiftlab.exceptions import suggest


class _Checker:
    """Collects context (file, text) to produce located error messages."""

    def __init__(self, text: str, source: str):
        self.text = text
        self.source = source
        #: Keep a table's rows without a label (see :func:`load_definition`).
        self.keep_unlabelled = False

    def line_of(self, *tokens: str, start: int = 0) -> int | None:
        """First line holding a token, searched from line ``start`` (0-based) first."""
        lines = self.text.splitlines()
        for first in dict.fromkeys((start, 0)):
            for token in tokens:
                if not token:
                    continue
                # A key must not match inside a longer one ("timeout" in
                # "dask_no_worker_timeout"): a token starting with a word character
                # starts a word.
                bound = r"(?<![\w-])" if re.match(r"\w", token) else ""
                pattern = re.compile(bound + re.escape(token))
                for i in range(first, len(lines)):
                    if pattern.search(lines[i].split("#", 1)[0]):
                        return i + 1
        return None

    def _section_start(self, where: str) -> int:
        """0-based line where the table an error is about begins (0 when not found)."""
        lines = [line.split("#", 1)[0].strip() for line in self.text.splitlines()]
        match = re.match(r"datasets #(\d+)", where)
        if match:
            starts = [i for i, line in enumerate(lines) if line == "[[datasets]]"]
            n = int(match.group(1))
            return starts[n - 1] if len(starts) >= n else 0
        match = re.match(r"methods\.([^.]+)", where)
        if match:
            heads = {f"[methods.{match.group(1)}]", f'[methods."{match.group(1)}"]'}
            return next((i for i, line in enumerate(lines) if line in heads), 0)
        match = re.match(r"(benchmark|protocol|estimator|scorers|execution)\b", where)
        if match:
            head = f"[{match.group(1)}]"
            return next((i for i, line in enumerate(lines) if line == head), 0)
        return 0

    def fail(self, where: str, message: str, *tokens: str) -> DefinitionError:
        line = self.line_of(*tokens, start=self._section_start(where))
        loc = f"{self.source}:{line}" if line else self.source
        return DefinitionError(f"{loc}: [{where}] {message}")

    def table(self, data: dict, key: str, where: str) -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(where, f"'{key}' must be a table, got {type(value).__name__}.", key)
        return value

    def only_keys(self, data: dict, allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    where,
                    f"unknown key {key!r}.{suggest(key, allowed)} "
                    f"Allowed: {', '.join(sorted(allowed))}.",
                    key,
                )


def _key(name: str) -> tuple[str, ...]:
    """Tokens that locate ``name = ...`` in the text (the assignment first)."""
    return f"{name} =", f"{name}=", name


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    """A finite int or float (TOML also has inf and nan, which no setting takes)."""
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _shown(value) -> str:
    """A value with its TOML type, for "got ..." messages."""
    kinds = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             list: "an array", dict: "a table"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"{value!r} ({kind})"


def _require(chk: _Checker, ok: bool, where: str, key: str, expected: str, value) -> None:
    if not ok:
        raise chk.fail(where, f"{key} must be {expected}, got {_shown(value)}.", *_key(key))


#: What a benchmark name may hold: it names a folder (``shiftlab-runs/NAME``).
