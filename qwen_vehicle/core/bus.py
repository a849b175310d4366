"""Opening python-can buses from explicit settings, receiving in a Notifier thread, surviving adapter loss."""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import can

log = logging.getLogger(__name__)


@dataclass
class BusConfig:
    """One CAN bus; any python-can interface (socketcan, pcan, kvaser, vector, slcan, gs_usb, virtual, ...)."""
    name: str
    interface: str = 'virtual'
    channel: str = ''
    bitrate: int = 500000
    fd: bool = False
    data_bitrate: int = 2000000
    receive_own_messages: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.channel:
            self.channel = f'qv_{self.name}'

    def open(self, can_filters: list[dict] | None = None) -> can.BusABC:
        kwargs: dict[str, Any] = dict(interface=self.interface, channel=self.channel, ignore_config=True,
                                      receive_own_messages=self.receive_own_messages, can_filters=can_filters)
        if self.interface != 'virtual':
            kwargs['bitrate'] = self.bitrate
            if self.fd:
                kwargs.update(fd=True, data_bitrate=self.data_bitrate)
        kwargs.update(self.extra)
        return can.Bus(**kwargs)


class _QueueListener(can.Listener):
    def __init__(self, connection: 'BusConnection') -> None:
        self.connection = connection

    def on_message_received(self, msg: can.Message) -> None:
        self.connection.on_frame(msg)

    def on_error(self, exc: Exception) -> None:
        self.connection.on_error(exc)


class BusConnection:
    """A bus, its Notifier thread and a reconnect loop with backoff.

    Frames go to `sink(bus_name, msg)` (typically a queue's put). When the adapter fails, the state becomes
    'error', the reason is kept for diagnostics and the bus is reopened with exponential backoff.
    """

    def __init__(self, config: BusConfig, sink: Callable[[str, can.Message], None], *,
                 can_filters: list[dict] | None = None, backoff: tuple[float, float] = (0.2, 5.0)) -> None:
        self.config = config
        self.sink = sink
        self.can_filters = can_filters
        self.backoff_min, self.backoff_max = backoff
        self.bus: can.BusABC | None = None
        self.notifier: can.Notifier | None = None
        self.state = 'closed'
        self.last_error: str | None = None
        self.counters = {'rx': 0, 'tx': 0, 'tx_errors': 0, 'error_frames': 0, 'reconnects': 0, 'bus_errors': 0}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._reconnect_thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def open(self) -> None:
        with self._lock:
            self._open_locked()

    def _open_locked(self) -> None:
        self.bus = self.config.open(self.can_filters)
        self.notifier = can.Notifier(self.bus, [_QueueListener(self)], timeout=0.1)
        self.state = 'ok'
        self.last_error = None

    def on_frame(self, msg: can.Message) -> None:
        self.counters['rx'] += 1
        if msg.is_error_frame:
            self.counters['error_frames'] += 1
        self.sink(self.config.name, msg)

    def on_error(self, exc: Exception) -> None:
        self.counters['bus_errors'] += 1
        self.last_error = f'{type(exc).__name__}: {exc}'
        if self._stop.is_set() or self.state == 'error':
            return
        log.error('bus %s failed: %s; reconnecting', self.config.name, self.last_error)
        self.state = 'error'
        self._reconnect_thread = threading.Thread(target=self._reconnect, name=f'qv-reconnect-{self.name}',
                                                  daemon=True)
        self._reconnect_thread.start()

    def _close_locked(self) -> None:
        notifier, bus = self.notifier, self.bus
        self.notifier, self.bus = None, None
        if notifier is not None:
            try:
                notifier.stop(timeout=0.5)
            except Exception:  # noqa: BLE001
                pass
        if bus is not None:
            try:
                bus.shutdown()
            except Exception:  # noqa: BLE001
                pass

    def _reconnect(self) -> None:
        delay = self.backoff_min
        with self._lock:
            self._close_locked()
        while not self._stop.wait(delay):
            try:
                with self._lock:
                    self._open_locked()
                self.counters['reconnects'] += 1
                log.info('bus %s is back', self.config.name)
                return
            except Exception as exc:  # noqa: BLE001 - any adapter error
                self.last_error = f'{type(exc).__name__}: {exc}'
                log.debug('bus %s still down: %s', self.config.name, exc)
                delay = min(delay * 2, self.backoff_max)

    def send(self, msg: can.Message) -> None:
        bus = self.bus
        if bus is None or self.state != 'ok':
            self.counters['tx_errors'] += 1
            raise can.CanOperationError(f'bus {self.config.name} is {self.state}')
        try:
            bus.send(msg)
            self.counters['tx'] += 1
        except can.CanError:
            self.counters['tx_errors'] += 1
            raise

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._close_locked()
            self.state = 'closed'


class FrameQueue:
    """Frames from all buses in arrival order, drained in batches by one worker."""

    def __init__(self) -> None:
        self._q: queue.SimpleQueue = queue.SimpleQueue()

    def put(self, bus_name: str, msg: can.Message) -> None:
        self._q.put((bus_name, msg))

    def drain(self, timeout: float, limit: int = 512) -> list[tuple[str, can.Message]]:
        try:
            first = self._q.get(timeout=timeout)
        except queue.Empty:
            return []
        batch = [first]
        get = self._q.get_nowait
        try:
            while len(batch) < limit:
                batch.append(get())
        except queue.Empty:
            pass
        return batch
