"""`qwen-vehicle monitor`: a live table of the bridge's signals (`vehicle/state`) with freshness and validity."""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from ._ros import cli_node, domain_hint, spin_until

log = logging.getLogger(__name__)
CLEAR = '\x1b[H\x1b[2J'


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser('monitor', help='live table of signals with freshness and validity',
                              description='Show the CAN bridge\'s signal snapshot (topic vehicle/state): value, unit, '
                                          'valid, fresh, age. Mapped signals never received show as missing.')
    p.add_argument('--once', action='store_true', help='print one snapshot and exit')
    p.add_argument('--filter', default='', help='only signals whose path contains this text (case-insensitive)')
    p.add_argument('--period', type=float, default=0.5, help='refresh period in seconds')
    p.add_argument('--duration', type=float, default=0.0, help='stop after this many seconds (0 = until Ctrl-C)')
    p.add_argument('--timeout', type=float, default=10.0, help='seconds to wait for the first snapshot')
    p.add_argument('--json', action='store_true', help='print snapshots as JSON lines instead of a table')
    p.add_argument('--topic', default='vehicle/state', help='the bridge\'s state topic')
    p.add_argument('--signal-map', default='signals.yaml',
                   help='signal map for units and the list of mapped signals ("" to skip)')
    return p


def load_units(signal_map: str) -> dict[str, str]:
    """path -> unit from the signal map, or {} when it cannot be loaded (the table then shows what arrives)."""
    if not signal_map:
        return {}
    try:
        from ..core.mapping import load_signal_map
        smap = load_signal_map(signal_map)
    except Exception as exc:  # noqa: BLE001 - the monitor works without the map
        log.warning('signal map %s not loaded: %s', signal_map, exc)
        return {}
    return {path: sig.unit for path, sig in smap.signals.items()}


def format_value(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, float):
        return f'{value:.6g}'
    return str(value)


def rows(doc: dict[str, Any], units: dict[str, str], pattern: str = '') -> list[dict[str, Any]]:
    """One row per signal: the snapshot's signals plus mapped signals it lacks (missing)."""
    signals = doc.get('signals', {}) or {}
    now = doc.get('stamp')
    out = []
    for path in sorted(set(signals) | set(units)):
        if pattern and pattern.lower() not in path.lower():
            continue
        s = signals.get(path)
        if s is None:
            out.append({'path': path, 'value': None, 'unit': units.get(path, ''), 'valid': False, 'fresh': False,
                        'age_s': None, 'status': 'missing', 'reason': 'never received'})
            continue
        age = now - s['stamp'] if isinstance(now, (int, float)) and isinstance(s.get('stamp'), (int, float)) else None
        valid, fresh = bool(s.get('valid')), bool(s.get('fresh'))
        status = 'ok' if valid and fresh else ('stale' if not fresh else 'invalid')
        out.append({'path': path, 'value': s.get('value'), 'unit': units.get(path, ''), 'valid': valid,
                    'fresh': fresh, 'age_s': age, 'status': status, 'reason': s.get('reason')})
    return out


def render(table: list[dict[str, Any]]) -> str:
    header = ('SIGNAL', 'VALUE', 'UNIT', 'VALID', 'FRESH', 'AGE s', 'STATUS')
    lines = [(r['path'], format_value(r['value']), r['unit'] or '', 'yes' if r['valid'] else 'no',
              'yes' if r['fresh'] else 'no', '-' if r['age_s'] is None else f'{r["age_s"]:.2f}',
              r['status'] + (f' ({r["reason"]})' if r['reason'] and r['status'] != 'ok' else ''))
             for r in table]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h) for i, h in enumerate(header)]
    fmt = '  '.join(f'{{:<{w}}}' for w in widths[:-1]) + '  {}'
    counts = {k: sum(1 for r in table if r['status'] == k) for k in ('ok', 'stale', 'invalid', 'missing')}
    summary = ', '.join(f'{v} {k}' for k, v in counts.items())
    return '\n'.join([fmt.format(*header)] + [fmt.format(*line) for line in lines] +
                     [f'{len(table)} signals: {summary}'])


def run(args: argparse.Namespace) -> int:
    from std_msgs.msg import String

    from ..nodes import qos

    units = load_units(args.signal_map)
    latest: list[dict[str, Any]] = []

    def on_state(msg: String) -> None:
        try:
            doc = json.loads(msg.data)
        except ValueError:
            log.warning('ignoring a %s message that is not JSON', args.topic)
            return
        if isinstance(doc, dict):
            latest[:] = [doc]

    def show(doc: dict[str, Any], live: bool) -> None:
        table = rows(doc, units, args.filter)
        if args.json:
            print(json.dumps({'stamp': doc.get('stamp'), 'signals': table}, ensure_ascii=False), flush=True)
            return
        text = render(table)
        if live:
            stamp = doc.get('stamp')
            age = f', last update {time.time() - stamp:.1f} s ago' if isinstance(stamp, (int, float)) else ''
            text = time.strftime('%H:%M:%S ') + f'{args.topic}{age}\n' + text
            if sys.stdout.isatty():
                text = CLEAR + text
        print(text, flush=True)

    with cli_node('qv_monitor') as (node, executor):
        node.create_subscription(String, args.topic, on_state, qos.LATCHED_STATE)
        if not spin_until(executor, lambda: bool(latest), args.timeout):
            print(f'qwen-vehicle monitor: nothing on {node.resolve_topic_name(args.topic)} after {args.timeout:g} s '
                  f'(is can_bridge running? {domain_hint()})', file=sys.stderr)
            return 1
        if args.once:
            show(latest[0], live=False)
            return 0
        end = time.monotonic() + args.duration if args.duration > 0 else float('inf')
        while time.monotonic() < end:
            show(latest[0], live=True)
            spin_until(executor, lambda: False, min(args.period, max(end - time.monotonic(), 0.0)))
    return 0
