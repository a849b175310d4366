"""A whole car without ROS: simulated ECUs and the bridge's core on python-can virtual buses, in one process.

For core-level end-to-end tests and benchmarks; the ROS demo uses the same pieces inside nodes.
"""
from __future__ import annotations

import threading
import uuid

import can

from .actuation import Actuator
from .bus import BusConfig, BusConnection, FrameQueue
from .codec import BusCodec
from .mapping import SignalMap
from .signals import SignalStore
from .vehicle_model import EcuSimulator, Plant


class VirtualCar:
    def __init__(self, signal_map: SignalMap, *, scenario: str = 'parked', policy=None, ttl: float = 2.0,
                 tick_period: float = 0.005) -> None:
        self.map = signal_map
        self.prefix = f'vc{uuid.uuid4().hex[:8]}'
        self.store = SignalStore(signal_map)
        self.codecs = {n: BusCodec(n, b.database, signal_map.by_bus(n)) for n, b in signal_map.buses.items()}
        self.frames = FrameQueue()
        self.sim_buses = {n: BusConnection(BusConfig(n, channel=f'{self.prefix}_{n}'), self._sim_frame)
                          for n in signal_map.buses}
        self.bridge_buses = {n: BusConnection(BusConfig(n, channel=f'{self.prefix}_{n}'), self.frames.put,
                                              can_filters=self.codecs[n].can_filters())
                             for n in signal_map.buses}
        self.sim = EcuSimulator(signal_map, {n: c.send for n, c in self.sim_buses.items()}, Plant(scenario))
        self.actuator = Actuator(signal_map, {n: c.send for n, c in self.bridge_buses.items()}, self.store,
                                 policy=policy, ttl=ttl)
        self._stop = threading.Event()
        self._tick_period = tick_period
        self._threads: list[threading.Thread] = []

    def channel(self, bus: str) -> str:
        return f'{self.prefix}_{bus}'

    def spy(self, bus: str) -> can.BusABC:
        """Another node on a bus: sees every frame (for tests that watch the wire)."""
        return can.Bus(interface='virtual', channel=self.channel(bus), ignore_config=True)

    def _sim_frame(self, bus: str, frame: can.Message) -> None:
        self.sim.on_frame(bus, frame)

    def _decode_loop(self) -> None:
        while not self._stop.is_set():
            for bus_name, msg in self.frames.drain(timeout=0.05):
                self.store.apply(self.codecs[bus_name].decode_message(msg))

    def _sim_loop(self) -> None:
        while not self._stop.wait(self._tick_period):
            self.sim.tick()

    def start(self) -> 'VirtualCar':
        for conn in (*self.sim_buses.values(), *self.bridge_buses.values()):
            conn.open()
        for target in (self._decode_loop, self._sim_loop):
            t = threading.Thread(target=target, daemon=True, name=f'qv-{target.__name__}')
            t.start()
            self._threads.append(t)
        self.actuator.start()
        return self

    def wait_for(self, paths, timeout: float = 3.0) -> bool:
        """Wait until every path has a fresh valid value."""
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(self.store.value(p) is not None for p in paths):
                return True
            time.sleep(0.01)
        return False

    def close(self) -> None:
        self.actuator.shutdown()
        self._stop.set()
        for t in self._threads:
            t.join(timeout=1.0)
        for conn in (*self.sim_buses.values(), *self.bridge_buses.values()):
            conn.close()

    def __enter__(self) -> 'VirtualCar':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
