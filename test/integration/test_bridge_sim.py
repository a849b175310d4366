"""Real rclpy nodes on a virtual bus: topics, diagnostics, actuation through the parameter service, read-back."""
import json
import math
import threading
import time

import can
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import TwistStamped
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from sensor_msgs.msg import BatteryState, NavSatFix, Temperature
from std_msgs.msg import Float32, String

from qwen_vehicle.bringup import Bringup
from qwen_vehicle.nodes import qos

TARGET = 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature'


class Probe(Node):
    def __init__(self, context):
        super().__init__('probe', context=context)
        self.msgs = {}
        self.cond = threading.Condition()
        for topic, cls, profile in (('vehicle/battery', BatteryState, qos.SENSOR_STREAM),
                                    ('vehicle/gnss/fix', NavSatFix, qos.SENSOR_STREAM),
                                    ('vehicle/cabin/row1/driver/temperature', Temperature, qos.SENSOR_STREAM),
                                    ('vehicle/velocity', TwistStamped, qos.SENSOR_STREAM),
                                    ('vehicle/cabin/row1/driver/target_temperature', Float32, qos.LATCHED_STATE),
                                    ('vehicle/actuation_events', String, qos.EVENTS),
                                    ('/diagnostics', DiagnosticArray, qos.DIAGNOSTICS)):
            self.create_subscription(cls, topic, lambda m, t=topic: self._got(t, m), profile)

    def _got(self, topic, msg):
        with self.cond:
            self.msgs.setdefault(topic, []).append(msg)
            self.cond.notify_all()

    def wait(self, predicate, timeout=5.0):
        with self.cond:
            return self.cond.wait_for(lambda: predicate(self.msgs), timeout)


@pytest.fixture(scope='module')
def car():
    b = Bringup(['vehicle_sim', 'can_bridge'])
    b.start()
    probe = Probe(b.context)
    b.add_node(probe)
    yield b, probe
    b.stop()


def test_standard_interfaces_are_published(car):
    b, probe = car
    assert probe.wait(lambda m: all(m.get(t) for t in ('vehicle/battery', 'vehicle/gnss/fix', 'vehicle/velocity',
                                                          'vehicle/cabin/row1/driver/temperature')))
    bat = probe.msgs['vehicle/battery'][-1]
    assert 0.7 < bat.percentage < 0.8 and 330 < bat.voltage < 400
    assert bat.power_supply_status == BatteryState.POWER_SUPPLY_STATUS_DISCHARGING
    assert abs(time.time() - (bat.header.stamp.sec + bat.header.stamp.nanosec * 1e-9)) < 2.0
    fix = probe.msgs['vehicle/gnss/fix'][-1]
    assert fix.latitude == pytest.approx(30.2592, abs=0.01) and fix.longitude == pytest.approx(120.1553, abs=0.01)
    assert probe.wait(lambda m: any(not math.isnan(f.altitude) for f in m['vehicle/gnss/fix']))
    temp = probe.msgs['vehicle/cabin/row1/driver/temperature'][-1]
    assert -40 < temp.temperature < 87 and temp.header.frame_id == 'base_link'
    assert probe.wait(lambda m: m.get('vehicle/cabin/row1/driver/target_temperature'))


def test_diagnostics_report_buses_and_rates(car):
    b, probe = car
    assert probe.wait(lambda m: len(m.get('/diagnostics', [])) >= 2, timeout=4.0)
    statuses = {s.name: s for s in probe.msgs['/diagnostics'][-1].status}
    body = statuses['can_bridge: bus body']
    values = {kv.key: kv.value for kv in body.values}
    assert body.level == DiagnosticStatus.OK and values['state'] == 'ok'
    assert values['rate.HVAC_Status'].endswith('/5.0 Hz')
    assert float(values['rate.HVAC_Status'].split('/')[0]) > 2.0


def test_parameter_service_actuates_with_read_back(car):
    b, probe = car
    spy = can.Bus(interface='virtual', channel=f'{b.channel_prefix}_body', ignore_config=True)
    try:
        client_node = Node('param_caller', context=b.context)
        b.add_node(client_node)
        client = AsyncParameterClient(client_node, 'can_bridge')
        assert client.wait_for_services(timeout_sec=5.0)
        future = client.set_parameters([Parameter(TARGET, value=18.5)])
        deadline = time.monotonic() + 5
        while not future.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert future.result().results[0].successful
        frame = spy.recv(2.0)
        while frame is not None and frame.arbitration_id != 0x2E0:
            frame = spy.recv(1.0)
        assert frame is not None and frame.data[0] & 0x3F == 5  # (18.5 - 16) / 0.5
        assert probe.wait(lambda m: any(json.loads(e.data)['status'] == 'done' and json.loads(e.data)['path'] == TARGET
                                        for e in m.get('vehicle/actuation_events', [])))
        assert probe.wait(lambda m: m['vehicle/cabin/row1/driver/target_temperature'][-1].data == 18.5)
        refused = client.set_parameters([Parameter('Vehicle.Cabin.HVAC.FanLevel', value=7),
                                         Parameter(TARGET, value=35.0),
                                         Parameter('Vehicle.Cabin.HVAC.Defrost', value='Sideways')])
        deadline = time.monotonic() + 5
        while not refused.done() and time.monotonic() < deadline:
            time.sleep(0.01)
        results = refused.result().results
        assert results[0].successful  # each parameter is set on its own
        assert not results[1].successful and 'out of range' in results[1].reason  # the descriptor's range
        assert not results[2].successful and "not one of ['Off', 'Front', 'Rear', 'Both']" in results[2].reason
    finally:
        spy.shutdown()


def test_cabin_follows_the_target(car):
    b, probe = car
    sim = b.nodes['vehicle_sim']
    sim.plant.state.air_conditioning, sim.plant.state.fan_level = True, 7
    start = probe.msgs['vehicle/cabin/row1/driver/temperature'][-1].temperature
    assert probe.wait(lambda m: m['vehicle/cabin/row1/driver/temperature'][-1].temperature < start - 0.9,
                      timeout=10.0)
