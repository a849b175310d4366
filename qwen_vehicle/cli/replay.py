"""`qwen-vehicle replay LOG...`: put recorded CAN logs onto buses (e.g. the ones a can_bridge listens on)."""
from __future__ import annotations

import argparse
import sys

from ..core.bus import BusConfig
from ..core.logs import LogFormatError
from ..core.mapping import SignalMapError
from ..core.replay import Replayer
from .decode import add_log_arguments, load_inputs, report


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        'replay', help='replay CAN logs onto python-can buses (real time, scaled or as fast as possible)',
        description='Send the frames of recorded CAN logs onto python-can buses, one per bus of the signal map, '
                    'paced by the log timestamps. Ends with the account of every frame (what a bridge decodes, '
                    'what was skipped and why, what could not be sent).')
    add_log_arguments(p)
    p.add_argument('--interface', default='socketcan', help='python-can interface (socketcan, pcan, vector, '
                                                            'virtual, ...; default socketcan)')
    p.add_argument('--channel', action='append', default=[], metavar='[BUS=]CHANNEL',
                   help='channel of a map bus, e.g. --channel pcan=vcan0 (repeatable); a bare CHANNEL for a one-bus '
                        'map. Buses without one get the bridge default qv_<bus>')
    p.add_argument('--bitrate', type=int, default=500000, help='bit rate for hardware interfaces')
    p.add_argument('--fd', action='store_true', help='open the buses as CAN FD')
    speed = p.add_mutually_exclusive_group()
    speed.add_argument('--speed', type=float, default=1.0, help='1 = real time, 10 = ten times faster (default 1)')
    speed.add_argument('--fast', action='store_true', help='as fast as possible')
    p.add_argument('--max-gap', type=float, metavar='S', help='shorten silences in the log to at most S seconds')
    p.add_argument('-q', '--quiet', action='store_true', help='print only the last line of the account')
    return p


def bus_configs(args: argparse.Namespace, map_buses: list[str], wanted: set[str]) -> list[BusConfig]:
    channels: dict[str, str] = {}
    for spec in args.channel:
        bus, sep, channel = spec.partition('=')
        if not sep:
            if len(map_buses) != 1:
                raise ValueError(f'--channel {spec}: name the bus (BUS=CHANNEL); buses: {map_buses}')
            bus, channel = map_buses[0], spec
        if bus not in map_buses:
            raise ValueError(f'--channel {spec}: no bus {bus!r} in the signal map; buses: {map_buses}')
        channels[bus] = channel
    names = [b for b in map_buses if b in channels or b in wanted or (not channels and not wanted)]
    return [BusConfig(b, interface=args.interface, channel=channels.get(b, ''), bitrate=args.bitrate, fd=args.fd)
            for b in names]


def run(args: argparse.Namespace) -> int:
    opened = {}
    try:
        smap, bus_map, sources = load_inputs(args)
        wanted = set(bus_map.explicit.values()) | {s.channel for s in sources if s.channel in smap.buses}
        for cfg in bus_configs(args, list(smap.buses), wanted):
            opened[cfg.name] = cfg.open()
        replayer = Replayer(smap, opened, bus_map, speed=0.0 if args.fast else args.speed, max_gap=args.max_gap)
        print(f'replaying onto {", ".join(f"{n}={c.channel_info}" for n, c in opened.items())}', file=sys.stderr)
        result = replayer.run(sources, reset_s=args.clock_reset)
    except (SignalMapError, LogFormatError, ValueError, OSError, ImportError) as exc:
        print(f'qwen-vehicle replay: {exc}', file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - python-can interface errors (CanInterfaceNotImplementedError, ...)
        print(f'qwen-vehicle replay: {type(exc).__name__}: {exc}', file=sys.stderr)
        return 2
    finally:
        for bus in opened.values():
            bus.shutdown()
    print(result.summary(), file=sys.stderr)
    return report(args, result.account)
