"""Serialisable components (readers, steps, writers): keyword-only config, registered by name.

Every component records the keyword arguments it was built with, so a pipeline turns into a
YAML recipe and back. Names are ``"<area>.<what>"``; a name whose area is a datamill stage
(``pretrain.gopher_quality``) is found by importing that stage package on first use.
"""

from __future__ import annotations

import importlib
from abc import ABCMeta
from typing import Any, ClassVar

from datamill.errors import ConfigError

__all__ = ["Component", "build", "registered"]

_REGISTRY: dict[str, type[Component]] = {}
_STAGES = ("pretrain", "feedback", "finetune", "incontext", "synthetic", "diagnose")
#: generic names of steps that live in a stage package (the model-based filters need its models)
_HOMES = {
    "filter.classifier": "datamill.pretrain",
    "filter.classifier_top": "datamill.pretrain",
    "filter.word_list": "datamill.pretrain",
}


class Component(metaclass=ABCMeta):
    """Base of readers, steps and writers: ``name`` plus the keyword arguments given to ``__init__``.

    Hooks a subclass must fill are abstract methods: a class that sets ``name`` (and so is registered
    as a concrete component) without implementing them fails when it is defined.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "component"
    _params: dict[str, Any]

    def __new__(cls, *args: Any, **kwargs: Any):  # noqa: ANN204
        if args:
            raise TypeError(f"{cls.__name__} takes keyword arguments only")
        obj = super().__new__(cls)
        obj._params = dict(kwargs)
        return obj

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        name = cls.__dict__.get("name")
        if name:
            missing = _abstract_hooks(cls)
            if missing:
                raise TypeError(f"{cls.__name__} ({name!r}) must implement {', '.join(missing)}")
            _REGISTRY[name] = cls

    @property
    def params(self) -> dict[str, Any]:
        """The keyword arguments this component was built with."""
        return dict(self._params)

    def to_config(self) -> dict[str, Any]:
        cls = type(self)
        if _REGISTRY.get(self.name) is cls:
            return {"type": self.name, **self._params}
        return {"type": f"{cls.__module__}:{cls.__qualname__}", **self._params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._params.items())
        return f"{type(self).__name__}({args})"

    def __getstate__(self) -> dict[str, Any]:
        return {"config": self.to_config()}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(build(state["config"]).__dict__)


def _abstract_hooks(cls: type) -> list[str]:
    """The abstract methods ``cls`` leaves unimplemented (ABCMeta only works them out after
    ``__init_subclass__``, so they are found here from the bases)."""
    names = {n for n, v in vars(cls).items() if getattr(v, "__isabstractmethod__", False)}
    for base in cls.__mro__[1:]:
        for n in getattr(base, "__abstractmethods__", ()):
            if getattr(getattr(cls, n, None), "__isabstractmethod__", False):
                names.add(n)
    return sorted(names)


def _lookup(name: str) -> type[Component]:
    if ":" in name:  # "package.module:ClassName" for components outside datamill
        module, _, attr = name.partition(":")
        try:
            cls = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"cannot import component {name!r}: {exc}") from None
        if not (isinstance(cls, type) and issubclass(cls, Component)):
            raise ConfigError(f"{name!r} is not a datamill component class")
        return cls
    if name not in _REGISTRY:
        area = name.split(".", 1)[0]
        if name in _HOMES:
            importlib.import_module(_HOMES[name])
        elif area in _STAGES:
            importlib.import_module(f"datamill.{area}")
        else:
            importlib.import_module("datamill.pipeline.steps")
            importlib.import_module("datamill.pipeline.io")
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise ConfigError(f"unknown component type {name!r}; known: {known}")
    return _REGISTRY[name]


def build(config: dict[str, Any], *, kind: str | None = None) -> Component:
    """Build a component from ``{"type": name, **params}`` (a recipe entry)."""
    if not isinstance(config, dict) or "type" not in config:
        raise ConfigError(f"a component needs a 'type' key, got {config!r}")
    params = dict(config)
    cls = _lookup(params.pop("type"))
    if kind is not None and cls.kind != kind:
        raise ConfigError(f"{cls.name!r} is a {cls.kind}, not a {kind}")
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for {cls.name!r}: {exc}") from None


def registered(kind: str | None = None) -> dict[str, type[Component]]:
    """Registered components (optionally of one kind), after importing the core ones."""
    importlib.import_module("datamill.pipeline.steps")
    importlib.import_module("datamill.pipeline.io")
    return {n: c for n, c in sorted(_REGISTRY.items()) if kind is None or c.kind == kind}
