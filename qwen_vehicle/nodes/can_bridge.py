"""can_bridge: CAN buses <-> standard ROS interfaces, with actuation through ROS parameters.

Publishes decoded signals (BatteryState, NavSatFix, Temperature, TwistStamped, std_msgs), `vehicle/state` (JSON
snapshot), `vehicle/actuation_events` (JSON) and `/diagnostics`. Each actuatable signal is a parameter named by
its path: `ros2 param set /can_bridge <path> <value>` actuates, refusals come back as the set result's reason.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (FloatingPointRange, IntegerRange, ParameterDescriptor, ParameterType,
                                SetParametersResult)
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from ..core.actuation import ActuationError, Actuator, CommandEvent, value_kind
from ..core.bus import BusConfig, BusConnection, FrameQueue
from ..core.codec import BusCodec, DecodeAccount
from ..core.mapping import SignalMap, load_signal_map
from ..core.policy import SafetyPolicy
from ..core.signals import SignalStore
from . import qos
from .runner import run_node
from .params import declare_typed, read_bus_configs
from .ros_outputs import TopicOutput

ACTUATION_EVENTS = 'vehicle/actuation_events'
STATE_TOPIC = 'vehicle/state'


@dataclass
class CanBridgeConfig:
    signal_map: str = 'signals.yaml'
    policy: str = 'policy.yaml'
    stale_factor: float = 0.0  # 0: the signal map's stale_factor
    command_ttl: float = 2.0
    state_period: float = 0.1
    diagnostics_period: float = 1.0
    frame_id: str = 'base_link'
    receive_filters: bool = True
    sensor_qos_depth: int = 50
    gil_switch_interval: float = 0.001
    buses: list[BusConfig] = field(default_factory=list)

    def validate(self) -> None:
        if self.stale_factor and self.stale_factor < 1.0:
            raise ValueError('stale_factor must be 0 (use the signal map) or >= 1')
        if not 0.05 <= self.command_ttl <= 60.0:
            raise ValueError('command_ttl must be within 0.05..60 s')
        if not 0.01 <= self.state_period <= 10.0 or not 0.1 <= self.diagnostics_period <= 60.0:
            raise ValueError('state_period must be within 0.01..10 s and diagnostics_period within 0.1..60 s')


class CanBridge(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('can_bridge', **kwargs)
        self.config = self._declare_config()
        self.map: SignalMap = load_signal_map(self.config.signal_map)
        self.store = SignalStore(self.map, stale_factor=self.config.stale_factor or None)
        self.codecs = {name: BusCodec(name, bus.database, self.map.by_bus(name)) for name, bus in self.map.buses.items()}
        self.policy = SafetyPolicy.load(self.config.policy, self.store, self.map) if self.config.policy else None
        self.frames = FrameQueue()
        self.connections: dict[str, BusConnection] = {}
        for cfg in read_bus_configs(self, self.map):
            filters = self.codecs[cfg.name].can_filters() if self.config.receive_filters else None
            self.connections[cfg.name] = BusConnection(cfg, self.frames.put, can_filters=filters)
        self.events_pub = self.create_publisher(String, ACTUATION_EVENTS, qos.EVENTS)
        self.state_pub = self.create_publisher(String, STATE_TOPIC, qos.LATCHED_STATE)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', qos.DIAGNOSTICS)
        self.outputs: dict[str, TopicOutput] = {}
        self.outputs_by_path: dict[str, TopicOutput] = {}
        for sig in self.map.signals.values():
            if sig.ros is None:
                continue
            out = self.outputs.get(sig.ros.topic)
            if out is None:
                frame_id = 'gnss' if sig.ros.type == 'sensor_msgs/NavSatFix' else self.config.frame_id
                out = self.outputs[sig.ros.topic] = TopicOutput(sig.ros.topic, sig.ros.type, frame_id)
                profile = qos.LATCHED_STATE if sig.ros.publish == 'on_change' else \
                    qos.sensor_stream(self.config.sensor_qos_depth)
                out.publisher = self.create_publisher(out.msg_class, sig.ros.topic, profile)
            out.add(sig)
            self.outputs_by_path[sig.path] = out
        for out in self.outputs.values():
            out.prepare()
        self.actuator = Actuator(
            self.map, {name: conn.send for name, conn in self.connections.items()}, self.store,
            policy=self.policy.check_actuation if self.policy else None, ttl=self.config.command_ttl,
            on_event=self._publish_event)
        self._declare_actuator_params()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._decoded_before: dict[str, int] = {}
        self._last_diag = time.monotonic()
        self._closing = False
        for conn in self.connections.values():
            conn.start()
        self.actuator.start()
        self._worker = threading.Thread(target=self._process_frames, name='qv-can-decode', daemon=True)
        self._worker.start()
        self.create_timer(self.config.state_period, self._publish_state)
        self.create_timer(self.config.diagnostics_period, self._publish_diagnostics)
        self.get_logger().info(
            f'bridging {", ".join(f"{c.name}={c.config.interface}:{c.config.channel}" for c in self.connections.values())}'
            f'; {len(self.map.signals)} signals, {len(self.map.actuatable())} actuatable')

    # ---- parameters -------------------------------------------------------------------------------------
    def _declare_config(self) -> CanBridgeConfig:
        c = CanBridgeConfig()
        c.signal_map = declare_typed(self, 'signal_map', c.signal_map, 'signal map YAML (config/ or a path)',
                                     read_only=True)
        c.policy = declare_typed(self, 'policy', c.policy, 'safety policy YAML; empty disables it', read_only=True)
        c.stale_factor = declare_typed(self, 'stale_factor', c.stale_factor, 'stale after k x cycle time; 0 = the signal map\'s',
                                       float_range=(0.0, 100.0), read_only=True)
        c.command_ttl = declare_typed(self, 'command_ttl', c.command_ttl,
                                      'seconds a request is held before reverting to no request',
                                      float_range=(0.05, 60.0), read_only=True)
        c.state_period = declare_typed(self, 'state_period', c.state_period, 'vehicle/state period (s)',
                                       float_range=(0.01, 10.0), read_only=True)
        c.diagnostics_period = declare_typed(self, 'diagnostics_period', c.diagnostics_period,
                                             '/diagnostics period (s)', float_range=(0.1, 60.0), read_only=True)
        c.frame_id = declare_typed(self, 'frame_id', c.frame_id, 'header frame_id of vehicle messages',
                                   read_only=True)
        c.receive_filters = declare_typed(self, 'receive_filters', c.receive_filters,
                                          'pass only mapped IDs (hardware filters where the adapter has them)',
                                          read_only=True)
        c.sensor_qos_depth = declare_typed(self, 'sensor_qos_depth', c.sensor_qos_depth,
                                           'history depth of the sensor topics (raise it for bursty logs)',
                                           int_range=(1, 100000), read_only=True)
        c.gil_switch_interval = declare_typed(
            self, 'gil_switch_interval', c.gil_switch_interval,
            'Python thread switch interval (s) for this process: shorter lets the CAN receive threads in sooner '
            '(lower latency); 0 keeps the interpreter default', float_range=(0.0, 0.1), read_only=True)
        if c.gil_switch_interval > 0:
            sys.setswitchinterval(c.gil_switch_interval)
        c.validate()
        return c

    def _declare_actuator_params(self) -> None:
        self._actuator_params: dict[str, str] = {}
        for sig in self.map.actuatable():
            cmd = self.actuator.command_signal(sig)
            kind, names = value_kind(cmd)
            unit = f' [{cmd.unit}]' if cmd.unit else ''
            desc = ParameterDescriptor(name=sig.path, description=f'set to actuate {sig.path}{unit}; read back from '
                                       f'{sig.message}.{sig.signal}', dynamic_typing=False)
            if kind == 'bool':
                desc.type = ParameterType.PARAMETER_BOOL
                ptype = Parameter.Type.BOOL
            elif kind == 'enum':
                desc.type = ParameterType.PARAMETER_STRING
                desc.additional_constraints = f'one of {names}'
                ptype = Parameter.Type.STRING
            elif kind == 'integer':
                desc.type = ParameterType.PARAMETER_INTEGER
                desc.integer_range = [IntegerRange(from_value=int(cmd.minimum), to_value=int(cmd.maximum), step=1)]
                ptype = Parameter.Type.INTEGER
            else:
                desc.type = ParameterType.PARAMETER_DOUBLE
                desc.floating_point_range = [FloatingPointRange(from_value=float(cmd.minimum),
                                                                to_value=float(cmd.maximum), step=0.0)]
                desc.additional_constraints = f'resolution {cmd.conversion.scale:g}{unit}'
                ptype = Parameter.Type.DOUBLE
            self.declare_parameter(sig.path, ptype, desc)
            self._actuator_params[sig.path] = kind

    def _on_set_parameters(self, params: list[Parameter]) -> SetParametersResult:
        reasons = []
        for p in params:
            if p.name not in self._actuator_params:
                if p.name.startswith('qos_overrides.') or p.name == 'use_sim_time':
                    continue
                reasons.append(f'{p.name} is read-only after start-up')
                continue
            try:
                target, _ = self.actuator.normalize(p.name, p.value)
                if self.policy is not None:
                    allowed, why = self.policy.check_actuation(p.name, target, 'parameter')
                    if not allowed:
                        raise ActuationError(why)
            except ActuationError as exc:
                reasons.append(str(exc))
        if reasons or self._closing:
            return SetParametersResult(successful=False, reason='; '.join(reasons) or 'shutting down')
        for p in params:
            if p.name in self._actuator_params:
                self.actuator.request(p.name, p.value, source='parameter')
        return SetParametersResult(successful=True)

    # ---- hot path -----------------------------------------------------------------------------------------
    def _process_frames(self) -> None:
        codecs, outputs_by_path, store = self.codecs, self.outputs_by_path, self.store
        while not self._closing:
            batch = self.frames.drain(timeout=0.1)
            if not batch:
                continue
            now = time.monotonic()
            for bus_name, msg in batch:
                updates = codecs[bus_name].decode_message(msg)
                if not updates:
                    continue
                store.apply(updates, now)
                touched = []
                for u in updates:
                    out = outputs_by_path.get(u.path)
                    if out is not None and out.update(u.path, u.value, u.valid, u.timestamp) and out not in touched:
                        touched.append(out)
                for out in touched:
                    if out.should_publish():
                        try:
                            out.publish()
                        except Exception as exc:  # noqa: BLE001 - context shutting down
                            if self._closing:
                                return
                            self.get_logger().warning(f'publish on {out.topic} failed: {exc}',
                                                      throttle_duration_sec=5.0)

    # ---- periodic outputs ---------------------------------------------------------------------------------
    def _publish_event(self, event: CommandEvent) -> None:
        if self._closing:
            return
        self.events_pub.publish(String(data=json.dumps(event.to_dict())))

    def _publish_state(self) -> None:
        snap = self.store.snapshot()
        doc = {'stamp': time.time(), 'signals': {p: s.to_dict() for p, s in snap.items()}}
        self.state_pub.publish(String(data=json.dumps(doc)))

    def _publish_diagnostics(self) -> None:
        now = time.monotonic()
        dt = max(now - self._last_diag, 1e-3)
        self._last_diag = now
        rates: dict[str, int] = {}
        for codec in self.codecs.values():
            for name, count in codec.account.decoded.items():
                rates[name] = count - self._decoded_before.get(name, 0)
                self._decoded_before[name] = count
        arr = DiagnosticArray()
        arr.header.stamp = self.get_clock().now().to_msg()
        stale_all = self.store.stale(self.map.signals)
        for name, conn in self.connections.items():
            account: DecodeAccount = self.codecs[name].account
            status = DiagnosticStatus(name=f'can_bridge: bus {name}', hardware_id=f'{conn.config.interface}:'
                                      f'{conn.config.channel}')
            values = [KeyValue(key='state', value=conn.state)]
            values += [KeyValue(key=k, value=str(v)) for k, v in conn.status().items() if k != 'state']
            values += [KeyValue(key='queue_depth', value=str(self.frames.depth())),
                       KeyValue(key='queue_dropped', value=str(self.frames.dropped))]
            values += [KeyValue(key='frames_decoded', value=str(account.decoded_total)),
                       KeyValue(key='frames_skipped', value=str(account.skipped_total))]
            values += [KeyValue(key=f'skipped.{r}', value=str(sum(c.values()))) for r, c in account.skipped.items()]
            values += [KeyValue(key=f'invalid.{r}', value=str(sum(c.values()))) for r, c in account.invalid.items()]
            slow = []
            for msg in self.codecs[name].messages:
                rate = rates.get(msg.name, 0) / dt
                expected = 1000.0 / msg.cycle_time if msg.cycle_time else 0.0
                values.append(KeyValue(key=f'rate.{msg.name}', value=f'{rate:.1f}/{expected:.1f} Hz'))
                if expected and rate < 0.5 * expected:
                    slow.append(msg.name)
            stale = [p for p in stale_all if self.map.signals[p].bus == name]
            values.append(KeyValue(key='stale_signals', value=', '.join(stale)))
            if conn.state != 'ok':
                status.level, status.message = DiagnosticStatus.ERROR, f'bus {conn.state}: {conn.last_error}'
            elif stale:
                status.level, status.message = DiagnosticStatus.WARN, f'{len(stale)} stale signal(s); slow: {slow}'
            else:
                status.level, status.message = DiagnosticStatus.OK, 'ok'
            status.values = values
            arr.status.append(status)
        self.diag_pub.publish(arr)

    # ---- shutdown -------------------------------------------------------------------------------------------
    def close(self) -> None:
        """Refuse new requests, send no-request frames, stop sending, stop receiving, close the buses."""
        if self._closing:
            return
        self._closing = True
        self.actuator.shutdown()
        self._worker.join(timeout=1.0)
        for conn in self.connections.values():
            conn.close()


def main(args=None) -> None:
    run_node(CanBridge, args=args)


if __name__ == '__main__':
    main()
