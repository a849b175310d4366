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


# SocketCAN error-frame classes (linux/can/error.h); python-can passes them on in arbitration_id and data
CAN_ERR_CRTL = 0x004          # controller problem, details in data[1]
CAN_ERR_BUSOFF = 0x040
CAN_ERR_RESTARTED = 0x100
CAN_ERR_CRTL_PASSIVE = 0x10 | 0x20      # RX / TX error passive
CAN_ERR_CRTL_WARNING = 0x04 | 0x08      # RX / TX error warning
STILL_DOWN_LOG_S = 60.0       # while a bus stays down, one warning per this many seconds (no spam)


class _QueueListener(can.Listener):
    def __init__(self, connection: 'BusConnection', generation: int) -> None:
        self.connection = connection
        self.generation = generation      # errors of a Notifier that was already replaced are ignored

    def on_message_received(self, msg: can.Message) -> None:
        self.connection.on_frame(msg)

    def on_error(self, exc: Exception) -> None:
        self.connection.on_error(exc, generation=self.generation)


class BusConnection:
    """A bus, its Notifier thread and a reconnect loop with backoff.

    Frames go to `sink(bus_name, msg)` (typically a queue's put). States: 'closed', 'ok', 'error' (the adapter
    failed or vanished: the reason is in `last_error`, the bus is reopened with exponential backoff until it is
    back), 'bus_off' (the controller reported bus-off in an error frame; 'ok' again with the next good frame or
    the controller's restart). Counters for diagnostics: rx, tx, tx_errors, error_frames, bus_off, error_passive,
    error_warning, bus_errors (times the adapter failed), reconnects, reconnect_attempts.
    """

    def __init__(self, config: BusConfig, sink: Callable[[str, can.Message], None], *,
                 can_filters: list[dict] | None = None, backoff: tuple[float, float] = (0.2, 5.0),
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self.sink = sink
        self.can_filters = can_filters
        self.backoff_min, self.backoff_max = backoff
        self.clock = clock
        self.bus: can.BusABC | None = None
        self.notifier: can.Notifier | None = None
        self.state = 'closed'
        self.last_error: str | None = None
        self.down_since: float | None = None
        self.counters = {'rx': 0, 'tx': 0, 'tx_errors': 0, 'error_frames': 0, 'bus_off': 0, 'error_passive': 0,
                         'error_warning': 0, 'reconnects': 0, 'reconnect_attempts': 0, 'bus_errors': 0}
        self._lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._generation = 0
        self._stop = threading.Event()
        self._reconnect_thread: threading.Thread | None = None

    @property
    def name(self) -> str:
        return self.config.name

    def start(self) -> None:
        """Open now, or report the failure and keep retrying in the background (never raises)."""
        try:
            self.open()
        except Exception as exc:  # noqa: BLE001 - any adapter error: on_error logs it, the reconnect loop takes over
            self.on_error(exc)

    def open(self) -> None:
        with self._lock:
            self._open_locked()

    def _open_locked(self) -> None:
        bus = self.config.open(self.can_filters)
        self._generation += 1
        try:
            self.notifier = can.Notifier(bus, [_QueueListener(self, self._generation)], timeout=0.1)
        except Exception:
            bus.shutdown()
            raise
        self.bus = bus
        self.state = 'ok'
        self.down_since = None

    def on_frame(self, msg: can.Message) -> None:
        counters = self.counters
        counters['rx'] += 1
        if msg.is_error_frame:
            self._on_error_frame(msg)
        elif self.state == 'bus_off':
            self.state = 'ok'
        self.sink(self.config.name, msg)

    def _on_error_frame(self, msg: can.Message) -> None:
        counters = self.counters
        counters['error_frames'] += 1
        cls = msg.arbitration_id
        if cls & CAN_ERR_BUSOFF:
            counters['bus_off'] += 1
            if self.state == 'ok':
                self.state = 'bus_off'
                self.last_error = 'controller reported bus-off'
                log.error('bus %s: bus-off', self.config.name)
        elif cls & CAN_ERR_RESTARTED and self.state == 'bus_off':
            self.state = 'ok'
            log.info('bus %s: controller restarted after bus-off', self.config.name)
        if cls & CAN_ERR_CRTL and len(msg.data) > 1:
            if msg.data[1] & CAN_ERR_CRTL_PASSIVE:
                counters['error_passive'] += 1
            elif msg.data[1] & CAN_ERR_CRTL_WARNING:
                counters['error_warning'] += 1

    def on_error(self, exc: Exception, generation: int | None = None) -> None:
        """The adapter failed (from the Notifier thread, or an open that failed): reconnect in the background."""
        if self._stop.is_set() or (generation is not None and generation != self._generation):
            return
        with self._state_lock:
            if self.state == 'error':
                return              # already reconnecting: the Notifier may report the same failure again
            self.state = 'error'
            self.counters['bus_errors'] += 1
            self.last_error = f'{type(exc).__name__}: {exc}'
            self.down_since = self.clock()
        log.error('bus %s (%s:%s) failed: %s; reconnecting with backoff', self.config.name, self.config.interface,
                  self.config.channel, self.last_error)
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
        last_warning = self.clock()
        while not self._stop.wait(delay):
            self.counters['reconnect_attempts'] += 1
            try:
                with self._lock:
                    if self._stop.is_set():
                        return
                    self._open_locked()
                self.counters['reconnects'] += 1
                log.info('bus %s is back (was down: %s)', self.config.name, self.last_error)
                return
            except Exception as exc:  # noqa: BLE001 - any adapter error
                self.last_error = f'{type(exc).__name__}: {exc}'
                now = self.clock()
                if now - last_warning >= STILL_DOWN_LOG_S:
                    last_warning = now
                    log.warning('bus %s still down after %.0f s (%d attempts): %s', self.config.name,
                                now - (self.down_since or now), self.counters['reconnect_attempts'], self.last_error)
                else:
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

    def status(self) -> dict[str, Any]:
        """State, reason and counters in one snapshot (for diagnostics)."""
        down_for = self.clock() - self.down_since if self.down_since is not None and self.state == 'error' else 0.0
        return {'state': self.state, 'last_error': self.last_error, 'down_for_s': round(down_for, 3),
                **self.counters}

    def close(self) -> None:
        self._stop.set()
        with self._lock:
            self._close_locked()
            self.state = 'closed'
        thread = self._reconnect_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)


class FrameQueue:
    """Frames from all buses in arrival order, drained in batches by one worker.

    Unbounded by default (nothing is dropped; a worker that falls behind shows as `depth`). With `maxsize`, frames
    beyond it are dropped and counted in `dropped`, so an overload bounds memory and is visible in diagnostics.
    """

    def __init__(self, maxsize: int = 0) -> None:
        self._q: queue.SimpleQueue = queue.SimpleQueue()
        self.maxsize = maxsize
        self.dropped = 0
        if maxsize:
            self.put = self._put_bounded  # type: ignore[method-assign]

    def put(self, bus_name: str, msg: can.Message) -> None:
        self._q.put((bus_name, msg))

    def _put_bounded(self, bus_name: str, msg: can.Message) -> None:
        if self._q.qsize() >= self.maxsize:
            self.dropped += 1
            return
        self._q.put((bus_name, msg))

    def depth(self) -> int:
        """Frames waiting for the worker."""
        return self._q.qsize()

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
