"""The assistant's tool specs, for the grammar's slot rules (zones, value ranges, enum values).

Imported late and optional: the voice package works (with a plain <number> rule) where the signal map or the
service adapters are unavailable.
"""
from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)


def assistant_tool_specs(signal_map_path: str = 'signals.yaml') -> list:
    """Vehicle tools from the signal map plus the service tools; [] (logged) when they cannot be built."""
    try:
        from qwen_vehicle.core.mapping import load_signal_map
        from qwen_vehicle.core.tools import all_tools
        from qwen_vehicle.paths import resolve
        return list(all_tools(load_signal_map(resolve(signal_map_path, 'config'))))
    except Exception as exc:  # noqa: BLE001 - the grammar still works without the schemas
        log.warning('tool schemas unavailable for the voice grammar (%s); using generic number rules', exc)
        return []


def service_words() -> dict[str, list[str]]:
    """Slot words the intent engine knows for the service tools: city names and cuisines (English)."""
    try:
        from qwen_vehicle.core.intents import lexicon
    except Exception as exc:  # noqa: BLE001
        log.warning('intent lexicon unavailable for the voice grammar (%s)', exc)
        return {}
    words: dict[str, list[str]] = {}
    cities = getattr(lexicon, 'CITIES_EN', {})
    words['city'] = sorted({name for name in cities} | {value.lower() for value in cities.values()})
    cuisines: set[str] = set()
    for name, pattern in getattr(lexicon, 'CUISINES', []):
        cuisines.add(name)
        cuisines.update(_plain_alternatives(pattern.pattern))
    words['cuisine'] = sorted(cuisines)
    return words


def _plain_alternatives(pattern: str) -> set[str]:
    """Plain English words of a regex alternation: r'noodles?|ramen|面馆' -> {noodle, noodles, ramen}."""
    out: set[str] = set()
    for alt in pattern.split('|'):
        alt = alt.replace('\\b', '')
        forms = [alt]
        if alt.endswith('s?'):
            forms = [alt[:-2], alt[:-1]]
        forms = [f.replace(' ?', ' ') for f in forms] + [f.replace(' ?', '') for f in forms if ' ?' in f]
        out.update(f.strip() for f in forms if re.fullmatch(r'[a-z][a-z ]*', f.strip()))
    return out


def intent_interpreter():
    """phrase -> [(tool, arguments)] through the rule engine (empty dialogue state), for the grammar's typed number
    slots; None (logged) where the engine is unavailable."""
    try:
        from qwen_vehicle.core.intents import DialogueContext, IntentEngine
    except Exception as exc:  # noqa: BLE001
        log.warning('intent engine unavailable for the voice grammar (%s); numbers use one generic rule', exc)
        return None
    engine = IntentEngine()

    def interpret(text: str) -> list[tuple[str, dict]]:
        plan = engine.parse(text, DialogueContext(speaker_zone=None, state={}))
        return [(call.name, dict(call.arguments)) for call in plan.calls]
    return interpret
