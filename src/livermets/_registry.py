"""The one plug-in idiom: a name -> factory registry (classifiers, radiomics engines,
segmentation backends), optionally with a pydantic options model per entry.

Low level on purpose (it imports only ``errors`` and pydantic), so that every stage may use it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ValidationError

from livermets.errors import ConfigError

T = TypeVar("T")
Space = Callable[[Any, str], dict[str, Any]]


def _no_space(trial: Any, prefix: str) -> dict[str, Any]:
    """An empty search space (the step has nothing to tune)."""
    return {}


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered component: its factory, Optuna search space, description and options."""

    name: str
    factory: Callable[..., T]
    space: Space = _no_space
    description: str = ""
    options: type[BaseModel] | None = None


def _problem(error: Any, fields: list[str]) -> str:
    """One pydantic error as ``key: message`` (with a close valid key for an unknown one)."""
    key = ".".join(str(p) for p in error["loc"]) or "options"
    text = f"{key}: {error['msg']}"
    if error["type"] == "extra_forbidden":
        close = difflib.get_close_matches(str(error["loc"][0]), fields, n=1)
        if close:
            text += f" (did you mean {close[0]!r}?)"
    return text


def validate_options(model: type[BaseModel], values: Mapping[str, Any], what: str) -> BaseModel:
    """``values`` validated by ``model``; a ``ConfigError`` naming ``what``, each bad key and the
    valid keys otherwise."""
    try:
        return model.model_validate(dict(values))
    except ValidationError as exc:
        fields = list(model.model_fields)
        problems = "; ".join(_problem(e, fields) for e in exc.errors())
        raise ConfigError(
            f"bad options for {what} ({problems}). Valid options: {', '.join(fields) or 'none'}."
        ) from None


@dataclass
class Registry(Generic[T]):
    """Named factories of one component kind (imputers, classifiers, engines, backends...)."""

    kind: str
    entries: dict[str, Entry[T]] = field(default_factory=dict)

    def register(
        self,
        name: str,
        space: Space = _no_space,
        description: str = "",
        options: type[BaseModel] | None = None,
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator that registers ``factory`` under ``name`` (a second ``name`` raises)."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self.entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            text = description or factory.__doc__ or ""
            self.entries[name] = Entry(name, factory, space, text, options)
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

    def options(self, name: str, values: Mapping[str, Any] | None = None) -> BaseModel | None:
        """The options of ``name`` validated by its options model (``ConfigError`` naming the
        component, the bad key and the valid keys); None for an entry without options."""
        entry = self.get(name)
        if entry.options is None:
            if values:
                raise ConfigError(f"the {self.kind} {name!r} takes no options, got "
                                  f"{', '.join(map(str, values))}.")
            return None
        return validate_options(entry.options, values or {}, f"the {self.kind} {name!r}")

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
