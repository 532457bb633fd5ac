"""One small registry pattern for everything looked up by name.

Methods, attacks, architectures, analyses, executors and importers are each a
:class:`Registry`: entries register themselves with a decorator next to their definition
(the timm ``@register_model`` idiom), callers use ``names()`` / ``get(name)``, and an
unknown name always raises the same :class:`UnknownName` listing the choices.

A registry may name the modules that hold its entries (``modules=``): they are imported on
first lookup, so a cheap import (e.g. of the training loop) never pulls in heavy ones
(plotting, caches) just to fill a registry it does not use.
"""
from __future__ import annotations

import importlib
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownName(ValueError):
    """A name that no entry of a registry has; the message lists the choices."""

    def __init__(self, kind: str, name: object, choices: list[str]):
        self.kind, self.name, self.choices = kind, name, choices
        super().__init__(f"unknown {kind} {name!r}; choose from: {', '.join(choices)}")


class Registry(Generic[T]):
    """Named entries of one kind, in registration order."""

    def __init__(self, kind: str, *, modules: tuple[str, ...] = ()):
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._modules = modules
        self._loaded = not modules

    def register(self, name: str | None = None, *, entry: T | None = None) -> Callable[[T], T]:
        """Decorator (``@REG.register("name")``) or direct call (``REG.register("n", entry=x)``).

        Without a name, the entry's ``name`` attribute (or ``__name__``) is used.
        """

        def add(obj: T) -> T:
            key = name or getattr(obj, "name", None) or getattr(obj, "__name__")
            if key in self._entries and self._entries[key] is not obj:
                raise ValueError(f"{self.kind} {key!r} is registered twice")
            self._entries[key] = obj
            return obj

        if entry is not None:
            return add(entry)
        return add

    def _load(self) -> None:
        if not self._loaded:
            self._loaded = True
            for module in self._modules:
                importlib.import_module(module)

    def names(self) -> list[str]:
        self._load()
        return list(self._entries)

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._entries[name]
        except (KeyError, TypeError):
            raise UnknownName(self.kind, name, list(self._entries)) from None

    def items(self) -> list[tuple[str, T]]:
        self._load()
        return list(self._entries.items())

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __getitem__(self, name: str) -> T:
        return self.get(name)
