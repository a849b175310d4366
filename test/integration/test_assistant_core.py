"""The assistant end to end without ROS: text -> command frame on a real python-can bus -> simulated ECU ->
read-back -> reply; confirmation with the services sandbox over real HTTP; untrusted content."""
import time

import pytest

from qwen_vehicle.backends.services.sandbox import start_sandbox
from qwen_vehicle.backends.services.tools import ServiceExecutor
from qwen_vehicle.core.assistant import Assistant, LocalVehicle, Turn
from qwen_vehicle.core.ir import ToolCall
from qwen_vehicle.core.policy import SafetyPolicy
from qwen_vehicle.core.profile import ProfileStore
from qwen_vehicle.core.tools import all_tools
from qwen_vehicle.core.virtual_car import VirtualCar

READY = ['Vehicle.Speed', 'Vehicle.LowVoltageSystemState', 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature',
         'Vehicle.CurrentLocation.Latitude', 'Vehicle.CurrentLocation.Longitude']


@pytest.fixture
def car(signal_map):
    with VirtualCar(signal_map) as car:
        assert car.wait_for(READY)
        yield car


@pytest.fixture
def sandbox(tmp_path):
    server = start_sandbox(str(tmp_path / 'sandbox.db'))
    yield server
    server.stop()


def make_assistant(car, signal_map, services=None, profiles=None, **kw):
    policy = SafetyPolicy.load('policy.yaml', car.store, signal_map)
    return Assistant(all_tools(signal_map, services=services is not None), policy,
                     LocalVehicle(car.actuator, car.store), services=services, profiles=profiles, **kw)


def test_text_to_frame_to_readback_to_reply(car, signal_map):
    spy = car.spy('body')
    try:
        assistant = make_assistant(car, signal_map)
        turn = assistant.handle('turn on the A/C, set it to 19.5 and tell me my range', zone='driver')
        assert [r.status for r in turn.results] == ['done', 'done', 'ok']
        assert 'A/C is on' in turn.reply and '19.5 °C' in turn.reply and 'km of range' in turn.reply
        request = signal_map.buses['body'].database.get_message_by_name('HVAC_Request')
        seen = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            f = spy.recv(0.05)
            if f is not None and f.arbitration_id == request.frame_id:
                seen.append(request.decode(bytes(f.data)))
        assert any(d['TargetTempDriverReq'] == 19.5 and str(d['AirConditioningReq']) == 'On' for d in seen)
        assert car.sim.plant.state.target['driver'] == 19.5 and car.sim.plant.state.air_conditioning
        kinds = [e['type'] for e in turn.events]
        assert kinds.index('plan') < kinds.index('decision') < kinds.index('actuation') < kinds.index('result')
    finally:
        spy.shutdown()


def test_chinese_follow_up_and_reply_language(car, signal_map):
    assistant = make_assistant(car, signal_map)
    first = assistant.handle('把主驾温度调到二十二点五度', zone='driver')
    assert first.results[0].status == 'done' and '22.5' in first.reply and first.language == 'zh'
    follow = assistant.handle('副驾也一样', zone='driver')
    assert follow.results and follow.results[0].status == 'done', follow.results[0].reason
    assert follow.results[0].content['zone'] == 'passenger'
    assert car.sim.plant.state.target['passenger'] == 22.5


def test_preferred_temperature_from_profile(car, signal_map, tmp_path):
    profiles = ProfileStore(str(tmp_path / 'profiles.db'))
    assistant = make_assistant(car, signal_map, profiles=profiles)
    for value in (20.5, 24, 20.5, 23):
        turn = assistant.handle(f'set the temperature to {value}', zone='driver', speaker='bob')
        assert turn.results[0].status == 'done', turn.results[0].reason
    assert profiles.preference('bob', 'target_temperature.driver') == 20.5   # the most frequent, not the last
    turn = assistant.handle('set my usual temperature', zone='driver', speaker='bob')
    assert turn.results[0].status == 'done', turn.results[0].reason
    assert car.sim.plant.state.target['driver'] == 20.5
    profiles.close()


def test_out_of_range_and_unsafe_are_refused_with_reason(car, signal_map):
    assistant = make_assistant(car, signal_map)
    turn = assistant.handle('set the temperature to 40 degrees', zone='driver')
    assert turn.results[0].status == 'refused' and '16..30' in turn.reply
    car.sim.plant.set_scenario('driving')
    deadline = time.monotonic() + 5
    while (car.store.value('Vehicle.Speed') or 0) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    turn = assistant.handle('switch off the defrost', zone='driver')
    assert turn.results[0].status == 'refused' and 'while driving' in turn.reply
    assert car.sim.stats['commands_ok'] == 0


def test_stale_vehicle_state_fails_closed(car, signal_map):
    car.sim.silenced.add('VCU_VehicleState')
    time.sleep(0.3)
    turn = make_assistant(car, signal_map).handle('fan to level 3', zone='driver')
    assert turn.results[0].status == 'refused' and 'fail-closed' in turn.results[0].reason
    assert car.sim.plant.state.fan_level != 3


