"""`qwen-vehicle signals`: the mapped signals (bus, DBC, unit, range, ROS topic, actuator) and the generated tools."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser('signals', help='list the mapped signals and the generated assistant tools',
                              description='Load and validate a signal map against its DBCs, then list its signals '
                                          'and the tools the assistant generates from it.')
    p.add_argument('--signal-map', default='signals.yaml', help='signal map YAML (a name in config/ or a path)')
    p.add_argument('--bus', help='only this bus')
    p.add_argument('--no-tools', action='store_true', help='list the signals only')
    p.add_argument('--json', action='store_true', help='print JSON {signals: [...], tools: [...]}')
    return p


def _range(sig) -> str:
    """DBC range and value table, e.g. '-40..85 SNA' or 'Off|On|SNA'."""
    d = sig.dbc_signal
    parts = []
    if d.minimum is not None and d.maximum is not None and not (d.choices and d.minimum == 0 and
                                                                 d.maximum == max(int(k) for k in d.choices)):
        parts.append(f'{d.minimum:g}..{d.maximum:g}')
    if d.choices:
        parts.append('|'.join(str(v) for v in d.choices.values()))
    return ' '.join(parts)


def signal_rows(smap, bus: str | None = None) -> list[dict[str, Any]]:
    out = []
    for sig in smap.signals.values():
        if bus and sig.bus != bus:
            continue
        out.append({
            'path': sig.path, 'bus': sig.bus, 'message': sig.message, 'signal': sig.signal,
            'frame_id': f'0x{sig.dbc_message.frame_id:X}', 'unit': sig.unit, 'range': _range(sig),
            'cycle_ms': sig.dbc_message.cycle_time,
            'ros_topic': sig.ros.topic if sig.ros else None, 'ros_type': sig.ros.type if sig.ros else None,
            'read_tool': sig.tool, 'zone': sig.zone or None,
            'set_tool': sig.actuator.tool if sig.actuator else None,
            'command': f'{sig.actuator.message}.{sig.actuator.signal}' if sig.actuator else None,
        })
    return out


def load_tools(smap) -> tuple[list[Any] | None, str | None]:
    try:
        from ..core.tools import all_tools
    except ImportError as exc:
        return None, f'tool generation unavailable ({exc})'
    try:
        return list(all_tools(smap)), None
    except Exception as exc:  # noqa: BLE001 - still list the signals
        return None, f'tool generation failed: {type(exc).__name__}: {exc}'


def _table(header: tuple[str, ...], lines: list[tuple[str, ...]]) -> str:
    widths = [max([len(h)] + [len(line[i]) for line in lines]) for i, h in enumerate(header)]
    fmt = '  '.join(f'{{:<{w}}}' for w in widths[:-1]) + '  {}'
    return '\n'.join(fmt.format(*row) for row in [header] + lines)


def _params(spec) -> str:
    props = spec.parameters.get('properties', {})
    required = set(spec.parameters.get('required', []))
    parts = []
    for name, sub in props.items():
        if 'enum' in sub:
            kind = '|'.join(map(str, sub['enum']))
        elif 'minimum' in sub and 'maximum' in sub:
            kind = f'{sub.get("type")} {sub["minimum"]:g}..{sub["maximum"]:g}{" " + sub["x-unit"] if sub.get("x-unit") else ""}'
        else:
            kind = sub.get('type', 'any')
        parts.append(f'{name}{"" if name in required else "?"}: {kind}')
    return ', '.join(parts)


def run(args: argparse.Namespace) -> int:
    from ..core.mapping import SignalMapError, load_signal_map

    try:
        smap = load_signal_map(args.signal_map)
    except (SignalMapError, FileNotFoundError, OSError) as exc:
        print(f'qwen-vehicle signals: {exc}', file=sys.stderr)
        return 1
    if args.bus and args.bus not in smap.buses:
        print(f'qwen-vehicle signals: no bus {args.bus!r}; buses: {sorted(smap.buses)}', file=sys.stderr)
        return 1
    rows = signal_rows(smap, args.bus)
    tools, why = (None, None) if args.no_tools else load_tools(smap)
    if args.json:
        doc: dict[str, Any] = {'signal_map': smap.source,
                               'buses': {n: {'dbc': b.dbc_path, 'fd': b.fd} for n, b in smap.buses.items()},
                               'signals': rows}
        if not args.no_tools:
            doc['tools'] = [dict(spec.to_openai(), kind=spec.kind, risk=spec.risk,
                                 needs_confirmation=spec.needs_confirmation) for spec in tools or []]
            if why:
                doc['tools_unavailable'] = why
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return 0
    buses = ', '.join(f'{n} ({b.dbc_path.rsplit("/", 1)[-1]}{", FD" if b.fd else ""})' for n, b in smap.buses.items())
    print(f'signal map {smap.source}: {len(rows)} signals on {buses}\n')
    print(_table(('SIGNAL', 'BUS', 'DBC MESSAGE.SIGNAL', 'UNIT', 'RANGE', 'ROS TOPIC (TYPE)', 'SET TOOL'),
                 [(r['path'], r['bus'], f'{r["message"]}.{r["signal"]} ({r["frame_id"]})', r['unit'] or '',
                   r['range'], f'{r["ros_topic"]} ({r["ros_type"]})' if r['ros_topic'] else '-',
                   (r['set_tool'] + (f' zone={r["zone"]}' if r['zone'] else '')) if r['set_tool'] else '-')
                  for r in rows]))
    if args.no_tools:
        return 0
    if tools is None:
        print(f'\ntools: {why}')
        return 0
    print(f'\n{len(tools)} tools:')
    print(_table(('TOOL', 'KIND', 'CONFIRM', 'ARGUMENTS'),
                 [(t.name, t.kind, 'yes' if t.needs_confirmation else '', _params(t)) for t in tools]))
    return 0
