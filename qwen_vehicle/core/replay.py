"""Decode recorded CAN logs with a signal map, or replay them onto python-can buses; account for every frame.

`LogDecoder` turns log frames into `SignalUpdate`s with one `BusCodec` per mapped bus; `Replayer` sends log frames
onto buses at real time, scaled, or as fast as possible. Both end with a `LogAccount`: per message decoded or skipped
and why, frames on buses the map does not name, frames that could not be sent - adding up to the frames read.
"""
from __future__ import annotations

import csv
import json
import logging
import math
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Any, Callable, Iterable, Iterator

import can

from .codec import BusCodec, DecodeAccount, SignalUpdate
from .logs import LogFrame, LogSource, LogStats, read_logs
from .mapping import SignalDef, SignalMap

log = logging.getLogger(__name__)

SKIP_UNMAPPED_BUS = 'unmapped_bus'
SKIP_SEND_FAILED = 'send_failed'
MIN_SLEEP_S = 0.0005     # frames due sooner than this go out at once (sleep() costs more than it waits)


class BusMap:
    """Log bus (as the log names it: '0', 'can1', ...) -> bus of the signal map.

    Explicit entries first; then a log bus named like a map bus; then, when the map has a single bus and the log a
    single bus, that one. Anything else is left unmapped (and counted, never guessed).
    """

    def __init__(self, map_buses: Iterable[str], explicit: dict[str, str] | None = None) -> None:
        self.map_buses = list(map_buses)
        self.explicit = {str(k): v for k, v in (explicit or {}).items()}
        for key, bus in self.explicit.items():
            if bus not in self.map_buses:
                raise ValueError(f'log bus {key!r} -> {bus!r}: no such bus in the signal map; buses: {self.map_buses}')
        self._resolved: dict[str, str | None] = dict(self.explicit)
        self._auto_used = False

    @classmethod
    def parse(cls, map_buses: Iterable[str], specs: Iterable[str]) -> 'BusMap':
        """From `KEY=BUS` strings (e.g. '0=pcan', 'can1=body')."""
        explicit = {}
        for spec in specs:
            key, sep, bus = spec.partition('=')
            if not sep or not key or not bus:
                raise ValueError(f'bus mapping {spec!r}: expected LOGBUS=BUS, e.g. 0=pcan')
            explicit[key.strip()] = bus.strip()
        return cls(map_buses, explicit)

    def resolve(self, channel: str) -> str | None:
        try:
            return self._resolved[channel]
        except KeyError:
            pass
        bus: str | None = None
        if channel in self.map_buses:
            bus = channel
        elif len(self.map_buses) == 1 and not self._auto_used and not self.explicit:
            bus = self.map_buses[0]
            self._auto_used = True
            log.info('log bus %r -> %r (the signal map has one bus)', channel, bus)
        else:
            log.warning('log bus %r is not mapped to a bus of the signal map %s; its frames are counted and skipped '
                        '(map it with --bus %s=BUS)', channel, self.map_buses, channel or '""')
        self._resolved[channel] = bus
        return bus

    def items(self) -> dict[str, str | None]:
        return dict(self._resolved)


@dataclass
class LogAccount:
    """Every frame read from the logs lands in exactly one place: a bus codec's account (decoded or skipped with a
    reason), unmapped_bus, or (replay) send_failed."""
    stats: LogStats
    codecs: dict[str, BusCodec]
    unmapped: Counter = field(default_factory=Counter)        # log bus -> frames
    sent: Counter = field(default_factory=Counter)            # bus -> frames sent (replay)
    send_failed: Counter = field(default_factory=Counter)     # bus -> frames not sent (replay)
    send_errors: list[str] = field(default_factory=list)
    bus_map: dict[str, str | None] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.stats.frames_total

    def bus_accounts(self) -> dict[str, DecodeAccount]:
        return {name: c.account for name, c in self.codecs.items()}

    def balanced(self) -> bool:
        decoded = sum(a.frames for a in self.bus_accounts().values())
        replayed = not (self.sent or self.send_failed) or \
            sum(self.sent.values()) + sum(self.send_failed.values()) == decoded
        return (all(a.balanced() for a in self.bus_accounts().values()) and replayed
                and decoded + sum(self.unmapped.values()) == self.frames)

    def to_dict(self) -> dict[str, Any]:
        return {
            'frames': self.frames,
            'log': self.stats.to_dict(),
            'bus_map': self.bus_map,
            'buses': {name: a.to_dict() for name, a in self.bus_accounts().items()},
            SKIP_UNMAPPED_BUS: dict(self.unmapped),
            'sent': dict(self.sent), SKIP_SEND_FAILED: dict(self.send_failed), 'send_errors': self.send_errors[:5],
            'balanced': self.balanced(),
        }

    def table(self) -> str:
        parts = [self.stats.summary()]
        for name, acc in self.bus_accounts().items():
            if acc.frames:
                parts.append(f'-- bus {name} --\n{acc.table()}')
        for channel, n in sorted(self.unmapped.items()):
            parts.append(f'log bus {channel!r}: {n} frames on a bus the signal map does not name ({SKIP_UNMAPPED_BUS})')
        if self.sent or self.send_failed:
            parts.append('sent: ' + ', '.join(f'{b} {n}' for b, n in sorted(self.sent.items()))
                         + ''.join(f'; {SKIP_SEND_FAILED} on {b}: {n}' for b, n in sorted(self.send_failed.items())))
            for e in self.send_errors[:3]:
                parts.append(f'  send error: {e}')
        total = sum(a.frames for a in self.bus_accounts().values()) + sum(self.unmapped.values())
        parts.append(f'total: {self.frames} frames read, {total} accounted for -> '
                     f'{"every frame accounted for" if self.balanced() else "UNBALANCED"}')
        return '\n'.join(parts)


