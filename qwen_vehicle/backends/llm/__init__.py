"""LLM backends: a registry of name -> "module:Class", loaded lazily (python-can style).

>>> from qwen_vehicle.backends.llm import create_backend
>>> backend = create_backend('transformers', model_path='/models/Qwen2.5-1.5B-Instruct')
>>> turn = backend.respond(messages, tools, execute)

Third-party backends register under the entry point group ``qwen_vehicle.llm``.
Importing this package imports neither torch nor transformers.
"""
from __future__ import annotations

import logging
from typing import Any

from ..registry import Registry
from .base import Completion, LLMBackend, LLMBackendError, LLMTurn, ToolChoice, tool_result_payload
from .parsing import MalformedCall, StreamingToolCallParser, detect_dialect, parse_completion

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = 'qwen_vehicle.llm'

BACKENDS: dict[str, str] = {
    'transformers': 'qwen_vehicle.backends.llm.transformers_backend:TransformersBackend',
    'openai': 'qwen_vehicle.backends.llm.openai_backend:OpenAIBackend',
    'fake': 'qwen_vehicle.backends.llm.fake:FakeBackend',
}
_registry = Registry('LLM backend', ENTRY_POINT_GROUP, BACKENDS, LLMBackend)


def available_backends() -> list[str]:
    return _registry.names()


def backend_class(name: str) -> type[LLMBackend]:
    """The class registered as `name`; an unknown name raises ValueError listing the valid ones."""
    return _registry.get(name)


def create_backend(name: str, **config: Any) -> LLMBackend:
    return _registry.create(name, **config)


def create_backends(config: dict[str, dict[str, Any]] | None) -> dict[str, LLMBackend]:
    """Backends by role from configuration, e.g. ``{'local': {'backend': 'transformers', 'model_path': ...},
    'cloud': {'backend': 'openai', 'base_url': ..., 'model': ..., 'api_key_env': 'DASHSCOPE_API_KEY'}}``.

    A role with ``enabled: false`` or no ``backend`` is skipped; a role that fails to load is logged and skipped, so
    a missing checkpoint never takes the rest (rules, the other model) down.
    """
    backends: dict[str, LLMBackend] = {}
    for role, entry in (config or {}).items():
        entry = dict(entry or {})
        name = entry.pop('backend', None)
        if not name or not entry.pop('enabled', True):
            continue
        try:
            backends[role] = create_backend(name, **entry)
        except Exception as exc:
            log.error('LLM backend %r (%s) not available: %s', role, name, exc)
    return backends


__all__ = ['BACKENDS', 'ENTRY_POINT_GROUP', 'Completion', 'LLMBackend', 'LLMBackendError', 'LLMTurn',
           'MalformedCall', 'StreamingToolCallParser', 'ToolChoice', 'available_backends', 'backend_class',
           'create_backend', 'create_backends', 'detect_dialect', 'parse_completion', 'tool_result_payload']
