"""name -> "module:Class" tables plus an entry point group, loaded lazily (python-can style): the registry of the
LLM backends, service adapters, recognisers and synthesizers."""
from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)


class Registry:
    def __init__(self, kind: str, group: str, builtins: dict[str, str], base: type = object):
        self.kind, self.group, self.builtins, self.base = kind, group, builtins, base

    def _entry_points(self) -> dict[str, Any]:
        try:
            return {ep.name: ep for ep in entry_points(group=self.group)}
        except Exception:  # noqa: BLE001 - a broken distribution must not hide the built-ins
            log.exception('reading entry points %s failed', self.group)
            return {}

    def names(self) -> list[str]:
        return sorted(set(self.builtins) | set(self._entry_points()))

    def get(self, name: str) -> type:
        if name in self.builtins:
            module_name, _, class_name = self.builtins[name].partition(':')
            cls = getattr(importlib.import_module(module_name), class_name)
        else:
            eps = self._entry_points()
            if name not in eps:
                raise ValueError(f'unknown {self.kind} {name!r}; valid {self.kind}s: {", ".join(self.names())}')
            cls = eps[name].load()
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise TypeError(f'{self.kind} {name!r} is {cls!r}, not a {self.base.__name__} subclass')
        return cls

    def create(self, name: str, **config: Any):
        return self.get(name)(**config)
