"""assistant: text in on `assistant/text`, reply on `assistant/reply`, JSON events on `assistant/events`.

Input is plain text or JSON {"text", "zone", "speaker", "request_id"}. Vehicle state comes from `vehicle/state`;
actuation goes through the CAN bridge's parameter service, so the bridge's policy gates it a second time.
Event schema (one JSON object per message): {"type": plan | decision | actuation | result | confirmation_requested |
confirmation_accepted | confirmation_declined | confirmation_timeout | reply | error, "request_id", "t", ...}.
"""
from __future__ import annotations

import json
import os
import queue
import threading
from dataclasses import dataclass

from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String

from ..core.assistant import SYSTEM_PROMPT, Assistant
from ..core.mapping import load_signal_map
from ..core.policy import SafetyPolicy
from ..core.profile import ProfileStore
from ..core.tools import all_tools
from . import qos
from .runner import run_node
from .params import declare_typed
from .vehicle_client import VehicleClient

COVERAGE_PATH = 'Vehicle.Connectivity.CellularCoverage'


@dataclass
class AssistantConfig:
    signal_map: str = 'signals.yaml'
    policy: str = 'policy.yaml'
    bridge: str = 'can_bridge'
    services_url: str = ''
    services_token_env: str = 'QV_SERVICES_TOKEN'
    services_db: str = ''
    profile_db: str = ':memory:'
    confirm_timeout: float = 30.0
    readback_timeout: float = 5.0
    default_zone: str = 'driver'
    llm_local_model: str = ''
    llm_device: str = 'auto'
    llm_endpoint: str = ''
    llm_model: str = ''
    llm_api_key_env: str = 'DASHSCOPE_API_KEY'
    llm_prefer: str = 'local'

    def validate(self) -> None:
        if self.default_zone not in ('driver', 'passenger', 'rear'):
            raise ValueError('default_zone must be driver, passenger or rear')
        if self.llm_prefer not in ('local', 'cloud'):
            raise ValueError('llm_prefer must be local or cloud')


class AssistantNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__('assistant', **kwargs)
        c = AssistantConfig()
        for name, default, desc in (
                ('signal_map', c.signal_map, 'signal map YAML'), ('policy', c.policy, 'safety policy YAML'),
                ('bridge', c.bridge, 'name of the can_bridge node'),
                ('services_url', c.services_url, 'lifestyle services base URL; empty = no services'),
                ('services_token_env', c.services_token_env, 'environment variable holding the services token'),
                ('services_db', c.services_db, 'SQLite file for the outbox and read cache '
                 '(default: ~/.local/share/qwen_vehicle/services.db, so queued orders survive a restart)'),
                ('profile_db', c.profile_db, 'SQLite file for driver profiles and the audit log'),
                ('default_zone', c.default_zone, 'zone of utterances that name none'),
                ('llm_local_model', c.llm_local_model, 'local Qwen checkpoint folder (transformers); empty = none'),
                ('llm_device', c.llm_device, 'auto, cpu or cuda'),
                ('llm_endpoint', c.llm_endpoint, 'OpenAI-compatible base URL (DashScope, vLLM, Ollama); empty = none'),
                ('llm_model', c.llm_model, 'model name at the endpoint'),
                ('llm_api_key_env', c.llm_api_key_env, 'environment variable holding the endpoint key'),
                ('llm_prefer', c.llm_prefer, 'local or cloud, when both are configured')):
            setattr(c, name, declare_typed(self, name, default, desc, read_only=True))
        c.confirm_timeout = declare_typed(self, 'confirm_timeout', c.confirm_timeout, 'seconds to wait for a yes',
                                          float_range=(1.0, 600.0), read_only=True)
        c.readback_timeout = declare_typed(self, 'readback_timeout', c.readback_timeout,
                                           'seconds to wait for the bus read-back', float_range=(0.1, 60.0),
                                           read_only=True)
        c.validate()
        self.config = c
        self.map = load_signal_map(c.signal_map)
        tools = all_tools(self.map, services=bool(c.services_url))
        value_types = {path: spec.parameters['properties']['value'].get('type', 'string')
                       for spec in tools if spec.kind == 'set' for path in spec.paths.values()}
        self.vehicle = VehicleClient(self, bridge=c.bridge, value_types=value_types)
        self.policy = SafetyPolicy.load(c.policy, self.vehicle.store, self.map)
        self.service_executor = self._make_services()
        self.profiles = ProfileStore(c.profile_db)
        self.reply_pub = self.create_publisher(String, 'assistant/reply', qos.EVENTS)
        self.events_pub = self.create_publisher(String, 'assistant/events', qos.EVENTS)
        router = self._make_llm(tools)
        self.assistant = Assistant(tools, self.policy, self.vehicle, services=self.service_executor, profiles=self.profiles,
                                   router=router, confirm_timeout=c.confirm_timeout,
                                   readback_timeout=c.readback_timeout, on_event=self._publish_event)
        self._inbox: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._worker = threading.Thread(target=self._work, name='qv-assistant', daemon=True)
        self._worker.start()
        self.create_subscription(String, 'assistant/text', self._on_text, qos.COMMANDS,
                                 callback_group=MutuallyExclusiveCallbackGroup())
        self.create_timer(0.5, self._tick)
        self.get_logger().info(f'assistant ready: {len(tools)} tools, '
                               f'llm={c.llm_local_model or c.llm_endpoint or "rules only"}, '
                               f'services={c.services_url or "off"}')

    def _make_services(self):
        if not self.config.services_url:
            return None
        from ..backends.services.tools import ServiceExecutor

        def coverage() -> bool:
            value = self.vehicle.store.value(COVERAGE_PATH)
            return value is None or value in ('Good', 'Limited')

        def on_outcome(result) -> None:
            self._publish_event({'type': 'outbox_delivered', 'result': result.to_dict()})
            msg = result.content.get('message') if isinstance(result.content, dict) else None
            if isinstance(msg, dict):
                self.reply_pub.publish(String(data=msg.get('en', '')))

        token = os.environ.get(self.config.services_token_env) or None
        db = self.config.services_db or os.path.join(
            os.environ.get('XDG_DATA_HOME') or os.path.expanduser('~/.local/share'), 'qwen_vehicle', 'services.db')
        if db != ':memory:':
            os.makedirs(os.path.dirname(os.path.abspath(db)), exist_ok=True)
        executor = ServiceExecutor.from_config({'base_url': self.config.services_url, 'token': token},
                                               store_path=db, coverage=coverage,
                                               on_outcome=on_outcome)
        executor.start_flusher()
        return executor

    def _make_llm(self, tools):
        """A router (rules first, then the local and/or cloud model) when a model is configured."""
        c = self.config
        if not c.llm_local_model and not c.llm_endpoint:
            return None
        from ..backends.llm import create_backend
        from ..backends.llm.router import Router
        from ..core.intents import IntentEngine
        local = create_backend('transformers', model_path=c.llm_local_model, device=c.llm_device) \
            if c.llm_local_model else None
        if local is not None:
            ms = local.warm_up(tools, [{'role': 'system', 'content': SYSTEM_PROMPT}])
            self.get_logger().info(f'local model ready: system + tools prefix prefilled in {ms:.0f} ms')
        cloud = create_backend('openai', base_url=c.llm_endpoint, model=c.llm_model or 'qwen-plus',
                               api_key_env=c.llm_api_key_env) if c.llm_endpoint else None
        router = Router(IntentEngine(tools), local, cloud, prefer=c.llm_prefer, vehicle_tools=tools,
                        connectivity=lambda: self.vehicle.store.value(COVERAGE_PATH) in (None, 'Good', 'Limited'))
        return router

    def _on_text(self, msg: String) -> None:
        text, zone, speaker, request_id = msg.data, None, None, None
        stripped = msg.data.strip()
        if stripped.startswith('{'):
            try:
                doc = json.loads(stripped)
                text, zone, speaker, request_id = (doc.get('text', ''), doc.get('zone'), doc.get('speaker'),
                                                   doc.get('request_id'))
            except ValueError:
                pass
        if zone not in ('driver', 'passenger', 'rear'):
            zone = self.config.default_zone
        self._inbox.put((str(text), zone, speaker, request_id))

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            text, zone, speaker, request_id = item
            turn = self.assistant.handle(text, zone=zone, speaker=speaker, request_id=request_id)
            self.reply_pub.publish(String(data=turn.reply))

    def _tick(self) -> None:
        for turn in self.assistant.tick():
            if turn.reply:
                self.reply_pub.publish(String(data=turn.reply))

    def _publish_event(self, event: dict) -> None:
        try:
            self.events_pub.publish(String(data=json.dumps(event, ensure_ascii=False, default=str)))
        except Exception:  # noqa: BLE001 - context shutting down
            pass

    def close(self) -> None:
        self.assistant.close()
        self._stop.set()
        self._worker.join(timeout=2.0)
        if self.service_executor is not None:
            self.service_executor.close()
        self.profiles.close()


def main(args=None) -> None:
    run_node(AssistantNode, args=args)


if __name__ == '__main__':
    main()
