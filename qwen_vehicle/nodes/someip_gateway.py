"""someip_gateway: the vehicle's battery, climate and location services on a SOME/IP bus (config/someip.yaml).

Vehicle state comes from the bridge's `vehicle/state` (JSON); SOME/IP method calls that set something go to the
bridge's parameter service (`/<bridge>/set_parameters`, parameter name = signal path) so its safety policy decides,
and the outcome arrives on `vehicle/actuation_events`. Refusals go back to the SOME/IP caller as ERROR messages
with the reason. Remote services listed under `consume:` are subscribed and their signals published on
`someip/signals` (JSON, the same layout as `vehicle/state`).
"""
from __future__ import annotations

import ipaddress
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rcl_interfaces.msg import SetParametersResult
from rclpy.node import Node
from std_msgs.msg import String

from ..someip import gateway as core
from ..someip.runtime import Scheduler
from ..someip.vehicle import ActuationResult
from . import qos
from .runner import run_node
from .params import declare_typed
from .vehicle_client import VehicleClient

SIGNALS_TOPIC = 'someip/signals'
# outcome of the bridge's actuation event -> ours (qwen_vehicle.someip.vehicle.ACTUATION_STATUSES)
BRIDGE_STATUS = {'done': 'done', 'refused': 'refused', 'timeout': 'timeout', 'cancelled': 'error',
                 'superseded': 'error'}


@dataclass
class SomeIpGatewayParams:
    config: str = 'someip.yaml'
    address: str = '127.0.0.1'
    service_port: int = -1          # -1: the config's service_port; 0: any free port
    sd_enabled: bool = True
    sd_port: int = -1               # -1: the config's SD port
    bridge: str = 'can_bridge'
    actuation_timeout: float = 5.0
    state_ttl: float = 1.0
    signals_period: float = 0.1

    def validate(self) -> None:
        try:
            ipaddress.IPv4Address(self.address)
        except ValueError:
            raise ValueError(f'address must be an IPv4 address, got {self.address!r}') from None
        if not -1 <= self.service_port <= 65535 or not -1 <= self.sd_port <= 65535:
            raise ValueError('ports must be within 0..65535 (-1 = from the config)')
        if not 0.1 <= self.actuation_timeout <= 60.0:
            raise ValueError('actuation_timeout must be within 0.1..60 s')
        if not 0.01 <= self.signals_period <= 10.0:
            raise ValueError('signals_period must be within 0.01..10 s')


class RosVehicleAccess:
    """`VehicleAccess` over ROS: snapshot from vehicle/state, actuation through the bridge's parameters."""

    def __init__(self, client: VehicleClient, timeout_s: float):
        self.client = client
        self.timeout_s = timeout_s
        self._workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix='someip-actuate')

    def snapshot(self) -> dict[str, Any]:
        return {path: state.value for path, state in self.client.store.snapshot().items()
                if state.valid and state.fresh and state.value is not None}

    def actuate(self, path: str, value: Any) -> 'Future[ActuationResult]':
        return self._workers.submit(self._actuate, path, value)

    def _actuate(self, path: str, value: Any) -> ActuationResult:
        event = self.client.actuate(path, value, source='someip').wait(self.timeout_s)
        if event.status == 'accepted':  # nothing final within the timeout
            return ActuationResult('timeout', f'no read-back of {path} within {self.timeout_s:g} s')
        return ActuationResult(BRIDGE_STATUS.get(event.status, 'error'), event.reason or '', event.readback)

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)


class SomeIpGatewayNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('someip_gateway', **kwargs)
        self.params = self._declare_params()
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.config: core.GatewayConfig = core.load_config(self.params.config)
        self.config.sd.address = self.params.address  # every socket of this node binds the one address
        self.vehicle_client = VehicleClient(self, bridge=self.params.bridge, state_ttl=self.params.state_ttl)
        self.vehicle = RosVehicleAccess(self.vehicle_client, self.params.actuation_timeout)
        self.scheduler = Scheduler('someip-gateway-timer')
        self.sd = None
        self.gateway = None
        self.consumer = None
        self._pending_signals: dict[str, dict[str, Any]] = {}
        self._signals_lock = threading.Lock()
        try:
            if self.params.sd_enabled and self.config.sd.enabled:
                sd_port = self.config.sd.port if self.params.sd_port < 0 else self.params.sd_port
                self.sd = core.make_sd(self.config, self.scheduler, self.params.address, sd_port).start()
            port = self.config.service_port if self.params.service_port < 0 else self.params.service_port
            self.gateway = core.SomeIpGateway(self.config, self.vehicle, (self.params.address, port), sd=self.sd,
                                         scheduler=self.scheduler,
                                         actuation_timeout_s=self.params.actuation_timeout + 0.5).start()
            self.signals_pub = self.create_publisher(String, SIGNALS_TOPIC, qos.LATCHED_STATE)
            if self.config.consume:
                if self.sd is None:
                    raise ValueError('consume: needs SOME/IP-SD (sd_enabled) to subscribe to remote services')
                self.consumer = core.SignalConsumer(self.config, self._on_signal, self.sd).start()
                self.create_timer(self.params.signals_period, self._publish_signals)
        except Exception:
            self.close()
            raise
        self.get_logger().info(
            f'SOME/IP on {self.gateway.address[0]}:{self.gateway.address[1]}'
            + (f', SD {self.sd.address[0]}:{self.sd.address[1]}' + (f' multicast {self.config.sd.multicast}'
                                                                     if self.config.sd.multicast else '')
               if self.sd else ', SD off')
            + f'; services {", ".join(self.config.services)}; consuming {[c.service for c in self.config.consume]}')

    def _declare_params(self) -> SomeIpGatewayParams:
        d = SomeIpGatewayParams()
        p = SomeIpGatewayParams(
            config=declare_typed(self, 'config', d.config, 'SOME/IP interface description (path or name in '
                                 'config/)', read_only=True),
            address=declare_typed(self, 'address', d.address, 'local IPv4 address the SOME/IP and SD sockets bind',
                                  read_only=True),
            service_port=declare_typed(self, 'service_port', d.service_port, 'UDP port of the service endpoint '
                                       '(-1: from the config, 0: any free port)', int_range=(-1, 65535),
                                       read_only=True),
            sd_enabled=declare_typed(self, 'sd_enabled', d.sd_enabled, 'run SOME/IP-SD (offers, subscriptions)',
                                     read_only=True),
            sd_port=declare_typed(self, 'sd_port', d.sd_port, 'SD UDP port (-1: from the config, 0: any free)',
                                  int_range=(-1, 65535), read_only=True),
            bridge=declare_typed(self, 'bridge', d.bridge, 'node name of the CAN bridge (parameter service)',
                                 read_only=True),
            actuation_timeout=declare_typed(self, 'actuation_timeout', d.actuation_timeout,
                                            'seconds to wait for an actuation outcome', float_range=(0.1, 60.0),
                                            read_only=True),
            state_ttl=declare_typed(self, 'state_ttl', d.state_ttl, 'vehicle/state older than this is stale (s)',
                                    float_range=(0.05, 60.0), read_only=True),
            signals_period=declare_typed(self, 'signals_period', d.signals_period,
                                         'publish period of someip/signals (s)', float_range=(0.01, 10.0),
                                         read_only=True),
        )
        p.validate()
        return p

    def _on_set_parameters(self, params) -> SetParametersResult:
        names = [p.name for p in params if p.name != 'use_sim_time' and not p.name.startswith('qos_overrides.')]
        if names:
            return SetParametersResult(successful=False, reason=f'{", ".join(names)}: read-only after start-up')
        return SetParametersResult(successful=True)

    def _on_signal(self, path: str, value: Any, stamp: float) -> None:
        with self._signals_lock:
            self._pending_signals[path] = {'value': value, 'valid': True, 'fresh': True, 'stamp': stamp}

    def _publish_signals(self) -> None:
        with self._signals_lock:
            if not self._pending_signals:
                return
            signals, self._pending_signals = self._pending_signals, {}
        self.signals_pub.publish(String(data=json.dumps({'stamp': time.time(), 'source': 'someip',
                                                         'signals': signals})))

    def close(self) -> None:
        """Idempotent: stop offering (StopOffer), drop subscriptions, close sockets and timers."""
        if self.consumer is not None:
            self.consumer.close()
            self.consumer = None
        if self.gateway is not None:
            self.gateway.close()
            self.gateway = None
        if self.sd is not None:
            self.sd.close()
            self.sd = None
        self.scheduler.close()
        self.vehicle.close()


SomeIpGateway = SomeIpGatewayNode  # the name qwen_vehicle.bringup looks up


def main(args=None) -> None:
    run_node(SomeIpGatewayNode, args=args, threads=2)


if __name__ == '__main__':
    main()
