"""Lazy factories: a registry entry's factory named ``"module:qualname"``, imported when first used.

Listing the registry must not import torch (1.5 s here) just to show ``torch.optim.Adam``'s defaults. So an
entry may name its factory (``optimizer("adam", "torch.optim:Adam", ...)``); :class:`LazyFactory` imports it
on the first call, or when something asks ``inspect.signature`` for it (it exposes the real factory as
``__wrapped__``, which ``inspect`` follows).

:func:`signature` is how entries read their defaults. For a lazy factory it reads the signature from the
source file without running any of it: the module's file is located without importing its packages
(``torch/optim/__init__.py`` is parsed, not executed), re-exports (``from torch.optim.adam import Adam``)
are followed, and the ``def`` (or the class's own ``__init__``, less ``self``) is parsed with :mod:`ast`;
defaults must be literals (``ast.literal_eval``). Anything it cannot be sure of (a decorator, a metaclass
keyword, a name bound twice, a class without its own ``__init__`` or with ``__new__``, a default that is
not a literal, no ``.py`` source) makes it import the factory and ask :func:`inspect.signature`, so the
answer is always the signature's. What the static reading cannot see, a metaclass inherited from a base
class, is why ``tests/test_lazy.py`` compares both readings for every builtin entry.

:func:`code_version` is a lazy factory's code identity, part of every trial's id: the first 16 hex digits
of the sha256 of its module's source file (located, not imported), unless the module is optbench's own
(whose code optbench's version stands for), so editing ``mymod.py`` behind ``"mymod:Cls"`` makes new trials.
Only that file is hashed: code it imports from elsewhere is not followed.

This module imports nothing of optbench but :mod:`optbench.errors`.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.machinery
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterator
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

from optbench.errors import OptbenchError, PluginError

_EMPTY = inspect.Parameter.empty
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)
_MAX_REEXPORTS = 8  # how many ``from x import Name`` hops to follow before importing instead


class LazyFactory:
    """A factory named by ``"module:qualname"``, imported on its first call (or first signature lookup).

    ``origin`` is the plugin it came from (``"file plugins/x.py"``), named when it fails to import. Two
    refer to the same factory when their references are equal; one pickles as its reference and origin.
    """

    def __init__(self, reference: str, origin: str | None = None):
        module, sep, qualname = reference.partition(":")
        if not sep or not _dotted(module) or not _dotted(qualname):
            raise ValueError(f"a factory reference is 'module:name' (e.g. 'torch.optim:Adam'), got {reference!r}")
        if find_spec(module) is None:
            raise ValueError(f"factory {reference!r}: no module named {module!r}")
        self.reference, self.module, self.qualname, self.origin = reference, module, qualname, origin
        self._loaded: Callable[..., Any] | None = None

    def load(self) -> Callable[..., Any]:
        """The factory itself (imported once). A reference that does not import raises :class:`OptbenchError`
        (a :class:`PluginError` naming the plugin when it has an ``origin``)."""
        if self._loaded is None:
            try:
                value: Any = importlib.import_module(self.module)
                for part in self.qualname.split("."):
                    value = getattr(value, part)
            except Exception as exc:  # an AttributeError must not escape: hasattr(__wrapped__) would hide it
                raise self._error(f"cannot be imported: {type(exc).__name__}: {exc}") from exc
            if not callable(value):
                raise self._error(f"is not callable: {value!r}")
            self._loaded = value
        return self._loaded

    def _error(self, problem: str) -> OptbenchError:
        message = f"factory {self.reference!r} {problem}"
        return PluginError(self.origin, message) if self.origin else OptbenchError(message)

    @property
    def __wrapped__(self) -> Callable[..., Any]:
        return self.load()  # inspect.signature follows __wrapped__, so it sees the real factory

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyFactory({self.reference!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LazyFactory) and other.reference == self.reference

    def __hash__(self) -> int:
        return hash(self.reference)

    def __reduce__(self) -> tuple[type, tuple[str, str | None]]:
        return LazyFactory, (self.reference, self.origin)


def unwrap(factory: Any) -> LazyFactory | None:
    """The lazy factory behind ``factory`` (looking through wrappers' ``__wrapped__``), or None."""
    while not isinstance(factory, LazyFactory):
        factory = vars(factory).get("__wrapped__") if hasattr(factory, "__dict__") else None
        if factory is None:
            return None
    return factory


def code_version(factory: Any) -> str:
    """``"<module> <sha256[:16] of its file>"`` for a lazy factory outside optbench, else ``""``."""
    lazy = unwrap(factory)
    if lazy is None or lazy.module.partition(".")[0] == "optbench":
        return ""
    spec = find_spec(lazy.module)
    origin = getattr(spec, "origin", None)
    if not origin or not Path(origin).is_file():
        return f"{lazy.module} (no source file)"
    return f"{lazy.module} {hashlib.sha256(Path(origin).read_bytes()).hexdigest()[:16]}"


def signature(factory: Callable[..., Any]) -> inspect.Signature:
    """The factory's signature: read from source for a lazy factory when that is sure, else ``inspect``'s."""
    return static_signature(factory) or inspect.signature(factory)


def static_signature(factory: Callable[..., Any]) -> inspect.Signature | None:
    """The signature of a lazy factory read from its source without importing it; None when not sure
    (or when ``factory`` is not lazy). Wrappers that keep the wrapped factory in ``__wrapped__`` (the
    registry's guard around plugin factories) are looked through."""
    lazy = unwrap(factory)
    if lazy is None or "." in lazy.qualname:
        return None
    return _read(lazy.module, lazy.qualname, 0)


def find_spec(module: str) -> ModuleSpec | None:
    """Like :func:`importlib.util.find_spec`, but without importing the parent packages of ``module``."""
    if module in sys.modules:
        return getattr(sys.modules[module], "__spec__", None)
    parent, _, _ = module.rpartition(".")
    if not parent:
        try:
            return importlib.util.find_spec(module)
        except (ImportError, ValueError):
            return None
    locations = getattr(find_spec(parent), "submodule_search_locations", None)
    return None if locations is None else importlib.machinery.PathFinder.find_spec(module, list(locations))


def _dotted(name: str) -> bool:
    return bool(name) and all(part.isidentifier() for part in name.split("."))


@functools.cache
def _parsed(path: str) -> ast.Module:
    return ast.parse(Path(path).read_text(encoding="utf-8"), filename=path)


def _source(module: str) -> tuple[str, bool] | None:
    """The ``.py`` file behind ``module`` and whether it is a package's ``__init__``."""
    spec = find_spec(module)
    origin = getattr(spec, "origin", None)
    if not origin or not origin.endswith(".py") or not Path(origin).is_file():
        return None
    return origin, spec.submodule_search_locations is not None  # type: ignore[union-attr]


@functools.cache
def _read(module: str, name: str, hops: int) -> inspect.Signature | None:
    source = _source(module)
    if source is None or hops > _MAX_REEXPORTS:
        return None
    tree = _parsed(source[0])
    bound = list(_bindings(tree.body, name)) + [g for g in ast.walk(tree) if isinstance(g, ast.Global)
                                                and name in g.names]
    if len(bound) != 1:
        return None  # not defined here, or bound more than once: only running the module would tell
    node = bound[0]
    if isinstance(node, ast.ImportFrom) and all(a.name != "*" for a in node.names):
        alias = next(a for a in node.names if (a.asname or a.name) == name)
        return _read(_absolute(node, module, source[1]), alias.name, hops + 1)
    if isinstance(node, ast.FunctionDef) and not node.decorator_list:
        return _from_arguments(node.args, drop_self=False)
    if isinstance(node, ast.ClassDef) and not node.decorator_list and not node.keywords:
        return _class_signature(node)
    return None


def _bindings(body: list[ast.stmt], name: str) -> Iterator[ast.AST]:
    """Every statement or target in a scope's ``body`` that binds ``name`` (nested scopes left out;
    a star import counts, as it may bind anything)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, _SCOPES):
            if getattr(node, "name", None) == name:
                yield node
            continue  # their bodies are other scopes (their decorators and defaults bind nothing here)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if any(a.name == "*" or (a.asname or a.name.split(".")[0]) == name for a in node.names):
                yield node
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load) and node.id == name:
            yield node
        stack.extend(ast.iter_child_nodes(node))


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    package = module if is_package else module.rpartition(".")[0]
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, *([node.module] if node.module else [])])


def _class_signature(node: ast.ClassDef) -> inspect.Signature | None:
    if any(next(_bindings(node.body, special), None) for special in ("__new__", "__signature__", "__call__")):
        return None  # the signature may come from somewhere other than __init__
    init = list(_bindings(node.body, "__init__"))
    if len(init) != 1 or not isinstance(init[0], ast.FunctionDef) or init[0].decorator_list:
        return None
    return _from_arguments(init[0].args, drop_self=True)


def _from_arguments(args: ast.arguments, drop_self: bool) -> inspect.Signature | None:
    P = inspect.Parameter
    positional = [*args.posonlyargs, *args.args]
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    kinds = [P.POSITIONAL_ONLY] * len(args.posonlyargs) + [P.POSITIONAL_OR_KEYWORD] * len(args.args)
    found = [(a.arg, kind, d) for a, kind, d in zip(positional, kinds, defaults, strict=True)]
    found += [(args.vararg.arg, P.VAR_POSITIONAL, None)] if args.vararg else []
    found += [(a.arg, P.KEYWORD_ONLY, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
    found += [(args.kwarg.arg, P.VAR_KEYWORD, None)] if args.kwarg else []
    if drop_self:
        if not positional:
            return None
        found = found[1:]
    try:
        return inspect.Signature([P(name, kind, default=_EMPTY if d is None else ast.literal_eval(d))
                                  for name, kind, d in found])
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None  # a default that is not a literal (a name, a call): import and ask inspect
