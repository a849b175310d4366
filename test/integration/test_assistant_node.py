"""The assistant node over ROS: text topic -> bridge parameter service -> command frame -> simulated cabin ->
read-back -> reply and JSON events."""
import json
import threading
import time

import can
import pytest
from rclpy.node import Node
from std_msgs.msg import String

from qwen_vehicle.bringup import Bringup
from qwen_vehicle.nodes import qos


class Driver(Node):
    def __init__(self, context):
        super().__init__('driver_console', context=context)
        self.replies, self.events = [], []
        self.cond = threading.Condition()
        self.pub = self.create_publisher(String, 'assistant/text', qos.COMMANDS)
        self.create_subscription(String, 'assistant/reply', self._reply, qos.EVENTS)
        self.create_subscription(String, 'assistant/events', self._event, qos.EVENTS)

    def _reply(self, msg):
        with self.cond:
            self.replies.append(msg.data)
            self.cond.notify_all()

    def _event(self, msg):
        with self.cond:
            self.events.append(json.loads(msg.data))
            self.cond.notify_all()

    def ask(self, text, zone='driver', timeout=10.0):
        rid = f'r{time.monotonic_ns()}'
        self.pub.publish(String(data=json.dumps({'text': text, 'zone': zone, 'request_id': rid})))
        with self.cond:
            assert self.cond.wait_for(lambda: any(e['type'] == 'reply' and e['request_id'] == rid
                                                  for e in self.events), timeout), f'no reply to {text!r}'
            return rid, next(e for e in self.events if e['type'] == 'reply' and e['request_id'] == rid)


@pytest.fixture(scope='module')
def car():
    b = Bringup(['vehicle_sim', 'can_bridge', 'assistant'])
    b.start()
    driver = Driver(b.context)
    b.add_node(driver)
    deadline = time.monotonic() + 5
    while b.nodes['assistant'].vehicle.store.value('Vehicle.Speed') is None and time.monotonic() < deadline:
        time.sleep(0.05)
    yield b, driver
    b.stop()


def test_text_to_bus_to_readback_reply(car):
    b, driver = car
    spy = can.Bus(interface='virtual', channel=f'{b.channel_prefix}_body', ignore_config=True)
    try:
        rid, reply = driver.ask('passenger side 24 degrees, fan level 4', zone='driver')
        assert 'Passenger side temperature set to 24 °C' in reply['text'] and 'Fan set to level 4' in reply['text']
        plant = b.nodes['vehicle_sim'].plant.state
        assert plant.target['passenger'] == 24.0 and plant.fan_level == 4
        kinds = [e['type'] for e in driver.events if e['request_id'] == rid]
        assert {'plan', 'decision', 'actuation', 'result', 'reply'} <= set(kinds)
        results = [e['result'] for e in driver.events if e['request_id'] == rid and e['type'] == 'result']
        assert all(r['status'] == 'done' for r in results)
        frames = []
        while (f := spy.recv(0.2)) is not None:
            if f.arbitration_id == 0x2E0:
                frames.append(f)
        assert frames, 'no HVAC_Request frame on the bus'
    finally:
        spy.shutdown()


def test_chinese_query_and_zone_rule(car):
    b, driver = car
    _, reply = driver.ask('现在电量多少', zone='driver')
    assert '电量' in reply['text'] and '%' in reply['text']
    _, reply = driver.ask('把主驾温度调到二十度', zone='passenger')
    assert '无法' in reply['text'] and b.nodes['vehicle_sim'].plant.state.target['driver'] != 20.0


def test_plain_text_input_defaults_to_driver(car):
    b, driver = car
    driver.pub.publish(String(data='seat heating to level 2'))
    with driver.cond:
        assert driver.cond.wait_for(lambda: any('seat heating set to level 2' in r for r in driver.replies), 10.0)
    assert b.nodes['vehicle_sim'].plant.state.seat_heat['driver'] == 2
