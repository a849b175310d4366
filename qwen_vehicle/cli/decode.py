"""`qwen-vehicle decode LOG...`: decoded signals of recorded CAN logs as CSV or JSON lines, and the frame account."""
from __future__ import annotations

import argparse
import json
import sys

from ..core.logs import FORMATS, LogFormatError, LogSource
from ..core.mapping import SignalMapError, load_signal_map
from ..core.replay import BusMap, SignalWriter, decode_logs


def add_log_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments shared by decode and replay: the logs, their format, the signal map and the bus mapping."""
    p.add_argument('logs', nargs='+', metavar='LOG',
                   help='log file(s); several are merged in timestamp order. PATH@BUS puts all frames of a '
                        'single-bus file on BUS of the signal map')
    p.add_argument('--format', choices=sorted(FORMATS), help='log format (default: from suffix and content)')
    p.add_argument('--signal-map', default='signals.yaml',
                   help='signal map YAML (a name in config/, e.g. kona_signals.yaml, or a path)')
    p.add_argument('--bus', action='append', default=[], metavar='LOGBUS=BUS',
                   help='the bus a log bus number/name is on, e.g. --bus 0=pcan --bus 1=ccan (repeatable); log '
                        'buses named like a map bus need none; with a one-bus map and a one-bus log neither')
    p.add_argument('--clock-reset', type=float, default=1.0, metavar='S',
                   help='a timestamp stepping back more than this is a clock reset (default 1 s)')
    p.add_argument('--account-json', metavar='FILE', help='also write the frame account as JSON')


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        'decode', help='decode CAN logs to CSV / JSON lines with a per-message account',
        description='Decode recorded CAN logs (candump -L and readable, Vector ASC/BLF, PCAN TRC, SavvyCAN GVRET CSV, '
                    'python-can CSV, ASAM MF4) with a signal map and its DBCs. Writes one row per signal value and '
                    'ends with an account of every frame: decoded, or skipped and why.')
    add_log_arguments(p)
    p.add_argument('-o', '--output', default='-', help='output file (default: stdout)')
    p.add_argument('--as', dest='output_format', choices=('csv', 'jsonl'), default='csv', help='output format')
    p.add_argument('--all-signals', action='store_true',
                   help='decode every signal of the DBCs (paths BUS.Message.Signal), not only the mapped ones')
    p.add_argument('--valid-only', action='store_true', help='leave out not-available and out-of-range values')
    p.add_argument('-q', '--quiet', action='store_true', help='print only the last line of the account')
    return p


def load_inputs(args: argparse.Namespace):
    smap = load_signal_map(args.signal_map, strict_dbc=False)
    bus_map = BusMap.parse(smap.buses, args.bus)
    sources = [LogSource.parse(spec, args.format) for spec in args.logs]
    return smap, bus_map, sources


def report(args: argparse.Namespace, account) -> int:
    text = account.table()
    print(text.splitlines()[-1] if args.quiet else text, file=sys.stderr)
    if args.account_json:
        with open(args.account_json, 'w', encoding='utf-8') as fh:
            json.dump(account.to_dict(), fh, indent=1)
    return 0 if account.balanced() else 1


def run(args: argparse.Namespace) -> int:
    try:
        smap, bus_map, sources = load_inputs(args)
    except (SignalMapError, ValueError, OSError) as exc:
        print(f'qwen-vehicle decode: {exc}', file=sys.stderr)
        return 2
    out = sys.stdout if args.output == '-' else open(args.output, 'w', encoding='utf-8', newline='')
    try:
        writer = SignalWriter(out, args.output_format, include_invalid=not args.valid_only)
        account = decode_logs(sources, smap, bus_map=bus_map, writer=writer, all_signals=args.all_signals,
                              reset_s=args.clock_reset)
    except (LogFormatError, OSError) as exc:
        print(f'qwen-vehicle decode: {exc}', file=sys.stderr)
        return 2
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    return report(args, account)
