"""Real Kona EV logs replayed onto virtual buses into a real can_bridge (kona_signals.yaml), subscribers on the
standard topics; random frames into the same bridge must not take it down."""
import os
import threading
import time
import uuid

import can
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rclpy.node import Node
from sensor_msgs.msg import BatteryState
from std_msgs.msg import Float32

from qwen_vehicle.bringup import Bringup
from qwen_vehicle.core.mapping import load_signal_map
from qwen_vehicle.core.replay import BusMap, Replayer
from qwen_vehicle.core.tools import read_tool_result, vehicle_tools
from qwen_vehicle.nodes import qos

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOGS = os.path.join(REPO, '..', 'shared', 'realdata', 'kona-ev-can-logs')
PCAN_LOG = os.path.join(LOGS, '230112-7-2019-pcan-ccan-power-off-on-ready-off.csv')
HEAT_LOG = os.path.join(LOGS, '250105-1-2020-comp-can-heating.csv')
needs_logs = pytest.mark.skipif(not os.path.isdir(LOGS), reason=f'real Kona logs not found at {LOGS}')


class Probe(Node):
    def __init__(self, context):
        super().__init__(f'probe_{uuid.uuid4().hex[:6]}', context=context)
        self.msgs = {}
        self.cond = threading.Condition()
        for topic, cls, profile in (('vehicle/battery', BatteryState, qos.SENSOR_STREAM),
                                    ('vehicle/low_voltage_battery', BatteryState, qos.SENSOR_STREAM),
                                    ('vehicle/cabin/heater/power', Float32, qos.sensor_stream(1000)),
                                    ('vehicle/cabin/compressor/power', Float32, qos.sensor_stream(1000))):
            self.create_subscription(cls, topic, lambda m, t=topic: self._got(t, m), profile)

    def _got(self, topic, msg):
        with self.cond:
            self.msgs.setdefault(topic, []).append(msg)
            self.cond.notify_all()


@pytest.fixture(scope='module')
def kona():
    b = Bringup(['can_bridge'], signal_map='kona_signals.yaml',
                parameters={'can_bridge': {'policy': '', 'diagnostics_period': 0.5}})
    b.start()
    probe = Probe(b.context)
    b.add_node(probe)
    buses = {name: can.Bus(interface='virtual', channel=f'{b.channel_prefix}_{name}', ignore_config=True)
             for name in b.nodes['can_bridge'].map.buses}
    time.sleep(0.5)                       # discovery between the probe and the bridge
    yield b, probe, buses
    for bus in buses.values():
        bus.shutdown()
    b.executor.remove_node(probe)
    probe.destroy_node()
    b.stop()


def passes_filter(codec, arbitration_id, extended):
    return not codec.can_filters() or any(f['can_id'] == arbitration_id and f['extended'] == extended
                                          for f in codec.can_filters())


def bridge_frames(bridge):
    return {name: codec.account.frames for name, codec in bridge.codecs.items()}


