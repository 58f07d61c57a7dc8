"""A name -> factory registry: config names map to estimators, adding one is one entry."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from livermets.errors import ConfigError

T = TypeVar("T")
Space = Callable[[Any, str], dict[str, Any]]


def _no_space(trial: Any, prefix: str) -> dict[str, Any]:
    """An empty search space (the step has nothing to tune)."""
    return {}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its factory, its Optuna search space and a description."""

    name: str
    factory: Callable[..., T]
    space: Space = _no_space
    description: str = ""


@dataclass
class Registry(Generic[T]):
    """Named factories of one pipeline step kind (imputers, scalers, classifiers...)."""

    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)

    def register(
        self, name: str, space: Space = _no_space, description: str = ""
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers ``factory`` under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self.entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self.entries[name] = Entry(name, factory, space, description or factory.__doc__ or "")
            return factory

        return decorate

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self.entries)

    def get(self, name: str) -> Entry[T]:
        """The entry called ``name``; a ``ConfigError`` listing the choices otherwise."""
        try:
            return self.entries[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}: use one of {', '.join(self.names())}"
            ) from None

    def create(self, name: str, **params: Any) -> T:
        """Build the component ``name`` with ``params``."""
        entry = self.get(name)
        try:
            return entry.factory(**params)
        except TypeError as exc:
            raise ConfigError(f"bad parameters for {self.kind} {name!r}: {exc}") from None

    def __contains__(self, name: object) -> bool:
        """Whether ``name`` is registered."""
        return name in self.entries

    def __iter__(self) -> Iterator[str]:
        """Iterate over the registered names."""
        return iter(self.entries)
