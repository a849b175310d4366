"""The signal map: VSS-style paths -> DBC message/signal, unit, ROS output, tools; validated against the DBCs."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

import cantools
import yaml

from ..paths import resolve

log = logging.getLogger(__name__)

SPECIAL_CHOICES = ('SNA', 'NoRequest', 'Invalid', 'Error', 'NotAvailable')
ROS_TYPES = (
    'sensor_msgs/BatteryState', 'sensor_msgs/NavSatFix', 'sensor_msgs/Temperature', 'geometry_msgs/TwistStamped',
    'std_msgs/Float32', 'std_msgs/Float64', 'std_msgs/Int32', 'std_msgs/UInt8', 'std_msgs/Bool', 'std_msgs/String',
)
SENSOR_TYPES = ROS_TYPES[:4]
ZONES = ('driver', 'passenger', 'rear')


class SignalMapError(ValueError):
    """A signal map that does not agree with itself or with its DBCs; the message names file and line."""


class _LineLoader(yaml.SafeLoader):
    """A YAML loader that remembers the line of every mapping as '__line__'."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict:
    mapping = yaml.SafeLoader.construct_mapping(loader, node, deep=True)
    mapping['__line__'] = node.start_mark.line + 1
    for key_node, value_node in node.value:
        child = mapping.get(loader.construct_object(key_node))
        if isinstance(value_node, yaml.MappingNode) and isinstance(child, dict):
            child['__line__'] = key_node.start_mark.line + 1  # errors point at the entry's name
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


@dataclass(frozen=True)
class RosOutput:
    topic: str
    type: str
    field: str = 'data'
    scale: float = 1.0
    publish: str = 'every_frame'


@dataclass(frozen=True)
class ActuatorDef:
    message: str
    signal: str
    tool: str
    zone: str = ''
    tolerance: float = 0.0
    timeout: float = 3.0


@dataclass
class SignalDef:
    path: str
    bus: str
    message: str
    signal: str
    unit: str
    line: int
    ros: RosOutput | None = None
    tool: str | None = None
    tool_key: str | None = None
    zone: str = ''
    actuator: ActuatorDef | None = None
    # filled from the DBC
    dbc_signal: Any = None
    dbc_message: Any = None

    @property
    def actuatable(self) -> bool:
        return self.actuator is not None

    @property
    def choices(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in (self.dbc_signal.choices or {}).items()}

    @property
    def period_s(self) -> float | None:
        """How often a fresh value arrives: the cycle time, times the pages for a multiplexed signal."""
        cycle = self.dbc_message.cycle_time
        if not cycle:
            return None
        pages = 1
        if self.dbc_signal.multiplexer_ids:
            mux = next(s for s in self.dbc_message.signals if s.is_multiplexer)
            pages = len({i for s in self.dbc_message.signals for i in (s.multiplexer_ids or [])
                         if s.multiplexer_signal == mux.name}) or 1
        return cycle * pages / 1000.0


@dataclass
class BusDef:
    name: str
    dbc_path: str
    database: Any
    fd: bool = False
    line: int = 0


@dataclass
class SignalMap:
    source: str
    buses: dict[str, BusDef]
    signals: dict[str, SignalDef]
    stale_factor: float = 5.0
    extra: dict[str, Any] = field(default_factory=dict)

    def by_bus(self, bus: str) -> list[SignalDef]:
        return [s for s in self.signals.values() if s.bus == bus]

    def actuatable(self) -> list[SignalDef]:
        return [s for s in self.signals.values() if s.actuator]

    def command_message(self, sig: SignalDef):
        return self.buses[sig.bus].database.get_message_by_name(sig.actuator.message)

    @classmethod
    def load(cls, path: str = 'signals.yaml', *, strict_dbc: bool = True) -> 'SignalMap':
        return load_signal_map(path, strict_dbc=strict_dbc)


def load_dbc(path: str, *, strict: bool = True):
    """Load a DBC; with strict=False a file with overlapping or odd signals still loads, with a warning."""
    try:
        return cantools.database.load_file(path, database_format='dbc', strict=strict)
    except Exception as exc:  # noqa: BLE001 - cantools raises several types
        if strict:
            log.warning('%s: strict load failed (%s); loading leniently', path, exc)
            try:
                db = cantools.database.load_file(path, database_format='dbc', strict=False)
            except Exception:  # noqa: BLE001 - a syntax gap: repaired below, with a warning per line
                pass
            else:
                from .dbc_repair import lint  # the same problems, with the line of each signal
                lint(path, db)
                return db
        from .dbc_repair import load_repaired  # field DBCs with syntax gaps (missing BS_/BU_, odd lines)
        return load_repaired(path)[0]


