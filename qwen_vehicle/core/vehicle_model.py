"""The simulated car behind the bus: a plant model and the ECUs that speak for it, from the same DBCs.

`Plant` integrates cabin temperatures, battery and position; `EcuSimulator` encodes status frames at their DBC
cycle times and obeys command frames only when their counter and checksum are valid. No rclpy here.
"""
from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

import can

from . import e2e
from .codec import physical_to_raw
from .mapping import SPECIAL_CHOICES, SignalMap

log = logging.getLogger(__name__)

EARTH_RADIUS_M = 6371000.0

# A loop around West Lake, Hangzhou: (lat, lon, speed limit km/h, cellular coverage)
WEST_LAKE_ROUTE: list[tuple[float, float, float, bool]] = [
    (30.2592, 120.1553, 40, True), (30.2628, 120.1490, 50, True), (30.2580, 120.1390, 50, True),
    (30.2470, 120.1350, 60, False), (30.2330, 120.1390, 60, False), (30.2300, 120.1480, 50, True),
    (30.2380, 120.1580, 40, True), (30.2490, 120.1620, 40, True),
]


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def bearing_deg(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dl = math.radians(lon2 - lon1)
    y = math.sin(dl) * math.cos(p2)
    x = math.cos(p1) * math.sin(p2) - math.sin(p1) * math.cos(p2) * math.cos(dl)
    return (math.degrees(math.atan2(y, x)) + 360.0) % 360.0


@dataclass
class PlantState:
    cabin: dict[str, float] = field(default_factory=lambda: {'driver': 30.0, 'passenger': 30.0, 'rear': 30.5})
    target: dict[str, float] = field(default_factory=lambda: {'driver': 22.0, 'passenger': 22.0, 'rear': 22.0})
    seat_heat: dict[str, int] = field(default_factory=lambda: {'driver': 0, 'passenger': 0})
    fan_level: int = 2
    air_conditioning: bool = False
    recirculation: bool = False
    defrost: str = 'Off'
    outside_temp: float = 31.0
    soc: float = 76.0                # %
    capacity_kwh: float = 64.0
    pack_temp: float = 27.0
    charging: bool = False
    plugged_in: bool = False
    charge_power_kw: float = 0.0
    low_voltage: float = 13.8
    speed_kmh: float = 0.0
    gear: str = 'P'
    parking_brake: bool = True
    ignition: str = 'On'
    odometer_km: float = 12873.4
    lat: float = WEST_LAKE_ROUTE[0][0]
    lon: float = WEST_LAKE_ROUTE[0][1]
    altitude: float = 12.0
    heading: float = 0.0
    coverage: bool = True
    hvac_power_kw: float = 0.0
    pack_current: float = 0.0


class Plant:
    """Cabin temperatures follow target/fan/A/C and the outside; SoC drains with speed and HVAC, rises charging;
    position follows a route of waypoints at a speed profile (or an external pose, e.g. from Gazebo)."""

    def __init__(self, scenario: str = 'parked', route=None, cruise_scale: float = 1.0) -> None:
        self.state = PlantState()
        self.route = list(route or WEST_LAKE_ROUTE)
        self.cruise_scale = cruise_scale
        self._leg = 0
        self._leg_progress_m = 0.0
        self.external_pose_at: float | None = None
        self.lock = threading.RLock()
        self.set_scenario(scenario)

    def set_scenario(self, scenario: str) -> None:
        s = self.state
        with self.lock:
            if scenario == 'parked':
                s.gear, s.parking_brake, s.speed_kmh, s.charging, s.plugged_in = 'P', True, 0.0, False, False
            elif scenario == 'driving':
                s.gear, s.parking_brake, s.charging, s.plugged_in = 'D', False, False, False
            elif scenario == 'charging':
                s.gear, s.parking_brake, s.speed_kmh, s.plugged_in, s.charging = 'P', True, 0.0, True, True
                s.charge_power_kw = 50.0
            else:
                raise ValueError(f'unknown scenario {scenario!r}; scenarios: parked, driving, charging')
            self.scenario = scenario

    def set_external_pose(self, lat: float | None = None, lon: float | None = None, altitude: float | None = None,
                          speed_mps: float | None = None, heading_deg: float | None = None) -> None:
        """Take position/speed from outside (Gazebo's NavSatFix/Odometry) instead of the route."""
        s = self.state
        with self.lock:
            if lat is not None and lon is not None:
                if self.external_pose_at is not None and (speed_mps is None):
                    d = haversine_m(s.lat, s.lon, lat, lon)
                    if d > 0.05:
                        s.heading = bearing_deg(s.lat, s.lon, lat, lon)
                s.lat, s.lon = lat, lon
            if altitude is not None:
                s.altitude = altitude
            if speed_mps is not None:
                s.speed_kmh = abs(speed_mps) * 3.6
                s.gear = 'D' if speed_mps > 0.05 else ('R' if speed_mps < -0.05 else s.gear)
                if abs(speed_mps) > 0.05:
                    s.parking_brake = False
            if heading_deg is not None:
                s.heading = heading_deg % 360.0
            self.external_pose_at = time.monotonic()

    def step(self, dt: float) -> None:
        with self.lock:
            self._step_motion(dt)
            self._step_climate(dt)
            self._step_battery(dt)

    def _step_motion(self, dt: float) -> None:
        s = self.state
        external = self.external_pose_at is not None and time.monotonic() - self.external_pose_at < 2.0
        if external or self.scenario != 'driving' or s.gear not in ('D', 'R'):
            if not external and self.scenario != 'driving':
                s.speed_kmh = max(0.0, s.speed_kmh - 10.0 * dt)
            s.odometer_km += s.speed_kmh * dt / 3600.0
            return
        lat0, lon0, limit, coverage = self.route[self._leg]
        lat1, lon1, _, _ = self.route[(self._leg + 1) % len(self.route)]
        target = limit * self.cruise_scale
        accel = 8.0  # km/h per second
        s.speed_kmh = min(target, s.speed_kmh + accel * dt) if s.speed_kmh < target else \
            max(target, s.speed_kmh - accel * dt)
        leg_len = max(haversine_m(lat0, lon0, lat1, lon1), 1.0)
        self._leg_progress_m += s.speed_kmh / 3.6 * dt
        while self._leg_progress_m >= leg_len:
            self._leg_progress_m -= leg_len
            self._leg = (self._leg + 1) % len(self.route)
            lat0, lon0, _, coverage = self.route[self._leg]
            lat1, lon1, _, _ = self.route[(self._leg + 1) % len(self.route)]
            leg_len = max(haversine_m(lat0, lon0, lat1, lon1), 1.0)
        f = self._leg_progress_m / leg_len
        s.lat, s.lon = lat0 + (lat1 - lat0) * f, lon0 + (lon1 - lon0) * f
        s.heading = bearing_deg(lat0, lon0, lat1, lon1)
        s.coverage = coverage
        s.odometer_km += s.speed_kmh * dt / 3600.0

    def _step_climate(self, dt: float) -> None:
        s = self.state
        power = 0.0
        for zone, temp in s.cabin.items():
            target = s.target[zone]
            rate = 0.0
            if s.fan_level > 0:
                airflow = 0.012 * s.fan_level
                if target < temp and s.air_conditioning:
                    rate = airflow * (target - temp)
                    power += 0.4 * s.fan_level / 3
                elif target > temp:
                    rate = airflow * (target - temp)
                    power += 0.6 * s.fan_level / 3
                else:
                    rate = airflow * 0.2 * (s.outside_temp - temp) if not s.recirculation else 0.0
            leak = 0.0015 * (s.outside_temp - temp)
            s.cabin[zone] = temp + (rate + leak) * dt
        power += 0.05 * s.fan_level + sum(0.25 * v for v in s.seat_heat.values())
        s.hvac_power_kw = power

    def _step_battery(self, dt: float) -> None:
        s = self.state
        drive_kw = 0.16 * s.speed_kmh + (0.002 * s.speed_kmh ** 2 if s.speed_kmh > 0 else 0.0)
        load_kw = drive_kw + s.hvac_power_kw + 0.3
        net_kw = (s.charge_power_kw if s.charging else 0.0) - load_kw
        if s.charging and s.soc >= 100.0:
            s.charging, s.charge_power_kw = False, 0.0
        s.soc = min(100.0, max(0.0, s.soc + net_kw * dt / 3600.0 / s.capacity_kwh * 100.0))
        voltage = self.pack_voltage()
        s.pack_current = net_kw * 1000.0 / voltage  # ROS convention: negative when discharging
        s.pack_temp += (0.0005 * abs(net_kw) - 0.001 * (s.pack_temp - s.outside_temp)) * dt

    def pack_voltage(self) -> float:
        return 330.0 + 70.0 * self.state.soc / 100.0

    def range_km(self) -> float:
        return self.state.soc / 100.0 * self.state.capacity_kwh / 0.155

    # ---- commands from the bus ----
    def command(self, name: str, value: Any) -> None:
        s = self.state
        with self.lock:
            zone = {'Driver': 'driver', 'Passenger': 'passenger', 'Rear': 'rear'}
            if name.startswith('TargetTemp'):
                s.target[zone[name[len('TargetTemp'):-3]]] = float(value)
            elif name == 'FanLevelReq':
                s.fan_level = int(value)
            elif name == 'AirConditioningReq':
                s.air_conditioning = value == 'On'
            elif name == 'RecirculationReq':
                s.recirculation = value == 'On'
            elif name == 'DefrostReq':
                s.defrost = str(value)
            elif name.startswith('SeatHeat'):
                s.seat_heat[zone[name[len('SeatHeat'):-3]]] = int(value)

    # ---- status values by DBC signal name ----
    def values(self) -> dict[str, Any]:
        s = self.state
        with self.lock:
            return {
                'VehicleSpeed': s.speed_kmh, 'Gear': s.gear, 'ParkingBrake': 'Applied' if s.parking_brake else 'Released',
                'Ignition': s.ignition, 'Odometer': s.odometer_km,
                'StateOfCharge': s.soc, 'PackVoltage': self.pack_voltage(), 'PackCurrent': s.pack_current,
                'PackTemperature': s.pack_temp,
                'ChargingState': 'Charging' if s.charging else ('Connected' if s.plugged_in else 'NotConnected'),
                'EstimatedRange': self.range_km(), 'ChargePower': s.charge_power_kw if s.charging else 0.0,
                'LowVoltageBattery': s.low_voltage,
                'CellVoltageMin': self.pack_voltage() / 96 - 0.004, 'CellVoltageMax': self.pack_voltage() / 96 + 0.006,
                'CellTempMin': s.pack_temp - 1.0, 'CellTempMax': s.pack_temp + 1.5, 'CellCount': 96,
                'BalancingActive': 0,
                'Latitude': s.lat, 'Longitude': s.lon, 'Altitude': s.altitude, 'FixType': 'Fix3D', 'Satellites': 14,
                'Heading': s.heading, 'GroundSpeed': s.speed_kmh / 3.6, 'HorizontalAccuracy': 1.2,
                'CabinTempDriver': s.cabin['driver'], 'CabinTempPassenger': s.cabin['passenger'],
                'CabinTempRear': s.cabin['rear'], 'TargetTempDriver': s.target['driver'],
                'TargetTempPassenger': s.target['passenger'], 'TargetTempRear': s.target['rear'],
                'FanLevel': s.fan_level, 'AirConditioning': 'On' if s.air_conditioning else 'Off',
                'Recirculation': 'On' if s.recirculation else 'Off', 'Defrost': s.defrost,
                'SeatHeatDriver': s.seat_heat['driver'], 'SeatHeatPassenger': s.seat_heat['passenger'],
                'OutsideTemp': s.outside_temp,
                'CellularCoverage': 'Good' if s.coverage else 'NoService', 'SignalStrength': 80 if s.coverage else 0,
            }


def encode_physical(message, values: dict[str, Any], mux_value: int | None = None) -> bytes:
    """Encode a message from physical values (choice names allowed), clamping to each signal's range."""
    raw: dict[str, int] = {}
    for sig in message.signals:
        if sig.multiplexer_ids and mux_value not in sig.multiplexer_ids:
            continue
        if sig.is_multiplexer:
            raw[sig.name] = int(mux_value or 0)
            continue
        v = values.get(sig.name)
        if v is None:
            special = next((k for k, n in (sig.choices or {}).items() if str(n) in SPECIAL_CHOICES), None)
            raw[sig.name] = int(special) if special is not None else int(sig.raw_initial or 0)
            continue
        if not isinstance(v, str):
            lo = sig.minimum if sig.minimum is not None else v
            hi = sig.maximum if sig.maximum is not None else v
            v = min(max(float(v), lo), hi)
        raw[sig.name] = physical_to_raw(sig, v)
    return message.encode(raw, scaling=False, padding=False, strict=False)


class EcuSimulator:
    """Status frames from the plant at their cycle times; command frames obeyed when counter and checksum hold."""

    def __init__(self, signal_map: SignalMap, senders: dict[str, Callable[[can.Message], None]],
                 plant: Plant | None = None, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.map = signal_map
        self.plant = plant or Plant()
        self.clock = clock
        self.senders = senders
        command_names = {(s.bus, s.actuator.message) for s in signal_map.actuatable()}
        self.status: list[tuple[str, Any]] = []
        self.commands: dict[tuple[str, int, bool], Any] = {}
        for bus_name, bus in signal_map.buses.items():
            for msg in bus.database.messages:
                if (bus_name, msg.name) in command_names:
                    self.commands[(bus_name, msg.frame_id, bool(msg.is_extended_frame))] = msg
                elif msg.cycle_time:
                    self.status.append((bus_name, msg))
        self._next_due = {msg.name: 0.0 for _, msg in self.status}
        self._mux_page: Counter[str] = Counter()
        self._last_counter: dict[str, int | None] = {}
        self._last_counter_at: dict[str, float] = {}
        self.counter_resync_s = 1.0
        self.silenced: set[str] = set()          # messages not sent (fault injection)
        self.sna: set[str] = set()               # signals sent as 'not available'
        self.stats: Counter[str] = Counter()     # commands_ok, bad_checksum, bad_counter, wrong_length
        self._last_step = None

    def tick(self, now: float | None = None) -> int:
        """Advance the plant and send what is due; returns the number of frames sent."""
        now = self.clock() if now is None else now
        if self._last_step is not None:
            self.plant.step(min(now - self._last_step, 0.5))
        self._last_step = now
        values = None
        sent = 0
        for bus_name, msg in self.status:
            if now < self._next_due[msg.name] or msg.name in self.silenced:
                continue
            self._next_due[msg.name] = max(self._next_due[msg.name] + msg.cycle_time / 1000.0, now)
            if values is None:
                values = self.plant.values()
                for name in self.sna:
                    values[name] = None
            mux_value = None
            mux = next((s for s in msg.signals if s.is_multiplexer), None)
            if mux is not None:
                pages = sorted({i for s in msg.signals for i in (s.multiplexer_ids or ())})
                mux_value = pages[self._mux_page[msg.name] % len(pages)]
                self._mux_page[msg.name] += 1
            data = encode_physical(msg, values, mux_value)
            frame = can.Message(arbitration_id=msg.frame_id, is_extended_id=msg.is_extended_frame, data=data,
                                is_fd=msg.is_fd, timestamp=time.time())
            try:
                self.senders[bus_name](frame)
                sent += 1
            except can.CanError as exc:
                self.stats['send_errors'] += 1
                log.debug('status %s not sent: %s', msg.name, exc)
        return sent

    def on_frame(self, bus_name: str, frame: can.Message) -> bool:
        """Apply a command frame; False (and counted) when it is not a valid command."""
        now = self.clock()
        msg = self.commands.get((bus_name, frame.arbitration_id, bool(frame.is_extended_id)))
        if msg is None:
            return False
        data = bytes(frame.data)
        if len(data) != msg.length:
            self.stats['wrong_length'] += 1
            return False
        counter_sig, checksum_sig = e2e.find_e2e_signals(msg)
        if checksum_sig is not None and not e2e.verify(data, msg.frame_id, e2e.checksum_byte_index(checksum_sig)):
            self.stats['bad_checksum'] += 1
            return False
        decoded = msg.decode(data, decode_choices=True, scaling=True)
        if counter_sig is not None:
            counter = int(decoded[counter_sig.name])
            previous = self._last_counter.get(msg.name)
            if now - self._last_counter_at.get(msg.name, -1e9) > self.counter_resync_s:
                previous = None  # the sender was silent: resynchronise
            self._last_counter_at[msg.name] = now
            modulo = 1 << counter_sig.length
            if not e2e.counter_ok(previous, counter, modulo):
                self.stats['bad_counter'] += 1
                self._last_counter[msg.name] = counter
                return False
            self._last_counter[msg.name] = counter
        for sig in msg.signals:
            if sig in (counter_sig, checksum_sig):
                continue
            value = decoded[sig.name]
            name = getattr(value, 'name', None)
            if name is not None:
                if str(name) in SPECIAL_CHOICES:
                    continue
                value = str(name)
            self.plant.command(sig.name, value)
        self.stats['commands_ok'] += 1
        return True
