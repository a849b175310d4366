"""Frame <-> signal updates for one bus, from its DBC (cantools), with an account of every frame.

`BusCodec.decode()` turns a frame into `SignalUpdate`s for the mapped signals only; frames it cannot use are
counted by reason and skipped, never raised.
"""
from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Iterable

from .mapping import SignalDef, special_raw_values

log = logging.getLogger(__name__)

# Why a frame was not decoded (frame level) or a value was marked invalid (signal level).
SKIP_UNKNOWN_ID = 'unknown_id'
SKIP_WRONG_LENGTH = 'wrong_length'
SKIP_UNKNOWN_MUX = 'unknown_mux'
SKIP_DECODE_ERROR = 'decode_error'
SKIP_ERROR_FRAME = 'error_frame'
SKIP_REMOTE_FRAME = 'remote_frame'
INVALID_SNA = 'signal_not_available'
INVALID_RANGE = 'out_of_range'

CAN_FD_LENGTHS = (0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64)


@dataclass(slots=True)
class SignalUpdate:
    path: str
    value: Any            # physical value (float/int), or the choice name for enumerations
    raw: int | float
    timestamp: float      # the frame's timestamp
    valid: bool = True
    reason: str | None = None  # why not valid
    message: str = ''


class DecodeAccount:
    """Per-message counts of decoded and skipped frames and of invalid values: every frame lands in one bucket."""

    def __init__(self) -> None:
        self.frames = 0
        self.decoded: Counter[str] = Counter()
        self.skipped: dict[str, Counter[str]] = defaultdict(Counter)   # reason -> message/ID -> count
        self.invalid: dict[str, Counter[str]] = defaultdict(Counter)   # reason -> message -> signal count

    def skip(self, reason: str, key: str) -> None:
        self.skipped[reason][key] += 1

    @property
    def skipped_total(self) -> int:
        return sum(sum(c.values()) for c in self.skipped.values())

    @property
    def decoded_total(self) -> int:
        return sum(self.decoded.values())

    def balanced(self) -> bool:
        return self.decoded_total + self.skipped_total == self.frames

    def merge(self, other: 'DecodeAccount') -> None:
        self.frames += other.frames
        self.decoded.update(other.decoded)
        for reason, c in other.skipped.items():
            self.skipped[reason].update(c)
        for reason, c in other.invalid.items():
            self.invalid[reason].update(c)

    def to_dict(self) -> dict[str, Any]:
        return {
            'frames': self.frames,
            'decoded': dict(sorted(self.decoded.items())),
            'skipped': {r: dict(sorted(c.items())) for r, c in sorted(self.skipped.items())},
            'invalid_values': {r: dict(sorted(c.items())) for r, c in sorted(self.invalid.items())},
            'balanced': self.balanced(),
        }

    def table(self) -> str:
        """A per-message account for people: decoded and skipped (by reason) for each message or ID."""
        rows: dict[str, Counter[str]] = defaultdict(Counter)
        for name, n in self.decoded.items():
            rows[name]['decoded'] += n
        for reason, c in self.skipped.items():
            for name, n in c.items():
                rows[name][reason] += n
        for reason, c in self.invalid.items():
            for name, n in c.items():
                rows[name][reason + ' (values)'] += n
        cols = sorted({k for r in rows.values() for k in r}, key=lambda k: (k != 'decoded', k))
        width = max([len(n) for n in rows] + [7])
        lines = [f'{"message":<{width}}  ' + '  '.join(f'{c:>12}' for c in cols)]
        for name in sorted(rows):
            lines.append(f'{name:<{width}}  ' + '  '.join(f'{rows[name].get(c, 0):>12}' for c in cols))
        lines.append(f'frames {self.frames}: decoded {self.decoded_total}, skipped {self.skipped_total}'
                     f' -> {"every frame accounted for" if self.balanced() else "UNBALANCED"}')
        return '\n'.join(lines)


def _is_dyadic(x: float) -> bool:
    """Whether x is exact in binary (0.5, 0.25, 3): scaled values then need no rounding."""
    return any(float(x * (1 << k)).is_integer() for k in range(0, 11))


class _SignalPlan:
    __slots__ = ('path', 'name', 'scale', 'offset', 'minimum', 'maximum', 'special', 'choices', 'mux_ids', 'is_int',
                 'round_digits')

    def __init__(self, sig_def: SignalDef) -> None:
        s = sig_def.dbc_signal
        self.path = sig_def.path
        self.name = s.name
        self.scale = s.conversion.scale
        self.offset = s.conversion.offset
        self.minimum = s.minimum if s.minimum is not None else float('-inf')
        self.maximum = s.maximum if s.maximum is not None else float('inf')
        self.special = special_raw_values(s)
        self.choices = {int(k): str(v) for k, v in (s.choices or {}).items()}
        self.mux_ids = frozenset(s.multiplexer_ids or ())
        self.is_int = self.scale == int(self.scale) and self.offset == int(self.offset) and not s.is_float
        self.round_digits = None if s.is_float or (_is_dyadic(self.scale) and _is_dyadic(self.offset)) else 9


