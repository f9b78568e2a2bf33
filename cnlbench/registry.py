"""One registry idiom for everything cnlbench finds by name: models, methods, source kinds,
noise families, reproductions and reference numbers.

A :class:`Registry` maps names to entries. Entries register themselves when their module is
imported (``registry.add(name, entry)``, usually from a decorator); the registry discovers them
by importing the public modules of its package (those whose names start with ``prefix``, none
in ``skip``) the first time a name is looked up, so adding an entry is adding one file. Lookups of an unknown name raise the registry's error listing the
valid names; a module that cannot be imported for a missing optional package is reported with
the install hint instead of breaking discovery of the others.

Bottom layer: imports only :mod:`cnlbench.errors`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Generic, Iterator, TypeVar

from cnlbench.errors import CnlbenchError

T = TypeVar("T")


def missing_package_hint(exc: ImportError, what: str, extra: str | None = None) -> str:
    """The message for ``what`` failing to import: the missing package and the ``pip`` line."""
    package = exc.name or str(exc)
    target = f"'cnlbench[{extra}]'" if extra else package
    return f"{what} needs the package {package!r}, which is not installed; `pip install {target}`"


class Registry(Generic[T]):
    """Names -> entries of one kind (``kind`` names it in messages, e.g. ``"model"``; ``plural``
    when adding an ``s`` is wrong, e.g. ``"noise families"``).

    ``package``: the dotted package whose public modules (not starting with ``_``, starting with
    ``prefix``, not in ``skip``) hold the built-in entries, so that a package holding other
    modules too discovers only its entry modules (``prefix="family_"``); ``error``: the
    :class:`~cnlbench.errors.CnlbenchError` subclass raised for unknown or duplicate names;
    ``extras``: module name -> the pip extra that installs its optional dependency (used in the
    hint when it fails to import)."""

    def __init__(self, kind: str, package: str, *, error: type[CnlbenchError] = CnlbenchError,
                 plural: str = "", prefix: str = "", skip: tuple[str, ...] = (),
                 extras: dict[str, str] | None = None):
        self.kind, self.package, self.error = kind, package, error
        self.plural = plural or f"{kind}s"
        self.prefix = prefix
        self.skip = frozenset(skip)
        self.extras = dict(extras or {})
        self._entries: dict[str, T] = {}
        self._unavailable: dict[str, str] = {}  # module -> why it could not be imported
        self._discovered = False

    def add(self, name: str, entry: T) -> T:
        """Register ``entry`` as ``name``; a second, different entry of that name is an error."""
        if not name:
            raise self.error(f"a {self.kind} needs a non-empty name; got {entry!r}")
        old = self._entries.get(name)
        if old is not None and old is not entry:
            raise self.error(f"{self.kind} name {name!r} registered twice; rename one of them")
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> T:
        """Unregister ``name`` (e.g. an entry a test or a notebook added); returns its entry."""
        try:
            return self._entries.pop(name)
        except KeyError:
            raise self.error(f"{self.kind} {name!r} is not registered; registered: {sorted(self._entries)}") from None

    def discover(self) -> None:
        """Import every public module of the package once (each registers its entries)."""
        if self._discovered:
            return
        self._discovered = True
        pkg = importlib.import_module(self.package)
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name.startswith("_") or not info.name.startswith(self.prefix) or info.name in self.skip:
                continue
            try:
                importlib.import_module(f"{self.package}.{info.name}")
            except ImportError as exc:  # an optional dependency: the others still register
                self._unavailable[info.name] = missing_package_hint(
                    exc, f"{self.kind} module {info.name!r}", self.extras.get(info.name))

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self.discover()
        return sorted(self._entries)

    def get(self, name: str) -> T:
        """The entry ``name``; the error lists the valid names (and modules that failed to import)."""
        self.discover()
        try:
            return self._entries[name]
        except KeyError:
            msg = f"unknown {self.kind} {name!r}; valid {self.plural}: {self.names()}"
            if self._unavailable:
                msg += "; not available here: " + "; ".join(self._unavailable.values())
            raise self.error(msg) from None

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, entry) pairs, sorted by name."""
        for name in self.names():
            yield name, self._entries[name]

    def __contains__(self, name: object) -> bool:
        self.discover()
        return name in self._entries


__all__ = ["Registry", "missing_package_hint"]
