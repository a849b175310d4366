"""Run several qwen_vehicle nodes in one process on virtual buses, without launch (demo and integration tests)."""
from __future__ import annotations

import gc
import importlib
import logging
import threading
import uuid
from typing import Any

import rclpy
from rclpy.context import Context
from rclpy.executors import MultiThreadedExecutor
from rclpy.parameter import Parameter

from .core.mapping import load_signal_map

log = logging.getLogger(__name__)

NODE_CLASSES = {
    'vehicle_sim': 'qwen_vehicle.nodes.vehicle_sim:VehicleSim',
    'can_bridge': 'qwen_vehicle.nodes.can_bridge:CanBridge',
    'assistant': 'qwen_vehicle.nodes.assistant:AssistantNode',
    'someip_gateway': 'qwen_vehicle.nodes.someip_gateway:SomeIpGateway',
    'voice': 'qwen_vehicle.nodes.voice:VoiceNode',
}


def node_class(name: str):
    try:
        target = NODE_CLASSES[name]
    except KeyError:
        raise ValueError(f'unknown node {name!r}; nodes: {sorted(NODE_CLASSES)}') from None
    module, cls = target.split(':')
    return getattr(importlib.import_module(module), cls)


class Bringup:
    """Nodes in one process, a private rclpy context and a MultiThreadedExecutor in a background thread.

    Buses are python-can `virtual` channels named `<prefix>_<bus>` so several bringups never share a bus.
    """

    def __init__(self, nodes=('vehicle_sim', 'can_bridge'), parameters: dict[str, dict[str, Any]] | None = None, *,
                 signal_map: str = 'signals.yaml', channel_prefix: str | None = None, interface: str = 'virtual',
                 threads: int = 4) -> None:
        self.node_names = list(nodes)
        self.parameters = parameters or {}
        self.signal_map = signal_map
        self.channel_prefix = channel_prefix or f'qv{uuid.uuid4().hex[:8]}'
        self.interface = interface
        self.threads = threads
        self.context = Context()
        self.nodes: dict[str, Any] = {}
        self.executor: MultiThreadedExecutor | None = None
        self._thread: threading.Thread | None = None

    def bus_parameters(self) -> dict[str, Any]:
        smap = load_signal_map(self.signal_map)
        params: dict[str, Any] = {'signal_map': self.signal_map}
        for bus in smap.buses:
            params[f'{bus}.interface'] = self.interface
            params[f'{bus}.channel'] = f'{self.channel_prefix}_{bus}'
        return params

    def start(self) -> 'Bringup':
        rclpy.init(context=self.context)
        try:
            bus_params = self.bus_parameters()
            for name in self.node_names:
                params = dict(bus_params) if name in ('vehicle_sim', 'can_bridge') else {}
                params.update(self.parameters.get(name, {}))
                overrides = [Parameter(k, value=v) for k, v in params.items()]
                self.nodes[name] = node_class(name)(context=self.context, parameter_overrides=overrides)
            self.executor = MultiThreadedExecutor(num_threads=self.threads, context=self.context)
            for node in self.nodes.values():
                self.executor.add_node(node)
            gc.freeze()  # start-up objects leave the collector's scans: shorter pauses on the hot paths
            self._thread = threading.Thread(target=self._spin, name='qv-bringup', daemon=True)
            self._thread.start()
        except Exception:
            self.stop()
            raise
        return self

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - context shut down under us
            log.debug('executor stopped', exc_info=True)

    def add_node(self, node) -> None:
        """Spin an extra node (e.g. a test's subscriber) in this bringup's executor."""
        self.executor.add_node(node)

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            close = getattr(node, 'close', None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001
                    log.exception('closing %s failed', node.get_name())
        if self.executor is not None:
            self.executor.shutdown(timeout_sec=2.0)
        for node in self.nodes.values():
            node.destroy_node()
        self.nodes.clear()
        if self.context.ok():
            rclpy.shutdown(context=self.context)
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def __enter__(self) -> 'Bringup':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