def test_order_needs_confirmation_from_the_same_zone(car, signal_map, sandbox, tmp_path):
    services = ServiceExecutor.from_config({'base_url': sandbox.url, 'token': sandbox.token},
                                           store_path=str(tmp_path / 'outbox.db'))
    profiles = ProfileStore(str(tmp_path / 'profiles.db'))
    try:
        assistant = make_assistant(car, signal_map, services, profiles)
        found = assistant.handle('find a noodle place nearby', zone='driver', speaker='alice')
        assert found.results[0].status == 'ok'
        rid = found.results[0].content['restaurants'][0]['restaurant_id']
        menu = assistant.handle('show me the menu of the first one', zone='driver', speaker='alice')
        assert menu.results[0].name == 'get_menu' and menu.results[0].untrusted
        item = menu.results[0].content['items'][0]['item_id']
        # the order as an engine proposes it (the rule engine asks which dish; an LLM names it)
        calls = [ToolCall('order_food', {'restaurant_id': rid, 'items': [{'item_id': item, 'quantity': 2}]})]
        session = assistant.sessions['driver']
        turn = Turn('r1', 'two of those', 'driver')
        assistant._run_calls(session, calls, 'driver', 'alice', turn)
        assert turn.results[0].status == 'pending_confirmation' and session.pending is not None
        before = sandbox.store.count('food_orders')
        other = assistant.handle('yes', zone='passenger')
        assert 'Only the driver side can confirm' in other.reply
        assert sandbox.store.count('food_orders') == before
        done = assistant.handle('confirm', zone='driver', speaker='alice')
        assert done.results[0].ok and sandbox.store.count('food_orders') == before + 1
        again = assistant.handle('yes', zone='driver', speaker='alice')
        assert sandbox.store.count('food_orders') == before + 1 and not again.results
        assert profiles.preference('alice', 'usual_order')['restaurant_id'] == rid
        usual = assistant.handle('order my usual', zone='driver', speaker='alice')
        assert usual.results[0].status == 'pending_confirmation'
        assert assistant.sessions['driver'].pending.calls[0].arguments['items'][0]['item_id'] == item
        assert assistant.handle('cancel', zone='driver', speaker='alice').reply == 'OK, cancelled.'
        assert sandbox.store.count('food_orders') == before + 1
        assert any(rec['utterance'] == 'confirm' for rec in profiles.audit_records('alice'))
    finally:
        services.close()
        profiles.close()


def test_confirmation_times_out(car, signal_map, sandbox, tmp_path):
    services = ServiceExecutor.from_config({'base_url': sandbox.url, 'token': sandbox.token},
                                           store_path=str(tmp_path / 'outbox.db'))
    try:
        clock = [0.0]
        assistant = make_assistant(car, signal_map, services, confirm_timeout=5.0, clock=lambda: clock[0])
        listed = assistant.handle('list my parcels', zone='driver')
        number = listed.results[0].content['parcels'][0]['tracking_number']
        turn = assistant.handle(f'redirect parcel {number} to the locker', zone='driver')
        assert turn.results[0].status == 'pending_confirmation', turn.reply
        clock[0] = 10.0
        expired = assistant.tick()
        assert expired and any(e['type'] == 'confirmation_timeout' for e in expired[0].events)
        late = assistant.handle('yes', zone='driver')
        assert not late.results
    finally:
        services.close()


def test_long_tasks_wait_until_parked_and_replies_shorten(car, signal_map, sandbox, tmp_path):
    services = ServiceExecutor.from_config({'base_url': sandbox.url, 'token': sandbox.token},
                                           store_path=str(tmp_path / 'outbox.db'))
    try:
        assistant = make_assistant(car, signal_map, services)
        car.sim.plant.set_scenario('driving')
        deadline = time.monotonic() + 5
        while (car.store.value('Vehicle.Speed') or 0) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        turn = assistant.handle('帮我找一家上海的酒店，住两晚', zone='driver')
        assert turn.results[0].status == 'queued' and turn.reply == '停车后我再帮你办。'
        trains = assistant.handle('find trains from Hangzhou to Shanghai tomorrow', zone='driver')
        assert trains.results[0].status == 'ok' and ';' in trains.reply and ', ' not in trains.reply.split(';')[1]
        assert not assistant.tick() or all(not t.results for t in assistant.tick())
        car.sim.plant.set_scenario('parked')
        deadline = time.monotonic() + 10
        done = []
        while not done and time.monotonic() < deadline:
            done = [t for t in assistant.tick() if t.results]
            time.sleep(0.1)
        assert done and done[0].results[0].name == 'search_hotels' and done[0].results[0].status == 'ok'
        assert done[0].language == 'zh' and done[0].reply.startswith('找到')
    finally:
        services.close()