class _MessagePlan:
    __slots__ = ('message', 'name', 'length', 'is_fd', 'signals', 'mux_name', 'mux_values', 'decode')

    def __init__(self, message, signal_defs: list[SignalDef]) -> None:
        self.message = message
        self.name = message.name
        self.length = message.length
        self.is_fd = message.is_fd
        self.signals = [_SignalPlan(d) for d in signal_defs]
        mux = next((s for s in message.signals if s.is_multiplexer), None)
        self.mux_name = mux.name if mux else None
        self.mux_values = frozenset(i for s in message.signals for i in (s.multiplexer_ids or ())) if mux else None
        self.decode = message.decode_simple if hasattr(message, 'decode_simple') else None


class BusCodec:
    """Decoder for the mapped messages of one bus."""

    def __init__(self, bus_name: str, database, signal_defs: Iterable[SignalDef]) -> None:
        self.bus_name = bus_name
        self.database = database
        by_message: dict[str, list[SignalDef]] = defaultdict(list)
        for d in signal_defs:
            by_message[d.message].append(d)
        self._plans: dict[tuple[int, bool], _MessagePlan] = {}
        for name, defs in by_message.items():
            msg = database.get_message_by_name(name)
            self._plans[(msg.frame_id, bool(msg.is_extended_frame))] = _MessagePlan(msg, defs)
        self.account = DecodeAccount()

    @property
    def messages(self) -> list:
        return [p.message for p in self._plans.values()]

    def can_filters(self) -> list[dict[str, Any]]:
        """python-can receive filters that pass only the mapped messages."""
        return [{'can_id': fid, 'can_mask': 0x1FFFFFFF if ext else 0x7FF, 'extended': ext} for fid, ext in self._plans]

    def decode(self, arbitration_id: int, data: bytes, timestamp: float = 0.0, is_extended: bool | None = None,
               is_error_frame: bool = False, is_remote_frame: bool = False) -> list[SignalUpdate]:
        account = self.account
        account.frames += 1
        if is_error_frame:
            account.skip(SKIP_ERROR_FRAME, 'error_frame')
            return []
        if is_remote_frame:
            account.skip(SKIP_REMOTE_FRAME, f'0x{arbitration_id:X}')
            return []
        ext = arbitration_id > 0x7FF if is_extended is None else bool(is_extended)
        plan = self._plans.get((arbitration_id, ext))
        if plan is None:
            account.skip(SKIP_UNKNOWN_ID, f'0x{arbitration_id:X}')
            return []
        if len(data) != plan.length:
            account.skip(SKIP_WRONG_LENGTH, plan.name)
            return []
        try:
            raw = plan.decode(data, False, False, False, True) if plan.decode else \
                plan.message.decode(data, decode_choices=False, scaling=False)
        except Exception as exc:  # noqa: BLE001 - cantools raises DecodeError and friends
            if plan.mux_name is not None and 'multiplexer' in str(exc).lower():
                account.skip(SKIP_UNKNOWN_MUX, plan.name)
            else:
                account.skip(SKIP_DECODE_ERROR, plan.name)
                log.debug('decode error %s: %s', plan.name, exc)
            return []
        mux_value = raw.get(plan.mux_name) if plan.mux_name is not None else None
        if mux_value is not None and mux_value not in plan.mux_values:
            account.skip(SKIP_UNKNOWN_MUX, plan.name)
            return []
        account.decoded[plan.name] += 1
        updates = []
        for sp in plan.signals:
            if sp.mux_ids and mux_value not in sp.mux_ids:
                continue
            rv = raw.get(sp.name)
            if rv is None:
                continue
            special = sp.special.get(rv)
            if special is not None:
                account.invalid[INVALID_SNA][plan.name] += 1
                updates.append(SignalUpdate(sp.path, special, rv, timestamp, False, INVALID_SNA, plan.name))
                continue
            phys = rv * sp.scale + sp.offset
            if sp.is_int:
                phys = int(phys)
            elif sp.round_digits is not None:
                phys = round(phys, sp.round_digits)
            if phys < sp.minimum or phys > sp.maximum:
                account.invalid[INVALID_RANGE][plan.name] += 1
                updates.append(SignalUpdate(sp.path, phys, rv, timestamp, False, INVALID_RANGE, plan.name))
                continue
            label = sp.choices.get(rv) if sp.choices else None
            updates.append(SignalUpdate(sp.path, phys if label is None else label, rv, timestamp, True, None,
                                        plan.name))
        return updates

    def decode_message(self, msg) -> list[SignalUpdate]:
        """Decode a python-can Message."""
        return self.decode(msg.arbitration_id, bytes(msg.data), msg.timestamp, msg.is_extended_id,
                           msg.is_error_frame, msg.is_remote_frame)


def physical_to_raw(dbc_signal, value) -> int:
    """A physical value (or a choice name) as the raw integer the DBC signal carries."""
    if isinstance(value, str):
        for raw, name in (dbc_signal.choices or {}).items():
            if str(name) == value:
                return int(raw)
        raise ValueError(f'{dbc_signal.name}: {value!r} is not one of {[str(v) for v in dbc_signal.choices.values()]}')
    if isinstance(value, bool):
        value = int(value)
    raw = (value - dbc_signal.conversion.offset) / dbc_signal.conversion.scale
    return int(round(raw))
