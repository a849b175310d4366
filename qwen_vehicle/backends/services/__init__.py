"""Lifestyle services (food, travel, parcels): adapters by name, like python-can's interface registry.

    adapter = make_adapter('food', base_url='http://127.0.0.1:8765', token='...')

Built-in names are listed in BACKENDS; more come from the `qwen_vehicle.services` entry point group
(`name = package.module:Class`). Modules load only when their name is asked for.
"""
from __future__ import annotations

import importlib
import logging
from importlib.metadata import entry_points
from typing import Any

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = 'qwen_vehicle.services'
BACKENDS: dict[str, str] = {
    'food': 'qwen_vehicle.backends.services.food:FoodAdapter',
    'travel': 'qwen_vehicle.backends.services.travel:TravelAdapter',
    'parcels': 'qwen_vehicle.backends.services.parcels:ParcelsAdapter',
}


def _entry_points() -> dict[str, Any]:
    try:
        return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}
    except Exception:  # noqa: BLE001 - a broken distribution must not hide the built-ins
        log.warning('could not read the %s entry points', ENTRY_POINT_GROUP, exc_info=True)
        return {}


def available() -> list[str]:
    return sorted(set(BACKENDS) | set(_entry_points()))


def adapter_class(name: str) -> type:
    """The adapter class registered as `name`; ValueError listing the valid names otherwise."""
    if name in BACKENDS:
        module_name, _, class_name = BACKENDS[name].partition(':')
        return getattr(importlib.import_module(module_name), class_name)
    eps = _entry_points()
    if name in eps:
        return eps[name].load()
    raise ValueError(f'unknown service adapter {name!r}; valid names: {", ".join(available())}')


def make_adapter(name: str, *, base_url: str, token: str | None = None, **options: Any):
    return adapter_class(name)(base_url, token, **options)
