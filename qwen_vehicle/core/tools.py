"""Tool specifications generated from the signal map (read tools, set tools) plus the service tools."""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from .actuation import value_kind
from .ir import ToolSpec
from .mapping import ZONES, SignalDef, SignalMap

log = logging.getLogger(__name__)

DESCRIPTIONS = {
    'set_target_temperature': 'Set the climate target temperature of a cabin zone.',
    'set_fan_level': 'Set the climate fan (blower) level.',
    'set_air_conditioning': 'Switch the air conditioning (compressor cooling) on or off.',
    'set_recirculation': 'Switch air recirculation on or off.',
    'set_defrost': 'Set the window defrost/demist mode.',
    'set_seat_heating': 'Set the seat heating level of a front seat.',
    'get_cabin_temperature': 'Read cabin and target temperatures, per zone.',
    'get_climate_status': 'Read the climate state: fan, A/C, recirculation, defrost, seat heating, outside temperature.',
    'get_battery_status': 'Read the traction battery: state of charge, range, charging state and power, pack values.',
    'get_location': 'Read the car position (GNSS latitude/longitude/altitude, fix, heading, ground speed).',
    'get_vehicle_state': 'Read speed, gear, parking brake and ignition.',
}


def _zones(signals: list[SignalDef], attr: str) -> list[str]:
    found = {getattr(s, attr) if attr == 'zone' else s.actuator.zone for s in signals}
    return [z for z in ZONES if z in found]


def value_schema(sig: SignalDef, command_signal) -> dict[str, Any]:
    kind, names = value_kind(command_signal)
    unit = command_signal.unit or sig.unit or ''
    if kind == 'bool':
        return {'type': 'boolean', 'description': 'true = on, false = off'}
    if kind == 'enum':
        return {'type': 'string', 'enum': names}
    schema: dict[str, Any] = {'type': 'integer' if kind == 'integer' else 'number',
                              'minimum': command_signal.minimum, 'maximum': command_signal.maximum}
    if kind == 'number':
        schema['multipleOf'] = command_signal.conversion.scale
    if unit:
        schema['x-unit'] = unit
        schema['description'] = f'in {unit}'
    return schema


def vehicle_tools(signal_map: SignalMap) -> list[ToolSpec]:
    readers: dict[str, list[SignalDef]] = defaultdict(list)
    setters: dict[str, list[SignalDef]] = defaultdict(list)
    for sig in signal_map.signals.values():
        if sig.tool:
            readers[sig.tool].append(sig)
        if sig.actuator:
            setters[sig.actuator.tool].append(sig)
    specs: list[ToolSpec] = []
    for name, sigs in setters.items():
        first = sigs[0]
        cmd = signal_map.command_message(first).get_signal_by_name(first.actuator.signal)
        props: dict[str, Any] = {}
        required = ['value']
        zones = _zones(sigs, 'actuator')
        if zones:
            props['zone'] = {'type': 'string', 'enum': zones}
            required.insert(0, 'zone')
        props['value'] = value_schema(first, cmd)
        specs.append(ToolSpec(
            name=name, description=DESCRIPTIONS.get(name, f'Set {first.path}.'),
            parameters={'type': 'object', 'properties': props, 'required': required, 'additionalProperties': False},
            kind='set', risk='low', paths={s.actuator.zone: s.path for s in sigs}))
    for name, sigs in readers.items():
        props = {}
        zones = _zones(sigs, 'zone')
        if zones:
            props['zone'] = {'type': 'string', 'enum': zones, 'description': 'omit for all zones'}
        keys = sorted({s.tool_key or s.path for s in sigs})
        specs.append(ToolSpec(
            name=name, description=DESCRIPTIONS.get(name, f'Read {", ".join(keys)}.'),
            parameters={'type': 'object', 'properties': props, 'required': [], 'additionalProperties': False},
            kind='read', risk='low', paths={f'{s.zone}:{s.tool_key}' if s.zone else s.tool_key: s.path
                                            for s in sigs}))
    return specs


def service_tools() -> list[ToolSpec]:
    try:
        from ..backends.services.tools import service_tools as make
    except ImportError as exc:
        log.debug('service tools unavailable: %s', exc)
        return []
    return make()


def all_tools(signal_map: SignalMap, *, services: bool = True) -> list[ToolSpec]:
    return vehicle_tools(signal_map) + (service_tools() if services else [])


def read_tool_result(spec: ToolSpec, store, arguments: dict[str, Any]) -> dict[str, Any]:
    """Values for a read tool: {key: value} or {zone: {key: value}}; unknown/stale values are reported as such."""
    zone_filter = arguments.get('zone')
    out: dict[str, Any] = {}
    unavailable = []
    for key, path in spec.paths.items():
        zone, _, leaf = key.rpartition(':')
        if zone_filter and zone and zone != zone_filter:
            continue
        st = store.get(path)
        if st is None or not st.valid or not st.fresh:
            unavailable.append(leaf if not zone else f'{zone}.{leaf}')
            value = None
        else:
            value = st.value
        if zone:
            out.setdefault(zone, {})[leaf] = value
        else:
            out[leaf] = value
    if unavailable:
        out['unavailable'] = sorted(unavailable)
    return out
