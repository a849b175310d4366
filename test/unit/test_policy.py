import pytest

from qwen_vehicle.core.codec import SignalUpdate
from qwen_vehicle.core.policy import PolicyError, SafetyPolicy
from qwen_vehicle.core.signals import SignalStore


def live(signal_map, speed=0.0, ignition='On', gear='P'):
    store = SignalStore(signal_map)
    store.apply([SignalUpdate('Vehicle.Speed', speed, 0, 0.0),
                 SignalUpdate('Vehicle.LowVoltageSystemState', ignition, 0, 0.0),
                 SignalUpdate('Vehicle.Powertrain.Transmission.SelectedGear', gear, 0, 0.0)])
    return store


@pytest.fixture
def policy_for(signal_map):
    def make(**state):
        return SafetyPolicy.load('policy.yaml', live(signal_map, **state), signal_map)
    return make


def test_unknown_state_denies_actuation(signal_map):
    policy = SafetyPolicy.load('policy.yaml', SignalStore(signal_map), signal_map)
    d = policy.check_tool('set_target_temperature', {'zone': 'driver', 'value': 22})
    assert not d.allowed and 'fail-closed' in d.reason
    assert policy.moving() is None
    assert policy.check_tool('get_battery_status').allowed  # reads need no live state


def test_stale_state_denies_actuation(signal_map):
    t = [0.0]
    store = SignalStore(signal_map, clock=lambda: t[0])
    store.apply([SignalUpdate('Vehicle.Speed', 0.0, 0, 0.0),
                 SignalUpdate('Vehicle.LowVoltageSystemState', 'On', 0, 0.0)])
    policy = SafetyPolicy.load('policy.yaml', store, signal_map)
    assert policy.check_tool('set_fan_level', {'value': 3}).allowed
    t[0] = 1.0   # speed (20 ms cycle) is long stale
    assert not policy.check_tool('set_fan_level', {'value': 3}).allowed


def test_preconditions_zones_and_bounds(policy_for):
    off = policy_for(ignition='Off')
    assert off.check_tool('set_fan_level', {'value': 2}).reason == 'climate control needs the car switched on'
    p = policy_for()
    assert not p.check_tool('set_target_temperature', {'zone': 'driver', 'value': 22}, zone='passenger').allowed
    assert p.check_tool('set_target_temperature', {'zone': 'passenger', 'value': 22}, zone='driver').allowed
    assert not p.check_tool('set_seat_heating', {'zone': 'driver', 'value': 2}, zone='rear').allowed


def test_while_moving_rules(policy_for):
    moving = policy_for(speed=60.0, gear='D')
    d = moving.check_tool('set_defrost', {'value': 'Off'})
    assert not d.allowed and 'while driving' in d.reason
    assert moving.check_tool('set_defrost', {'value': 'Front'}).allowed
    booking = moving.check_tool('book_travel', {'offer_id': 'x'})
    assert not booking.allowed and booking.deferred
    assert moving.reply_style()['no_lists'] is True
    parked = policy_for()
    assert parked.check_tool('book_travel', {'offer_id': 'x'}).confirm
    assert parked.reply_style()['no_lists'] is False


def test_unlisted_tools_are_denied_and_rate_limit(policy_for):
    p = policy_for()
    assert not p.check_tool('open_sunroof').allowed
    for _ in range(20):
        assert p.check_tool('set_fan_level', {'value': 1}).allowed
    d = p.check_tool('set_fan_level', {'value': 1})
    assert not d.allowed and 'too many' in d.reason


def test_bridge_hook_uses_the_same_rules(policy_for):
    p = policy_for(speed=50.0, gear='D')
    assert p.check_actuation('Vehicle.Cabin.HVAC.Defrost', 'Off') == (
        False, 'the windscreen defrost cannot be switched off while driving')
    assert p.check_actuation('Vehicle.Cabin.HVAC.IsAirConditioningActive', 'On')[0]
    assert not p.check_actuation('Vehicle.Speed', 3)[0]


def test_bad_policy_file_is_rejected(tmp_path, signal_map):
    bad = tmp_path / 'p.yaml'
    bad.write_text('state: {speed: Vehicle.Nope}\ntools: {}\n')
    with pytest.raises(PolicyError, match='Vehicle.Nope is not in the signal map'):
        SafetyPolicy.load(str(bad), SignalStore(signal_map), signal_map)
