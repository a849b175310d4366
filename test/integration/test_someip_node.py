"""The someip_gateway node over real rclpy/DDS: a stand-in CAN bridge (a real rclpy node publishing
vehicle/state, offering the parameter service with a policy, publishing vehicle/actuation_events) and a SOME/IP
client on 127.0.0.1 calling the node's methods and receiving its events; a remote SOME/IP ECU whose events the
node republishes on someip/signals."""
import json
import socket
import threading
import time

import pytest

rclpy = pytest.importorskip('rclpy')
yaml = pytest.importorskip('yaml')

from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import MultiThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from std_msgs.msg import String  # noqa: E402

from qwen_vehicle.nodes import qos  # noqa: E402
from qwen_vehicle.nodes.someip_gateway import SIGNALS_TOPIC, SomeIpGatewayNode  # noqa: E402
from qwen_vehicle.paths import share_path  # noqa: E402
from qwen_vehicle.someip.gateway import SomeIpGateway, load_config, make_sd  # noqa: E402
from qwen_vehicle.someip.runtime import Scheduler  # noqa: E402
from qwen_vehicle.someip.service import ServiceError, SomeIpClient  # noqa: E402
from qwen_vehicle.someip.vehicle import InMemoryVehicle  # noqa: E402
from qwen_vehicle.someip.wire import ReturnCode  # noqa: E402

DRIVER_TARGET = 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature'
FAN = 'Vehicle.Cabin.HVAC.FanLevel'
SOC = 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed'
OUTSIDE = 'Vehicle.Exterior.AirTemperature'


def wait_for(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.02)
    return condition()


class FakeBridge(Node):
    """Stands in for can_bridge: same topics, same parameter contract, a tiny policy."""

    def __init__(self, context, silent_paths=()):
        super().__init__('can_bridge', context=context)
        self.silent_paths = set(silent_paths)
        self.values = {SOC: 55.0, DRIVER_TARGET: 21.0, FAN: 2, OUTSIDE: 8.5}
        self.declare_parameter(DRIVER_TARGET, 21.0, ParameterDescriptor(dynamic_typing=False))
        self.declare_parameter(FAN, 2, ParameterDescriptor(dynamic_typing=False))
        self.add_on_set_parameters_callback(self._on_set)
        self.events = self.create_publisher(String, 'vehicle/actuation_events', qos.EVENTS)
        self.state = self.create_publisher(String, 'vehicle/state', qos.LATCHED_STATE)
        self.create_timer(0.05, self._publish_state)
        self.count = 0

    def _on_set(self, params):
        for p in params:
            if p.name == DRIVER_TARGET and p.value > 28.0:
                return SetParametersResult(successful=False, reason=f'policy: {p.value} degC is above 28 degC')
        for p in params:
            self.count += 1
            if p.name in self.silent_paths:
                continue  # accepted, but no read-back ever comes
            self.values[p.name] = p.value
            event = {'request_id': f'req_{self.count}', 'path': p.name, 'value': p.value, 'status': 'done',
                     'reason': None, 'requested_at': time.time(), 'readback': p.value}
            self.events.publish(String(data=json.dumps(event)))
        return SetParametersResult(successful=True)

    def _publish_state(self):
        now = time.time()
        signals = {path: {'value': value, 'valid': True, 'fresh': True, 'stamp': now}
                   for path, value in self.values.items()}
        signals['Vehicle.Powertrain.Range'] = {'value': 300.0, 'valid': False, 'fresh': True, 'stamp': now}
        self.state.publish(String(data=json.dumps({'stamp': now, 'signals': signals})))


@pytest.fixture
def ros():
    context = Context()   # private: never collides with another test's rclpy.init()
    rclpy.init(context=context)
    executor = MultiThreadedExecutor(num_threads=3, context=context)
    thread = threading.Thread(target=executor.spin, daemon=True)
    nodes = []

    def add(make):
        node = make(context)
        nodes.append(node)
        executor.add_node(node)
        return node
    thread.start()
    yield add
    for node in reversed(nodes):
        if hasattr(node, 'close'):
            node.close()
        executor.remove_node(node)
        node.destroy_node()
    executor.shutdown(timeout_sec=2)
    rclpy.shutdown(context=context)
    thread.join(timeout=5)


