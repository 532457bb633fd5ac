"""One small registry pattern for everything looked up by name.

Methods, attacks, architectures, analyses, executors and importers are each a
:class:`Registry`: entries register themselves with a decorator next to their definition
(the timm ``@register_model`` idiom), callers use ``names()`` / ``get(name)``, and an
unknown name always raises the same :class:`UnknownName` listing the choices.

A registry may name the modules that hold its entries (``modules=``, imported in that order)
and a package whose every module is imported after them (``package=``): both on first
lookup, so a cheap import (e.g. of the training loop) never pulls in heavy ones (plotting,
caches) just to fill a registry it does not use, and a new file in the package registers
its entries without being listed anywhere.
"""
from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A name that no entry of a registry has; the message lists the choices."""

    def __init__(self, kind: str, name: object, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(f"unknown {kind} {name!r}; choose from: {', '.join(choices)}")


@dataclass(frozen=True)
class Family(Generic[T]):
    """A family of names that follow a pattern (``resnet<6n+2>``): ``build(name)`` returns
    the entry for a member of the family, or None for a name outside it."""

    pattern: str
    build: Callable[[str], "T | None"]
    examples: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{self.pattern} ({', '.join(self.examples)}, ...)" if self.examples else self.pattern


class Registry(Generic[T]):
    """Named entries of one kind, in registration order."""

    def __init__(self, kind: str, *, modules: tuple[str, ...] = (), package: str | None = None,
                 error: type[UnknownName] = UnknownName):
        """``error``: the :class:`UnknownName` subclass raised for an unknown name, when the
        registry's callers also catch a domain error (e.g. ``class UnknownAttack(UnknownName,
        AttackError)``); the message is the same either way."""
        if not issubclass(error, UnknownName):
            raise TypeError(f"error must be a subclass of UnknownName, got {error.__name__}")
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._where: dict[str, str] = {}
        self._modules = modules
        self._package = package
        self._loaded = not modules and package is None
        self._error = error
        self._families: list[Family[T]] = []

    def register(self, name: str | None = None, *, entry: T | None = None,
                 module: str | None = None) -> Callable[[T], T]:
        """Decorator (``@REG.register("name")``) or direct call (``REG.register("n", entry=x)``).

        Without a name, the entry's ``name`` attribute (or ``__name__``) is used. ``module``
        (default: the entry's ``__module__``) is where it is defined: :meth:`names` lists
        entries in the order of the registry's ``modules``, whichever was imported first.
        """

        def add(obj: T) -> T:
            key = name or getattr(obj, "name", None) or getattr(obj, "__name__")
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            self._where[key] = module or getattr(obj, "__module__", "")
            return obj

        if entry is not None:
            return add(entry)
        return add

    def register_family(self, pattern: str, build: Callable[[str], T | None], *,
                        examples: tuple[str, ...] = ()) -> None:
        """Names matching a pattern, validated and built by ``build`` (None: not a member).
        ``examples`` are valid members, listed by :meth:`names` (e.g. for a form's choices)."""
        self._families.append(Family(pattern, build, examples))

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)
            if self._package is not None:
                package = importlib.import_module(self._package)
                for info in pkgutil.iter_modules(package.__path__):
                    if not info.name.startswith("_"):
                        importlib.import_module(f"{self._package}.{info.name}")

    def _ordered(self) -> list[str]:
        rank = {module: i for i, module in enumerate(self._modules)}
        return sorted(self._entries, key=lambda key: rank.get(self._where[key], len(rank)))  # stable

    def names(self) -> list[str]:
        """Registered names (in the order of ``modules``, then of registration), then the
        examples of each family."""
        self._load()
        return self._ordered() + [e for f in self._families for e in f.examples if e not in self._entries]

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            pass
        if isinstance(name, str):
            for family in self._families:
                entry = family.build(name)
                if entry is not None:
                    return entry
        raise self._error(self.kind, name, self._ordered() + [f.describe() for f in self._families])

    def unregister(self, name: str) -> None:
        """Remove an entry (a test that registered a temporary one cleans up with this)."""
        self._entries.pop(name, None)
        self._where.pop(name, None)

    def check(self, name: str) -> str:
        """``name`` when it is registered (a pydantic validator's body), else :class:`UnknownName`."""
        self.get(name)
        return name

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return [(key, self._entries[key]) for key in self._ordered()]

    def __contains__(self, name: object) -> bool:
        try:
            self.get(name)  # type: ignore[arg-type]
        except UnknownName:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def __getitem__(self, name: str) -> T:
        return self.get(name)
