import pytest

from qwen_vehicle.core import e2e
from qwen_vehicle.core.actuation import Actuator
from qwen_vehicle.core.codec import SignalUpdate
from qwen_vehicle.core.signals import SignalStore

TARGET = 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature'
AC = 'Vehicle.Cabin.HVAC.IsAirConditioningActive'


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


@pytest.fixture
def rig(signal_map):
    clock = Clock()
    sent = []
    store = SignalStore(signal_map, clock=clock)
    events = []
    act = Actuator(signal_map, {'body': sent.append, 'powertrain': sent.append}, store, ttl=1.0,
                   trailing_frames=2, on_event=events.append, clock=clock)
    request_msg = signal_map.buses['body'].database.get_message_by_name('HVAC_Request')
    return act, sent, store, clock, events, request_msg


def decoded(msg, frame):
    return msg.decode(bytes(frame.data), decode_choices=True, scaling=True)


def test_frame_holds_request_and_start_values_with_counter_and_checksum(rig):
    act, sent, store, clock, events, msg = rig
    handle = act.request(TARGET, 21.5)
    assert handle.event.status == 'accepted'
    assert len(sent) == 1
    d = decoded(msg, sent[0])
    assert d['TargetTempDriverReq'] == 21.5
    assert str(d['TargetTempPassengerReq']) == 'NoRequest' and str(d['FanLevelReq']) == 'NoRequest'
    assert e2e.verify(bytes(sent[0].data), msg.frame_id, 7)
    clock.t += 0.1
    act.tick()
    act.request(AC, True)
    counters = [decoded(msg, f)['HVAC_Request_Counter'] for f in sent]
    assert counters == [0, 1, 2]
    last = decoded(msg, sent[-1])
    assert last['TargetTempDriverReq'] == 21.5 and str(last['AirConditioningReq']) == 'On'


def test_cyclic_send_then_ttl_reverts_to_no_request(rig):
    act, sent, store, clock, events, msg = rig
    act.request(TARGET, 20.0)
    for _ in range(9):
        clock.t += 0.1
        act.tick()
    assert len(sent) == 10  # 100 ms cycle for 0.9 s
    clock.t += 0.15        # past the 1 s time-to-live
    act.tick()
    assert str(decoded(msg, sent[-1])['TargetTempDriverReq']) == 'NoRequest'
    n = len(sent)
    for _ in range(10):
        clock.t += 0.1
        act.tick()
    assert len(sent) == n + 1  # trailing no-request frames, then silence
    assert all(str(decoded(msg, f)['TargetTempDriverReq']) == 'NoRequest' for f in sent[n - 1:])


def test_done_only_after_read_back(rig):
    act, sent, store, clock, events, msg = rig
    handle = act.request(TARGET, 23.0)
    clock.t += 0.2
    store.apply([SignalUpdate(TARGET, 22.0, 0, 0.0)])
    act.tick()
    assert not handle.finished
    clock.t += 0.2
    store.apply([SignalUpdate(TARGET, 23.0, 0, 0.0)])
    act.tick()
    assert handle.finished and handle.event.status == 'done' and handle.event.readback == 23.0
    assert [e.status for e in events] == ['accepted', 'done']


def test_timeout_says_what_the_bus_showed(rig):
    act, sent, store, clock, events, msg = rig
    handle = act.request(TARGET, 25.0)
    store.apply([SignalUpdate(TARGET, 22.0, 0, 0.0)])
    clock.t += 3.5
    act.tick()
    assert handle.event.status == 'timeout'
    assert 'stayed at 22.0' in handle.event.reason


@pytest.mark.parametrize('path, value, reason', [
    (TARGET, 31.0, 'outside the allowed range 16..30'),
    (TARGET, 'warm', 'expected a number'),
    (AC, 'maybe', 'expected on/off'),
    ('Vehicle.Cabin.HVAC.Defrost', 'sideways', "not one of ['Off', 'Front', 'Rear', 'Both']"),
    ('Vehicle.Speed', 10, 'is not actuatable'),
])
def test_invalid_requests_are_refused_without_a_frame(rig, path, value, reason):
    act, sent, *_ = rig
    handle = act.request(path, value)
    assert handle.event.status == 'refused' and reason in handle.event.reason
    assert sent == []


def test_policy_hook_and_superseding(rig, signal_map):
    act, sent, store, clock, events, msg = rig
    act.policy = lambda path, value, source: (value != 30.0, 'too hot for the policy')
    assert act.request(TARGET, 30.0).event.reason == 'too hot for the policy'
    first = act.request(TARGET, 20.0)
    second = act.request(TARGET, 21.0)
    assert first.event.status == 'superseded' and not second.finished


def test_resolution_rounds_to_the_dbc_step(rig):
    act, sent, *_ = rig
    handle = act.request(TARGET, 21.3)
    assert handle.event.value == 21.5


def test_shutdown_sends_no_request_and_refuses_more(rig):
    act, sent, store, clock, events, msg = rig
    pending = act.request(TARGET, 20.0)
    act.shutdown()
    assert pending.event.status == 'cancelled'
    assert str(decoded(msg, sent[-1])['TargetTempDriverReq']) == 'NoRequest'
    assert act.request(TARGET, 20.0).event.reason == 'actuation is shut down'
