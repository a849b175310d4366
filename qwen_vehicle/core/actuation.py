"""Actuation: validated requests -> whole command frames sent cyclically with a time-to-live -> read-back.

A request is validated against the DBC (range, choices) and a policy hook, written into the command message's
frame (other signals keep their last commanded or DBC start value), and sent at the message's cycle time with
its alive counter and checksum. After the time-to-live the signal reverts to its start value ("no request").
The request counts as done only when the matching status signal reaches the target before the timeout.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import can

from . import e2e
from .codec import physical_to_raw
from .mapping import SPECIAL_CHOICES, SignalDef, SignalMap
from .signals import SignalStore

log = logging.getLogger(__name__)

PolicyHook = Callable[[str, Any, str], 'tuple[bool, str | None]']  # (path, value, source) -> (allowed, reason)


class ActuationError(ValueError):
    """A request refused before anything was sent; str() is the reason."""


@dataclass
class CommandEvent:
    request_id: str
    path: str
    value: Any
    status: str                 # accepted | refused | done | timeout | superseded | cancelled
    reason: str | None = None
    source: str = ''
    requested_at: float = 0.0   # wall clock
    elapsed_s: float | None = None
    readback: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {'request_id': self.request_id, 'path': self.path, 'value': self.value, 'status': self.status,
                'reason': self.reason, 'source': self.source, 'requested_at': self.requested_at,
                'elapsed_s': self.elapsed_s, 'readback': self.readback}


@dataclass
class CommandHandle:
    """A pending request; wait() returns its final event (done, timeout, superseded, cancelled or refused)."""
    event: CommandEvent
    _finished: threading.Event = field(default_factory=threading.Event)
    _t0: float = 0.0
    _deadline: float = 0.0
    _target: Any = None
    _sent_after: float = 0.0

    def wait(self, timeout: float | None = None) -> CommandEvent:
        self._finished.wait(timeout)
        return self.event

    @property
    def finished(self) -> bool:
        return self._finished.is_set()


def value_kind(cmd_signal) -> tuple[str, list[str]]:
    """How a command signal's value is given: ('bool'|'enum'|'integer'|'number', enum names)."""
    names = [str(v) for v in (cmd_signal.choices or {}).values() if str(v) not in SPECIAL_CHOICES]
    if names and sorted(names) == ['Off', 'On']:
        return 'bool', names
    if names:
        return 'enum', names
    conv = cmd_signal.conversion
    if conv.scale == int(conv.scale) and conv.offset == int(conv.offset) and not cmd_signal.is_float:
        return 'integer', []
    return 'number', []


class CommandChannel:
    """One command message: the current raw values, their expiry, counter and checksum."""

    def __init__(self, message, send: Callable[[can.Message], None], *, ttl: float, trailing_frames: int = 3,
                 is_fd: bool = False) -> None:
        self.message = message
        self.send = send
        self.ttl = ttl
        self.period = (message.cycle_time or 100) / 1000.0
        self.is_fd = is_fd or message.is_fd
        self.raw = {s.name: int(s.raw_initial or 0) for s in message.signals}
        self.initial = dict(self.raw)
        self.expiry: dict[str, float] = {}
        self.counter_sig, self.checksum_sig = e2e.find_e2e_signals(message)
        self.checksum_index = e2e.checksum_byte_index(self.checksum_sig) if self.checksum_sig else None
        self.counter = 0
        self.trailing = 0
        self.trailing_frames = trailing_frames
        self.next_due = 0.0
        self.lock = threading.Lock()

    def set(self, signal: str, raw: int, now: float) -> None:
        with self.lock:
            self.raw[signal] = raw
            self.expiry[signal] = now + self.ttl
            self.next_due = now

    def active_locked(self, now: float) -> bool:
        return any(t > now for t in self.expiry.values())

    def revert_expired(self, now: float) -> list[str]:
        with self.lock:
            gone = [s for s, t in self.expiry.items() if t <= now]
            for s in gone:
                self.raw[s] = self.initial[s]
                del self.expiry[s]
            if gone:
                self.trailing = self.trailing_frames
            return gone

    def revert_all(self) -> None:
        with self.lock:
            self.raw = dict(self.initial)
            self.expiry.clear()

    def compose(self) -> bytes:
        with self.lock:
            values = dict(self.raw)
            if self.counter_sig is not None:
                values[self.counter_sig.name] = self.counter
                self.counter = (self.counter + 1) % (1 << self.counter_sig.length)
            if self.checksum_sig is not None:
                values[self.checksum_sig.name] = 0
        data = bytearray(self.message.encode(values, scaling=False, padding=False, strict=False))
        if self.checksum_index is not None:
            data[self.checksum_index] = e2e.compute_checksum(bytes(data), self.message.frame_id,
                                                             self.checksum_index)
        return bytes(data)

    def frame(self) -> can.Message:
        return can.Message(arbitration_id=self.message.frame_id, is_extended_id=self.message.is_extended_frame,
                           data=self.compose(), is_fd=self.is_fd, timestamp=time.time())

    def due(self, now: float) -> bool:
        """Whether a frame should go out now: while a request lives, then a few no-request frames."""
        with self.lock:
            active = self.active_locked(now)
        return (active or self.trailing > 0) and now >= self.next_due

    def send_due(self, now: float) -> bool:
        if not self.due(now):
            return False
        self.send(self.frame())
        with self.lock:
            if not self.active_locked(now) and self.trailing > 0:
                self.trailing -= 1
            self.next_due = now + self.period
        return True