def all_signal_defs(bus_name: str, database) -> list[SignalDef]:
    """Every signal of a DBC as a SignalDef named `<bus>.<Message>.<Signal>` (decode without a signal map)."""
    defs = []
    for msg in database.messages:
        for sig in msg.signals:
            defs.append(SignalDef(path=f'{bus_name}.{msg.name}.{sig.name}', bus=bus_name, message=msg.name,
                                  signal=sig.name, unit=sig.unit or '', line=0, dbc_signal=sig, dbc_message=msg))
    return defs


def make_codecs(signal_map: SignalMap, *, all_signals: bool = False) -> dict[str, BusCodec]:
    codecs = {}
    for name, bus in signal_map.buses.items():
        defs = all_signal_defs(name, bus.database) if all_signals else signal_map.by_bus(name)
        codecs[name] = BusCodec(name, bus.database, defs)
    return codecs


class LogDecoder:
    """Log frames -> (bus, SignalUpdate list), accounting for every frame."""

    def __init__(self, signal_map: SignalMap, bus_map: BusMap | None = None, *, all_signals: bool = False) -> None:
        self.map = signal_map
        self.bus_map = bus_map or BusMap(signal_map.buses)
        self.codecs = make_codecs(signal_map, all_signals=all_signals)
        self.stats = LogStats()
        self.account = LogAccount(self.stats, self.codecs)

    def frames(self, sources: Iterable[LogSource | str], **kwargs: Any) -> Iterator[tuple[LogFrame, str | None]]:
        """Log frames with the map bus each belongs to (None: unmapped, already counted)."""
        for frame in read_logs(sources, self.stats, **kwargs):
            bus = self.bus_map.resolve(frame.channel)
            if bus is None:
                self.account.unmapped[frame.channel] += 1
            yield frame, bus
        self.account.bus_map = self.bus_map.items()

    def decode(self, sources: Iterable[LogSource | str], **kwargs: Any
               ) -> Iterator[tuple[LogFrame, str, list[SignalUpdate]]]:
        codecs = self.codecs
        for frame, bus in self.frames(sources, **kwargs):
            if bus is None:
                continue
            yield frame, bus, codecs[bus].decode_message(frame.msg)


# ---- output -----------------------------------------------------------------------------------------------------
FIELDS = ('timestamp', 'bus', 'message', 'path', 'value', 'raw', 'valid', 'reason')


class SignalWriter:
    """Decoded signals to CSV or JSON lines, one row per signal value."""

    def __init__(self, out: IO[str], fmt: str = 'csv', *, include_invalid: bool = True) -> None:
        if fmt not in ('csv', 'jsonl'):
            raise ValueError(f'output format {fmt!r}: use csv or jsonl')
        self.out, self.fmt, self.include_invalid = out, fmt, include_invalid
        self.rows = 0
        self._csv = csv.writer(out, lineterminator='\n') if fmt == 'csv' else None
        if self._csv is not None:
            self._csv.writerow(FIELDS)

    def write(self, bus: str, updates: list[SignalUpdate]) -> None:
        for u in updates:
            if not u.valid and not self.include_invalid:
                continue
            value = u.value
            if isinstance(value, float) and not math.isfinite(value):
                value = str(value)
            if self._csv is not None:
                self._csv.writerow((f'{u.timestamp:.6f}', bus, u.message, u.path, value, u.raw, int(u.valid),
                                    u.reason or ''))
            else:
                self.out.write(json.dumps({'timestamp': round(u.timestamp, 6), 'bus': bus, 'message': u.message,
                                           'path': u.path, 'value': value, 'raw': u.raw, 'valid': u.valid,
                                           'reason': u.reason}) + '\n')
            self.rows += 1


