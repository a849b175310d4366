"""Threads on purpose: one UDP receive thread per socket and one timer thread (cyclic events, SD phases, TTLs)."""
from __future__ import annotations

import heapq
import itertools
import logging
import socket
import struct
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

Address = tuple[str, int]


class TimerHandle:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """call_later / call_every on one daemon thread; a failing callback is logged and never stops the others."""

    def __init__(self, name: str = 'someip-timer'):
        self._heap: list = []
        self._counter = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle()
        self._push(time.monotonic() + max(0.0, delay), handle, callback, None)
        return handle

    def call_every(self, period: float, callback: Callable[[], None], first_delay: float | None = None) -> TimerHandle:
        if period <= 0:
            raise ValueError(f'period must be positive, got {period}')
        handle = TimerHandle()
        self._push(time.monotonic() + (period if first_delay is None else first_delay), handle, callback, period)
        return handle

    def _push(self, due: float, handle: TimerHandle, callback, period) -> None:
        with self._cond:
            if self._closed:
                return
            heapq.heappush(self._heap, (due, next(self._counter), handle, callback, period))
            if self._heap[0][2] is handle:  # only a new earliest deadline needs the thread awake
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if self._closed:
                    return
                due, _, handle, callback, period = heapq.heappop(self._heap)
                if period is not None and not handle.cancelled:
                    # fixed rate without drift; after a long stall skip ahead instead of bursting
                    next_due = due + period
                    now = time.monotonic()
                    if next_due < now:
                        next_due = now + period
                    heapq.heappush(self._heap, (next_due, next(self._counter), handle, callback, period))
            if handle.cancelled:
                continue
            try:
                callback()
            except Exception:  # noqa: BLE001 - a timer callback must not kill the thread
                log.exception('timer callback %r failed', callback)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._heap.clear()
            self._cond.notify_all()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=2.0)


class UdpEndpoint:
    """A bound UDP socket whose receive thread hands each datagram to `on_datagram(data, address)`."""

    POLL_S = 0.2

    def __init__(self, bind: Address, on_datagram: Callable[[bytes, Address], None], name: str = 'someip-udp',
                 multicast_group: str | None = None, interface_ip: str | None = None):
        self.on_datagram = on_datagram
        # taps see every datagram: tap(direction 'tx'|'rx', data, local address, remote address), e.g. a pcap writer
        self.taps: list[Callable[[str, bytes, Address, Address], None]] = []
        self._closed = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            if multicast_group:
                # every SD socket of the host joins the group: all of them must share the port
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if hasattr(socket, 'SO_REUSEPORT'):
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                self.sock.bind((multicast_group, bind[1]))
                membership = struct.pack('=4s4s', socket.inet_aton(multicast_group),
                                         socket.inet_aton(interface_ip or bind[0]))
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
            else:
                self.sock.bind(bind)
            if interface_ip:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface_ip))
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            self.sock.settimeout(self.POLL_S)
        except OSError:
            self.sock.close()
            raise
        self.address: Address = self.sock.getsockname()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> 'UdpEndpoint':
        self._thread.start()
        return self

    def send(self, data: bytes, address: Address) -> None:
        for tap in self.taps:  # before sending, so a recording keeps request-before-response order
            tap('tx', data, self.address, address)
        try:
            self.sock.sendto(data, address)
        except OSError as error:
            if not self._closed.is_set():
                log.warning('send to %s:%d failed: %s', address[0], address[1], error)

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                data, address = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            except OSError:
                if self._closed.is_set():
                    return
                time.sleep(0.01)  # e.g. ICMP port unreachable reported on the socket
                continue
            if self._closed.is_set():
                return
            try:
                for tap in self.taps:
                    tap('rx', data, self.address, address)
                self.on_datagram(data, address)
            except Exception:  # noqa: BLE001 - one bad datagram never stops the endpoint
                log.exception('handling a datagram from %s failed', address)

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:  # wake the receive thread now instead of at its next poll
            host = '127.0.0.1' if self.address[0] == '0.0.0.0' else self.address[0]
            self.sock.sendto(b'', (host, self.address[1]))
        except OSError:
            pass
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2 * self.POLL_S + 1.0)
        self.sock.close()