def wait_for(cond, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def replay(b, buses, log, bus_specs, speed=0.0):
    bridge = b.nodes['can_bridge']
    before = bridge_frames(bridge)
    rep = Replayer(bridge.map, buses, BusMap.parse(bridge.map.buses, bus_specs), speed=speed)
    # what the bridge will see: the frames sent on each bus that pass its receive filters
    expected = dict(before)
    result = rep.run([log])
    for name, codec in rep.account.codecs.items():
        acc = codec.account
        mapped = acc.decoded_total + sum(n for reason, c in acc.skipped.items() if reason != 'unknown_id'
                                         for n in c.values())
        expected[name] += mapped if bridge.codecs[name].can_filters() else acc.frames
    assert wait_for(lambda: bridge_frames(bridge) == expected), (bridge_frames(bridge), expected)
    return result


@needs_logs
def test_pcan_log_through_the_bridge(kona):
    b, probe, buses = kona
    bridge = b.nodes['can_bridge']
    result = replay(b, buses, PCAN_LOG, ['0=pcan', '1=ccan'])
    with open(PCAN_LOG) as fh:
        lines = sum(1 for line in fh if line.strip()) - 1
    acc = result.account
    assert acc.frames == lines and acc.balanced(), acc.table()
    assert acc.sent == {'pcan': 24263, 'ccan': 15283}
    for name, codec in bridge.codecs.items():
        assert codec.account.balanced(), name
    assert bridge.codecs['pcan'].account.decoded['Batt_HV_Status'] == 70
    with probe.cond:
        assert probe.cond.wait_for(lambda: len(probe.msgs.get('vehicle/battery', [])) >= 100, 10)
        batt = list(probe.msgs['vehicle/battery'])
    last = batt[-1]
    assert last.voltage == pytest.approx(355, abs=1.0)
    assert last.percentage == pytest.approx(0.365)
    assert last.header.stamp.sec > 0
    # the assistant's read tool answers "what is my battery level" from the same store the bridge fills
    spec = next(t for t in vehicle_tools(bridge.map) if t.name == 'get_battery_status')
    answer = read_tool_result(spec, bridge.store, {})
    assert answer['state_of_charge_pct'] == pytest.approx(36.5)
    assert answer['pack_voltage_v'] == pytest.approx(355, abs=1.0)
    lv = [m.voltage for m in probe.msgs.get('vehicle/low_voltage_battery', []) if m.voltage > 0]
    assert lv and all(12.0 - 1e-6 <= v <= 13.4 + 1e-6 for v in lv)


@needs_logs
def test_heating_log_through_the_bridge(kona):
    b, probe, buses = kona
    bridge = b.nodes['can_bridge']
    result = replay(b, buses, HEAT_LOG, ['0=comp'], speed=40.0)     # 46 s of log in about 1.2 s
    assert result.account.balanced() and len(result.account.stats.clock_resets) == 1
    assert result.log_span_s == pytest.approx(46.6, abs=0.5)
    assert bridge.codecs['comp'].account.decoded['HeaterStatus'] == 4667
    with probe.cond:
        assert probe.cond.wait_for(lambda: len(probe.msgs.get('vehicle/cabin/compressor/power', [])) > 0, 10)
        heater = [m.data for m in probe.msgs.get('vehicle/cabin/heater/power', [])]
        comp = [m.data for m in probe.msgs['vehicle/cabin/compressor/power']]
    assert heater[0] == 0 and max(heater) == pytest.approx(1870, abs=20)
    assert min(comp) >= 523 and max(comp) <= 637
    state = bridge.store.get('Vehicle.Cabin.HVAC.Heater.Power')
    assert state.valid and state.value > 1500


KONA = load_signal_map('kona_signals.yaml')
MAPPED = sorted({(m.frame_id, bool(m.is_extended_frame), bus) for bus, d in KONA.buses.items()
                 for m in d.database.messages})
FRAMES = st.lists(st.tuples(
    st.one_of(st.sampled_from(MAPPED),
              st.tuples(st.integers(0, 0x7FF), st.just(False), st.sampled_from(sorted(KONA.buses)))),
    st.binary(min_size=0, max_size=8)), min_size=1, max_size=40)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(frames=FRAMES)
def test_random_frames_never_take_the_bridge_down(kona, frames):
    b, _, buses = kona
    bridge = b.nodes['can_bridge']
    expected = bridge_frames(bridge)
    for (fid, ext, bus), data in frames:
        buses[bus].send(can.Message(arbitration_id=fid, is_extended_id=ext, data=data))
        if passes_filter(bridge.codecs[bus], fid, ext):
            expected[bus] += 1
    assert wait_for(lambda: bridge_frames(bridge) == expected, 10.0), (bridge_frames(bridge), expected)
    assert bridge._worker.is_alive()
    assert all(c.account.balanced() for c in bridge.codecs.values())