def load_signal_map(path: str, *, strict_dbc: bool = True) -> SignalMap:
    path = resolve(path, 'config')
    with open(path, encoding='utf-8') as fh:
        try:
            doc = yaml.load(fh, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
        except yaml.YAMLError as exc:
            raise SignalMapError(f'{path}: not valid YAML: {exc}') from exc
    if not isinstance(doc, dict):
        raise SignalMapError(f'{path}:1: expected a mapping with buses: and signals:')

    def fail(line: int, msg: str):
        raise SignalMapError(f'{path}:{line}: {msg}')

    buses: dict[str, BusDef] = {}
    raw_buses = doc.get('buses') or fail(doc['__line__'], 'no buses: section')
    for name, spec in raw_buses.items():
        if name == '__line__':
            continue
        if not isinstance(spec, dict) or 'dbc' not in spec:
            fail(raw_buses['__line__'], f'bus {name!r} needs a dbc: entry')
        dbc_path = spec['dbc']
        if not os.path.isabs(dbc_path):
            beside = os.path.join(os.path.dirname(path), dbc_path)
            dbc_path = beside if os.path.exists(beside) else resolve(dbc_path, 'dbc')
        if not os.path.exists(dbc_path):
            fail(spec['__line__'], f'bus {name!r}: DBC file not found: {dbc_path}')
        try:
            db = load_dbc(dbc_path, strict=strict_dbc)
        except Exception as exc:  # noqa: BLE001
            fail(spec['__line__'], f'bus {name!r}: cannot load DBC {dbc_path}: {exc}')
        buses[name] = BusDef(name, dbc_path, db, bool(spec.get('fd', False)), spec['__line__'])

    signals: dict[str, SignalDef] = {}
    raw_signals = doc.get('signals') or fail(doc['__line__'], 'no signals: section')
    topic_types: dict[str, tuple[str, int]] = {}
    for sig_path, spec in raw_signals.items():
        if sig_path == '__line__':
            continue
        line = spec.get('__line__', raw_signals['__line__']) if isinstance(spec, dict) else raw_signals['__line__']
        if not isinstance(spec, dict):
            fail(line, f'{sig_path}: expected a mapping')
        for key in ('bus', 'message', 'signal'):
            if key not in spec:
                fail(line, f'{sig_path}: missing {key}:')
        bus = buses.get(spec['bus']) or fail(line, f'{sig_path}: unknown bus {spec["bus"]!r}; buses: {sorted(buses)}')
        try:
            msg = bus.database.get_message_by_name(spec['message'])
        except KeyError:
            fail(line, f'{sig_path}: message {spec["message"]!r} is not in {os.path.basename(bus.dbc_path)}')
        try:
            dbc_sig = msg.get_signal_by_name(spec['signal'])
        except KeyError:
            fail(line, f'{sig_path}: signal {spec["signal"]!r} is not in message {msg.name}')
        unit = str(spec.get('unit', dbc_sig.unit or ''))
        if dbc_sig.unit and unit and dbc_sig.unit != unit:
            fail(line, f'{sig_path}: unit {unit!r} disagrees with the DBC unit {dbc_sig.unit!r}')
        ros = None
        if 'ros' in spec:
            r = spec['ros']
            rline = r.get('__line__', line)
            if r.get('type') not in ROS_TYPES:
                fail(rline, f'{sig_path}: ros type {r.get("type")!r} is not one of {list(ROS_TYPES)}')
            publish = r.get('publish', 'every_frame' if r['type'] in SENSOR_TYPES else 'on_change')
            if publish not in ('every_frame', 'on_change'):
                fail(rline, f'{sig_path}: publish must be every_frame or on_change')
            ros = RosOutput(r['topic'], r['type'], r.get('field', 'data'), float(r.get('scale', 1.0)), publish)
            seen = topic_types.setdefault(ros.topic, (ros.type, rline))
            if seen[0] != ros.type:
                fail(rline, f'{sig_path}: topic {ros.topic} is {seen[0]} at line {seen[1]}, not {ros.type}')
        tool = spec.get('tool') or {}
        zone = tool.get('zone', '')
        if zone and zone not in ZONES:
            fail(line, f'{sig_path}: zone {zone!r} is not one of {ZONES}')
        actuator = None
        if 'actuator' in spec:
            a = spec['actuator']
            aline = a.get('__line__', line)
            try:
                cmd = bus.database.get_message_by_name(a['message'])
                cmd.get_signal_by_name(a['signal'])
            except KeyError:
                fail(aline, f'{sig_path}: actuator {a.get("message")}.{a.get("signal")} is not in the DBC')
            atool = a.get('tool') or {}
            if 'name' not in atool:
                fail(aline, f'{sig_path}: actuator needs tool: {{name: ...}}')
            actuator = ActuatorDef(cmd.name, a['signal'], atool['name'], atool.get('zone', ''),
                                   float(a.get('tolerance', 0.0)), float(a.get('timeout', 3.0)))
        signals[sig_path] = SignalDef(
            path=sig_path, bus=bus.name, message=msg.name, signal=dbc_sig.name, unit=unit, line=line, ros=ros,
            tool=tool.get('name'), tool_key=tool.get('key'), zone=zone, actuator=actuator,
            dbc_signal=dbc_sig, dbc_message=msg)
    extra = {k: v for k, v in doc.items() if k not in ('buses', 'signals', '__line__')}
    return SignalMap(path, buses, signals, float(doc.get('stale_factor', 5.0)), extra)


def special_raw_values(dbc_signal) -> dict[int, str]:
    """Raw values that mean 'not available' / 'no request' rather than a measurement."""
    return {int(k): str(v) for k, v in (dbc_signal.choices or {}).items() if str(v) in SPECIAL_CHOICES}