class Actuator:
    """Validates, sends and reads back requests for the actuatable signals of a signal map."""

    def __init__(self, signal_map: SignalMap, senders: dict[str, Callable[[can.Message], None]],
                 store: SignalStore, *, policy: PolicyHook | None = None, ttl: float = 2.0,
                 trailing_frames: int = 3, on_event: Callable[[CommandEvent], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.map = signal_map
        self.store = store
        self.policy = policy
        self.on_event = on_event
        self.clock = clock
        self.channels: dict[tuple[str, str], CommandChannel] = {}
        for sig in signal_map.actuatable():
            key = (sig.bus, sig.actuator.message)
            if key not in self.channels:
                msg = signal_map.command_message(sig)
                self.channels[key] = CommandChannel(msg, senders[sig.bus], ttl=ttl, trailing_frames=trailing_frames,
                                                    is_fd=signal_map.buses[sig.bus].fd and msg.is_fd)
        self._pending: dict[str, CommandHandle] = {}   # path -> handle
        self._lock = threading.Lock()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    # ---- validation -------------------------------------------------------------------------------------
    def signal(self, path: str) -> SignalDef:
        sig = self.map.signals.get(path)
        if sig is None or sig.actuator is None:
            valid = sorted(s.path for s in self.map.actuatable())
            raise ActuationError(f'{path} is not actuatable; actuatable signals: {valid}')
        return sig

    def command_signal(self, sig: SignalDef):
        return self.channels[(sig.bus, sig.actuator.message)].message.get_signal_by_name(sig.actuator.signal)

    def normalize(self, path: str, value: Any) -> tuple[Any, int]:
        """(the value as it will be read back, the raw command value) or ActuationError with the reason."""
        sig = self.signal(path)
        cmd = self.command_signal(sig)
        kind, names = value_kind(cmd)
        unit = f' {cmd.unit}' if cmd.unit else ''
        if kind == 'bool':
            if isinstance(value, str) and value.strip().capitalize() in ('On', 'Off'):
                value = value.strip().capitalize() == 'On'
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
                value = bool(value)
            if not isinstance(value, bool):
                raise ActuationError(f'{path}: expected on/off (true/false), got {value!r}')
            label = 'On' if value else 'Off'
            return label, physical_to_raw(cmd, label)
        if kind == 'enum':
            match = next((n for n in names if isinstance(value, str) and n.lower() == value.strip().lower()), None)
            if match is None:
                raise ActuationError(f'{path}: {value!r} is not one of {names}')
            return match, physical_to_raw(cmd, match)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ActuationError(f'{path}: expected a number, got {value!r}') from None
        if value != value:  # NaN
            raise ActuationError(f'{path}: not a number')
        low, high = cmd.minimum, cmd.maximum
        if (low is not None and value < low) or (high is not None and value > high):
            raise ActuationError(f'{path}: {value:g}{unit} is outside the allowed range {low:g}..{high:g}{unit}')
        raw = physical_to_raw(cmd, value)
        applied = raw * cmd.conversion.scale + cmd.conversion.offset
        applied = int(applied) if kind == 'integer' else round(applied, 6)
        return applied, raw

    # ---- requests ---------------------------------------------------------------------------------------
    def request(self, path: str, value: Any, *, source: str = '', request_id: str | None = None) -> CommandHandle:
        """Validate and send; the handle finishes as done, timeout, superseded or (at once) refused."""
        rid = request_id or uuid.uuid4().hex[:12]
        event = CommandEvent(rid, path, value, 'accepted', source=source, requested_at=time.time())
        handle = CommandHandle(event)
        try:
            if self._closed:
                raise ActuationError('actuation is shut down')
            target, raw = self.normalize(path, value)
            if self.policy is not None:
                allowed, reason = self.policy(path, target, source)
                if not allowed:
                    raise ActuationError(reason or 'refused by the safety policy')
        except ActuationError as exc:
            event.status, event.reason = 'refused', str(exc)
            handle._finished.set()
            self._emit(event)
            log.info('actuation %s %s=%r refused: %s', rid, path, value, exc)
            return handle
        sig = self.map.signals[path]
        now = self.clock()
        handle._t0, handle._deadline, handle._target = now, now + sig.actuator.timeout, target
        handle._sent_after = now
        event.value = target
        with self._lock:
            old = self._pending.pop(path, None)
            self._pending[path] = handle
        if old is not None and not old.finished:
            self._finish(old, 'superseded', f'superseded by request {rid}')
        channel = self.channels[(sig.bus, sig.actuator.message)]
        channel.set(sig.actuator.signal, raw, now)
        log.info('actuation %s %s=%r accepted (source=%s)', rid, path, target, source or '-')
        self._emit(event)
        channel.send_due(now)
        return handle

    def _readback_reached(self, sig: SignalDef, handle: CommandHandle) -> tuple[bool, Any]:
        st = self.store.get(sig.path)
        if st is None or not st.valid or st.received < handle._sent_after:
            return False, None if st is None else st.value
        target = handle._target
        if isinstance(target, str):
            return st.value == target, st.value
        try:
            return abs(float(st.value) - float(target)) <= max(sig.actuator.tolerance, 1e-6), st.value
        except (TypeError, ValueError):
            return False, st.value

    def tick(self, now: float | None = None) -> None:
        now = self.clock() if now is None else now
        for channel in self.channels.values():
            channel.revert_expired(now)
            try:
                channel.send_due(now)
            except can.CanError as exc:
                log.warning('command %s not sent: %s', channel.message.name, exc)
        with self._lock:
            pending = list(self._pending.items())
        for path, handle in pending:
            sig = self.map.signals[path]
            reached, seen = self._readback_reached(sig, handle)
            if reached:
                handle.event.readback = seen
                self._finish(handle, 'done', None)
            elif now >= handle._deadline:
                handle.event.readback = seen
                why = (f'no fresh read-back of {sig.path} within {sig.actuator.timeout:g} s' if seen is None else
                       f'{sig.path} stayed at {seen} (wanted {handle._target}) for {sig.actuator.timeout:g} s')
                self._finish(handle, 'timeout', why)

    def _finish(self, handle: CommandHandle, status: str, reason: str | None) -> None:
        with self._lock:
            if self._pending.get(handle.event.path) is handle:
                del self._pending[handle.event.path]
        if handle.finished:
            return
        handle.event.status, handle.event.reason = status, reason
        handle.event.elapsed_s = round(self.clock() - handle._t0, 4)
        handle._finished.set()
        log.info('actuation %s %s=%r %s%s', handle.event.request_id, handle.event.path, handle.event.value, status,
                 f': {reason}' if reason else '')
        self._emit(handle.event)

    def _emit(self, event: CommandEvent) -> None:
        if self.on_event is not None:
            try:
                self.on_event(replace(event))
            except Exception:  # noqa: BLE001 - a listener must not break actuation
                log.exception('actuation event listener failed')

    # ---- lifecycle ---------------------------------------------------------------------------------------
    def start(self, period: float = 0.005) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def loop() -> None:
            while not self._stop.wait(period):
                try:
                    self.tick()
                except Exception:  # noqa: BLE001 - keep sending
                    log.exception('actuation tick failed')

        self._thread = threading.Thread(target=loop, name='qv-actuation', daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        """Refuse new requests, cancel pending ones, send one no-request frame per channel, stop sending."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None
        with self._lock:
            pending = list(self._pending.values())
        for handle in pending:
            self._finish(handle, 'cancelled', 'actuation shut down')
        for channel in self.channels.values():
            channel.revert_all()
            try:
                channel.send(channel.frame())
            except Exception as exc:  # noqa: BLE001 - the bus may already be gone
                log.debug('no-request frame for %s not sent: %s', channel.message.name, exc)