def decode_logs(sources: Iterable[LogSource | str], signal_map: SignalMap, *, bus_map: BusMap | None = None,
                writer: SignalWriter | None = None, all_signals: bool = False,
                on_updates: Callable[[LogFrame, str, list[SignalUpdate]], None] | None = None,
                **read_kwargs: Any) -> LogAccount:
    """Decode every frame of the logs; write the signals; return the account."""
    dec = LogDecoder(signal_map, bus_map, all_signals=all_signals)
    for frame, bus, updates in dec.decode(sources, **read_kwargs):
        if updates:
            if writer is not None:
                writer.write(bus, updates)
            if on_updates is not None:
                on_updates(frame, bus, updates)
    return dec.account


# ---- replay -----------------------------------------------------------------------------------------------------
@dataclass
class ReplayResult:
    account: LogAccount
    duration_s: float            # wall time of the replay
    log_span_s: float            # log time covered
    max_lag_s: float             # how far behind the schedule sending fell at worst

    def summary(self) -> str:
        rate = self.account.frames / self.duration_s if self.duration_s > 0 else float('inf')
        return (f'replayed {sum(self.account.sent.values())} frames of {self.account.frames} in '
                f'{self.duration_s:.3f} s ({rate:.0f} frames/s; log span {self.log_span_s:.3f} s; worst lag '
                f'{self.max_lag_s * 1000:.1f} ms)')


class Replayer:
    """Send log frames onto python-can buses, one per map bus, paced by the log's timestamps.

    speed: 1.0 real time, k > 0 k times faster, 0/None as fast as possible. max_gap: silences in the log longer than
    this are shortened to it. Every frame is also decoded with the map, so the account shows what a bridge decodes.
    """

    def __init__(self, signal_map: SignalMap, buses: dict[str, can.BusABC], bus_map: BusMap | None = None, *,
                 speed: float | None = 1.0, max_gap: float | None = None, loop: int = 1,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 stop: Callable[[], bool] | None = None) -> None:
        if speed is not None and speed < 0:
            raise ValueError('speed must be >= 0 (0 = as fast as possible)')
        missing = [b for b in buses if b not in signal_map.buses]
        if missing:
            raise ValueError(f'buses {missing} are not in the signal map; buses: {list(signal_map.buses)}')
        self.map = signal_map
        self.buses = buses
        self.decoder = LogDecoder(signal_map, bus_map)
        self.speed = speed or 0.0
        self.max_gap = max_gap
        self.clock, self.sleep = clock, sleep
        self.stop = stop or (lambda: False)

    @property
    def account(self) -> LogAccount:
        return self.decoder.account

    def run(self, sources: Iterable[LogSource | str], **read_kwargs: Any) -> ReplayResult:
        acc = self.account
        codecs = self.decoder.codecs
        start = self.clock()
        first_ts: float | None = None
        prev_ts = 0.0
        schedule = 0.0          # log seconds elapsed, with long gaps shortened
        max_lag = 0.0
        last_ts = 0.0
        for frame, bus in self.decoder.frames(sources, **read_kwargs):
            if self.stop():
                break
            ts = frame.timestamp
            if first_ts is None:
                first_ts = prev_ts = ts
            gap = max(ts - prev_ts, 0.0)
            if self.max_gap is not None:
                gap = min(gap, self.max_gap)
            schedule += gap
            prev_ts = ts
            last_ts = max(last_ts, ts)
            if bus is None:
                continue
            codecs[bus].decode_message(frame.msg)
            target = self.buses.get(bus)
            if target is None:
                acc.send_failed[bus] += 1
                if len(acc.send_errors) < 20:
                    acc.send_errors.append(f'bus {bus}: no bus to send on')
                continue
            if self.speed > 0:
                due = start + schedule / self.speed
                now = self.clock()
                if due - now >= MIN_SLEEP_S:
                    self.sleep(due - now)
                elif now > due:
                    max_lag = max(max_lag, now - due)
            msg = frame.msg
            msg.channel = None
            try:
                target.send(msg)
                acc.sent[bus] += 1
            except (can.CanError, ValueError, TypeError, OSError) as exc:
                acc.send_failed[bus] += 1
                if len(acc.send_errors) < 20:
                    acc.send_errors.append(f'bus {bus} frame {frame.index} 0x{msg.arbitration_id:X}: {exc}')
        span = (last_ts - first_ts) if first_ts is not None else 0.0
        return ReplayResult(acc, self.clock() - start, span, max_lag)