def gateway_node(**overrides):
    params = {'service_port': 0, 'sd_enabled': False, 'actuation_timeout': 1.0, **overrides}
    return lambda context: SomeIpGatewayNode(context=context,
                                             parameter_overrides=[Parameter(k, value=v) for k, v in params.items()])


def test_methods_go_through_the_bridge_policy_and_events_carry_its_state(ros):
    bridge = ros(lambda context: FakeBridge(context, silent_paths={FAN}))
    node = ros(gateway_node())
    config = node.config
    with SomeIpClient() as client:
        climate = client.proxy(config.service('VehicleClimate'), node.gateway.address)
        battery = client.proxy(config.service('VehicleBattery'), node.gateway.address)
        assert wait_for(lambda: node.vehicle.snapshot().get(SOC) == 55.0)
        assert 'Vehicle.Powertrain.Range' not in node.vehicle.snapshot()  # invalid at the bridge

        assert climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 22.5}, timeout=5) == \
            {'status': 'done'}
        assert bridge.get_parameter(DRIVER_TARGET).value == 22.5

        with pytest.raises(ServiceError) as caught:
            climate.call('SetTargetTemperature', {'zone': 'driver', 'value': 29.0}, timeout=5)
        assert caught.value.return_code == ReturnCode.E_REFUSED
        assert caught.value.reason == 'policy: 29.0 degC is above 28 degC'

        with pytest.raises(ServiceError) as caught:   # accepted by the bridge, never read back
            climate.call('SetFanLevel', {'value': 5}, timeout=5)
        assert caught.value.return_code == ReturnCode.E_TIMEOUT

        seen = []
        battery.on_event('BatteryStatus', lambda value, message: seen.append(value))
        node.gateway.skeletons['VehicleBattery'].subscribe(1, client.address, ttl_s=10)
        node.gateway.publish_events(node.gateway.skeletons['VehicleBattery'])
        assert wait_for(lambda: seen)
        assert seen[0]['state_of_charge_pct'] == 55.0


def test_read_only_parameters_are_refused(ros):
    node = ros(gateway_node())
    result = node.set_parameters([Parameter('service_port', value=1234)])[0]
    assert not result.successful and 'read-only' in result.reason


def test_consumed_service_is_republished_on_someip_signals(ros, tmp_path):
    # a remote ECU offering VehicleClimate over SD (unicast peers on 127.0.0.1)
    with open(share_path('config', 'someip.yaml'), encoding='utf-8') as handle:
        raw = yaml.safe_load(handle)
    raw['sd'].update(initial_delay_ms=[1, 5], repetitions_base_delay_ms=10, cyclic_offer_delay_ms=200)
    raw['services'][1]['events'][0]['cycle_ms'] = 50
    scheduler = Scheduler()
    remote_config = load_config(raw)
    remote_sd = make_sd(remote_config, scheduler, port=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(('127.0.0.1', 0))
        node_sd_port = probe.getsockname()[1]
    raw['sd']['peers'] = [list(remote_sd.address)]
    raw['consume'] = [{'service': 'VehicleClimate'}]
    path = tmp_path / 'someip_consume.yaml'
    path.write_text(yaml.safe_dump(raw))
    remote_sd.peers = [('127.0.0.1', node_sd_port)]
    remote_sd.start()
    remote = SomeIpGateway(remote_config, InMemoryVehicle({OUTSIDE: -3.5, FAN: 6}), ('127.0.0.1', 0),
                           sd=remote_sd, scheduler=scheduler).start()
    try:
        node = ros(gateway_node(config=str(path), sd_enabled=True, sd_port=node_sd_port))
        listener = ros(lambda context: Node('someip_listener', context=context))
        received = {}
        listener.create_subscription(String, SIGNALS_TOPIC,
                                     lambda msg: received.update(json.loads(msg.data)['signals']),
                                     qos.LATCHED_STATE)
        assert wait_for(lambda: OUTSIDE in received and FAN in received, timeout=8)
        assert received[OUTSIDE]['value'] == -3.5 and received[FAN]['value'] == 6
        assert received[OUTSIDE]['valid'] is True
        assert node.consumer.subscribed and all(node.consumer.subscribed.values())
    finally:
        remote.close()
        remote_sd.close()
        scheduler.close()
