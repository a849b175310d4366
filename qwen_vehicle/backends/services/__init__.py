"""Lifestyle services (food, travel, parcels): adapters by name, like python-can's interface registry.

    adapter = make_adapter('food', base_url='http://127.0.0.1:8765', token='...')

Built-in names are listed in BACKENDS; more come from the `qwen_vehicle.services` entry point group
(`name = package.module:Class`). Modules load only when their name is asked for.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

ENTRY_POINT_GROUP = 'qwen_vehicle.services'
BACKENDS: dict[str, str] = {
    'food': 'qwen_vehicle.backends.services.food:FoodAdapter',
    'travel': 'qwen_vehicle.backends.services.travel:TravelAdapter',
    'parcels': 'qwen_vehicle.backends.services.parcels:ParcelsAdapter',
}


_registry = Registry('service adapter', ENTRY_POINT_GROUP, BACKENDS)


def available() -> list[str]:
    return _registry.names()


def adapter_class(name: str) -> type:
    """The adapter class registered as `name`; ValueError listing the valid names otherwise."""
    return _registry.get(name)


def make_adapter(name: str, *, base_url: str, token: str | None = None, **options: Any):
    return adapter_class(name)(base_url, token, **options)
