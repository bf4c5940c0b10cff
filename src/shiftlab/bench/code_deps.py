"""Which shiftlab source files a result depends on, and their hash (cache keys).

A benchmark job's cache key must change when, and only when, code that ran to produce it
changes (benchopt keys its cache the same way). Hashing whole packages is wrong both ways:
too little (a helper module a method imports goes unseen) and too much (a docstring in a
scorer invalidates every method's results). :func:`source_files` instead follows the
objects a piece of code really reaches:

* a class: its own file, its shiftlab base classes, and everything its methods, class
  attributes and properties reach;
* a function: its own file, then every global name its byte code reads (nested functions
  and lambdas included), the defaults it was given and the cells it closes over. A name
  bound to a shiftlab function or class is followed object by object (so ``CORAL`` does
  not depend on the optimal-transport helpers that its module imports for other
  classes); a name bound to a shiftlab module (``from shiftlab.methods import _ot``), or
  to a constant imported from one, or an ``import`` statement inside the function, pulls
  in that module with everything it imports (read from its source, transitively).

Modules listed in ``exclude`` are not followed: the caller says what is not part of a
result (scorers, for a job's key: they are rescored from the stored records).
"""

from __future__ import annotations

import ast
import dis
import functools
import hashlib
import importlib.util
import inspect
import sys
import types
from collections.abc import Iterable
from pathlib import Path

__all__ = ["hash_files", "source_files"]

_PACKAGE = "shiftlab"
_ROOT = Path(__file__).resolve().parents[1]


def _in_package(module_name: str | None) -> bool:
    return isinstance(module_name, str) and (
        module_name == _PACKAGE or module_name.startswith(_PACKAGE + ".")
    )


def _excluded(module_name: str, exclude: frozenset[str]) -> bool:
    return any(module_name == e or module_name.startswith(e + ".") for e in exclude)


@functools.cache
def _module_file(module_name: str) -> str | None:
    module = sys.modules.get(module_name)
    if module is not None:
        return getattr(module, "__file__", None)
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        return None
    return spec.origin if spec is not None and spec.has_location else None


@functools.cache
def _static_imports(module_name: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """A module's shiftlab imports, read from its source.

    Returns the names it binds to objects of other shiftlab modules (``from m import x``:
    ``{"x": "m"}``, or ``"m.x"`` when ``x`` is a submodule) and every shiftlab module it
    imports anywhere (module level or inside functions).
    """
    path = _module_file(module_name)
    if path is None or not path.endswith(".py"):
        return {}, ()
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    is_package = path.endswith("__init__.py")
    package = module_name if is_package else module_name.rpartition(".")[0]
    bound: dict[str, str] = {}
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if _in_package(a.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            if not _in_package(base):
                continue
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if _module_file(sub) is not None else base
                modules.add(target)
                if node.col_offset == 0:  # a module-level binding
                    bound[alias.asname or alias.name] = target
    return bound, tuple(sorted(modules))


def _code_objects(code: types.CodeType) -> Iterable[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


def _imported_in(code: types.CodeType) -> Iterable[str]:
    """Modules that ``import`` statements inside a function load (lazy imports).

    ``from shiftlab.m import x`` is an IMPORT_NAME of ``shiftlab.m`` followed by an
    IMPORT_FROM of ``x``, which names a submodule when ``shiftlab.m.x`` is one.
    """
    current = None
    for instr in dis.get_instructions(code):
        if instr.opname == "IMPORT_NAME":
            current = instr.argval if _in_package(instr.argval) else None
            if current is not None:
                yield current
        elif instr.opname == "IMPORT_FROM" and current is not None:
            sub = f"{current}.{instr.argval}"
            if _module_file(sub) is not None:
                yield sub


def _unwrap(value):
    """The functions behind a class attribute (methods, properties, static methods)."""
    if isinstance(value, staticmethod | classmethod):
        return [value.__func__]
    if isinstance(value, property):
        return [f for f in (value.fget, value.fset, value.fdel) if f is not None]
    if isinstance(value, functools.partial):
        return [value.func, *value.args, *value.keywords.values()]
    return [value]


def source_files(*roots, exclude: Iterable[str] = ()) -> set[str]:
    """Source files of the shiftlab code reachable from ``roots`` (see the module doc).

    Parameters
    ----------
    *roots : classes, functions or modules
        Where the code starts; objects outside shiftlab are ignored.
    exclude : iterable of str
        Module names (packages include their submodules) not to follow.

    Returns
    -------
    set of str
        Absolute paths of ``.py`` files.
    """
    exclude = frozenset(exclude)
    files: set[str] = set()
    seen_objects: set[int] = set()
    seen_modules: set[str] = set()
    keep_alive = []  # ids stay unique only while the objects live
    stack = list(roots)

    def add_module(name: str) -> None:
        if name in seen_modules or not _in_package(name) or _excluded(name, exclude):
            return
        seen_modules.add(name)
        path = _module_file(name)
        if path is not None:
            files.add(path)
        for other in _static_imports(name)[1]:
            add_module(other)

    while stack:
        obj = stack.pop()
        if id(obj) in seen_objects:
            continue
        seen_objects.add(id(obj))
        keep_alive.append(obj)
        if inspect.ismodule(obj):
            add_module(obj.__name__)
            continue
        if inspect.isclass(obj):
            module = obj.__module__
            if not _in_package(module) or _excluded(module, exclude):
                continue
            path = _module_file(module)
            if path is not None:
                files.add(path)
            stack.extend(k for k in obj.__mro__[1:] if _in_package(k.__module__))
            for value in vars(obj).values():
                stack.extend(_unwrap(value))
            continue
        if isinstance(obj, types.MethodType):
            obj = obj.__func__
        if not isinstance(obj, types.FunctionType):
            continue
        module = obj.__module__
        if not _in_package(module) or _excluded(module, exclude):
            continue
        files.add(obj.__code__.co_filename)
        bound, _ = _static_imports(module)
        stack.extend(obj.__defaults__ or ())
        stack.extend((obj.__kwdefaults__ or {}).values())
        for cell in obj.__closure__ or ():
            try:
                stack.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        for code in _code_objects(obj.__code__):
            for name in code.co_names:
                if name not in obj.__globals__:
                    continue
                value = obj.__globals__[name]
                if inspect.ismodule(value) or inspect.isclass(value) or callable(value):
                    stack.append(value)
                if _in_package(type(value).__module__):  # an instance: follow its class
                    stack.append(type(value))
                elif name in bound and not callable(value):  # a constant from elsewhere
                    add_module(bound[name])
            for imported in _imported_in(code):
                add_module(imported)
    # Generated code (dataclass methods, ``exec``) names files outside the package.
    return {f for f in files if f.endswith(".py") and _under_package(f)}


def _under_package(path: str) -> bool:
    return Path(path).resolve().is_relative_to(_ROOT)


def hash_files(files: Iterable[str]) -> str:
    """A short hash of files' contents and their paths inside the shiftlab package."""
    digest = hashlib.sha256()
    for path in sorted(files, key=lambda p: _relative(p)):
        digest.update(_relative(path).encode())
        digest.update(hashlib.sha256(Path(path).read_bytes()).digest())
    return digest.hexdigest()[:16]


def _relative(path: str) -> str:
    try:
        return Path(path).resolve().relative_to(_ROOT).as_posix()
    except ValueError:
        return Path(path).name
