"""vehicle_sim: the ECUs on the other side of the bus, from the same DBCs, driven by a plant model.

Status frames go out at their DBC cycle times; command frames are obeyed only with a valid counter and checksum.
Position and speed follow a route, or `sensor_msgs/NavSatFix` and `nav_msgs/Odometry` topics (Gazebo via
ros_gz_bridge) when `external_pose` is true.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from nav_msgs.msg import Odometry
from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import NavSatFix

from ..core.bus import BusConnection
from ..core.mapping import load_signal_map
from ..core.vehicle_model import EcuSimulator, Plant
from . import qos
from .runner import run_node
from .params import declare_typed, read_bus_configs

SCENARIOS = ('parked', 'driving', 'charging')


@dataclass
class VehicleSimConfig:
    signal_map: str = 'signals.yaml'
    scenario: str = 'parked'
    tick_period: float = 0.005
    external_pose: bool = False
    navsat_topic: str = 'gazebo/navsat'
    odom_topic: str = 'gazebo/odom'
    outside_temperature: float = 31.0
    initial_soc: float = 76.0

    def validate(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f'scenario must be one of {SCENARIOS}, not {self.scenario!r}')
        if not 0.0 <= self.initial_soc <= 100.0:
            raise ValueError('initial_soc must be within 0..100 %')


class VehicleSim(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('vehicle_sim', **kwargs)
        c = VehicleSimConfig()
        c.signal_map = declare_typed(self, 'signal_map', c.signal_map, 'signal map YAML', read_only=True)
        c.scenario = declare_typed(self, 'scenario', c.scenario, f'one of {SCENARIOS}; can change at run time')
        c.tick_period = declare_typed(self, 'tick_period', c.tick_period, 'plant/scheduler step (s)',
                                      float_range=(0.001, 0.1), read_only=True)
        c.external_pose = declare_typed(self, 'external_pose', c.external_pose,
                                        'take position/speed from NavSatFix/Odometry topics (Gazebo)', read_only=True)
        c.navsat_topic = declare_typed(self, 'navsat_topic', c.navsat_topic, 'NavSatFix input', read_only=True)
        c.odom_topic = declare_typed(self, 'odom_topic', c.odom_topic, 'Odometry input', read_only=True)
        c.outside_temperature = declare_typed(self, 'outside_temperature', c.outside_temperature, 'degC',
                                              float_range=(-40.0, 60.0))
        c.initial_soc = declare_typed(self, 'initial_soc', c.initial_soc, '%', float_range=(0.0, 100.0),
                                      read_only=True)
        self.declare_parameter('silence', Parameter.Type.STRING_ARRAY)
        self.declare_parameter('sna', Parameter.Type.STRING_ARRAY)
        c.validate()
        self.config = c
        self.map = load_signal_map(c.signal_map)
        self.plant = Plant(c.scenario)
        self.plant.state.outside_temp = c.outside_temperature
        self.plant.state.soc = c.initial_soc
        self.connections = {cfg.name: BusConnection(cfg, self._on_frame) for cfg in read_bus_configs(self, self.map)}
        self.sim = EcuSimulator(self.map, {n: conn.send for n, conn in self.connections.items()}, self.plant)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        if c.external_pose:
            self.create_subscription(NavSatFix, c.navsat_topic, self._on_navsat, qos.SENSOR_BEST_EFFORT)
            self.create_subscription(Odometry, c.odom_topic, self._on_odom, qos.SENSOR_BEST_EFFORT)
        for conn in self.connections.values():
            conn.start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name='qv-vehicle-sim', daemon=True)
        self._thread.start()
        self.get_logger().info(f'simulating {len(self.sim.status)} status messages, scenario {c.scenario}')

    def _on_frame(self, bus_name: str, frame) -> None:
        self.sim.on_frame(bus_name, frame)

    def _run(self) -> None:
        while not self._stop.wait(self.config.tick_period):
            try:
                self.sim.tick()
            except Exception as exc:  # noqa: BLE001 - keep the ECUs alive
                self.get_logger().error(f'simulation step failed: {exc}', throttle_duration_sec=5.0)

    def _on_set_parameters(self, params) -> SetParametersResult:
        for p in params:
            if p.name == 'scenario':
                if p.value not in SCENARIOS:
                    return SetParametersResult(successful=False, reason=f'scenario must be one of {SCENARIOS}')
                self.plant.set_scenario(p.value)
            elif p.name == 'outside_temperature':
                self.plant.state.outside_temp = float(p.value)
            elif p.name == 'silence':
                self.sim.silenced = set(p.value or [])
            elif p.name == 'sna':
                self.sim.sna = set(p.value or [])
        return SetParametersResult(successful=True)

    def _on_navsat(self, msg: NavSatFix) -> None:
        if math.isfinite(msg.latitude) and math.isfinite(msg.longitude):
            self.plant.set_external_pose(lat=msg.latitude, lon=msg.longitude,
                                         altitude=msg.altitude if math.isfinite(msg.altitude) else None)

    def _on_odom(self, msg: Odometry) -> None:
        v = msg.twist.twist.linear
        q = msg.pose.pose.orientation
        yaw = math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))
        # ENU yaw (0 = east, counter-clockwise) -> compass heading (0 = north, clockwise)
        self.plant.set_external_pose(speed_mps=math.copysign(math.hypot(v.x, v.y), v.x if v.x else 1.0),
                                     heading_deg=(90.0 - math.degrees(yaw)) % 360.0)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1.0)
        for conn in self.connections.values():
            conn.close()


def main(args=None) -> None:
    run_node(VehicleSim, args=args, single_threaded=True)


if __name__ == '__main__':
    main()
