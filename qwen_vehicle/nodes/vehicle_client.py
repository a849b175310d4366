"""The car as seen by other nodes: live state from `vehicle/state`, actuation through the bridge's parameters."""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from rcl_interfaces.srv import SetParameters
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import String

from ..core.actuation import CommandEvent
from ..core.codec import SignalUpdate
from ..core.signals import SignalStore
from . import qos
from .can_bridge import ACTUATION_EVENTS, STATE_TOPIC

COERCE = {'number': float, 'integer': int, 'boolean': bool, 'string': str}


class RemoteActuation:
    """A request sent to the bridge's parameter service; wait() blocks until done, refused or timed out."""

    def __init__(self, client: 'VehicleClient', path: str, value: Any, request_id: str) -> None:
        self.client = client
        self.path = path
        self.value = value
        self.sent_at = time.time()
        self.event = CommandEvent(request_id, path, value, 'accepted', source='assistant', requested_at=self.sent_at)
        self._done = threading.Event()
        self._response_seen = threading.Event()

    def on_response(self, future) -> None:
        try:
            result = future.result().results[0]
        except Exception as exc:  # noqa: BLE001 - the service went away
            self._final('refused', f'the CAN bridge did not answer: {exc}')
            return
        if not result.successful:
            self._final('refused', result.reason)
        self._response_seen.set()

    def on_event(self, ev: dict[str, Any]) -> None:
        if ev.get('path') != self.path or ev.get('requested_at', 0) + 0.5 < self.sent_at:
            return
        if ev.get('status') in ('done', 'timeout', 'refused', 'cancelled', 'superseded'):
            self.event.readback = ev.get('readback')
            self.event.elapsed_s = ev.get('elapsed_s')
            self.event.value = ev.get('value', self.value)
            self._final(ev['status'], ev.get('reason'))

    def _final(self, status: str, reason: str | None) -> None:
        if self._done.is_set():
            return
        self.event.status, self.event.reason = status, reason
        self._done.set()
        self.client._forget(self)

    def wait(self, timeout: float | None = None) -> CommandEvent:
        if not self._done.wait(timeout):
            self.client._forget(self)
        return self.event


class VehicleClient:
    """Keeps a SignalStore fed from the bridge's state topic (stale when the bridge goes quiet)."""

    def __init__(self, node: Node, *, bridge: str = 'can_bridge', state_ttl: float = 1.0,
                 value_types: dict[str, str] | None = None) -> None:
        self.node = node
        self.store = SignalStore(default_ttl=state_ttl)
        self.value_types = value_types or {}
        self._group = ReentrantCallbackGroup()
        self._pending: list[RemoteActuation] = []
        self._lock = threading.Lock()
        self._client = node.create_client(SetParameters, f'/{bridge}/set_parameters', callback_group=self._group)
        node.create_subscription(String, STATE_TOPIC, self._on_state, qos.LATCHED_STATE, callback_group=self._group)
        node.create_subscription(String, ACTUATION_EVENTS, self._on_event, qos.EVENTS, callback_group=self._group)

    def _on_state(self, msg: String) -> None:
        try:
            doc = json.loads(msg.data)
            updates = [SignalUpdate(path, s.get('value'), s.get('value'), float(s.get('stamp') or 0.0),
                                    bool(s.get('valid')) and bool(s.get('fresh')), s.get('reason'))
                       for path, s in doc.get('signals', {}).items()]
        except (ValueError, AttributeError, TypeError) as exc:
            self.node.get_logger().warning(f'bad vehicle/state message: {exc}', throttle_duration_sec=10.0)
            return
        self.store.apply(updates)

    def _on_event(self, msg: String) -> None:
        try:
            ev = json.loads(msg.data)
        except ValueError:
            return
        with self._lock:
            pending = list(self._pending)
        for p in pending:
            p.on_event(ev)

    def _forget(self, p: RemoteActuation) -> None:
        with self._lock:
            if p in self._pending:
                self._pending.remove(p)

    def actuate(self, path: str, value: Any, *, source: str = 'assistant', request_id: str = '') -> RemoteActuation:
        kind = self.value_types.get(path)
        if kind in COERCE and not isinstance(value, bool) or kind == 'boolean':
            value = COERCE[kind](value)
        p = RemoteActuation(self, path, value, request_id)
        with self._lock:
            self._pending.append(p)
        if not self._client.service_is_ready() and not self._client.wait_for_service(timeout_sec=2.0):
            p._final('refused', 'the CAN bridge is not running')
            return p
        req = SetParameters.Request(parameters=[Parameter(path, value=value).to_parameter_msg()])
        self._client.call_async(req).add_done_callback(p.on_response)
        return p
