"""End to end with the real pieces: vehicle_sim and can_bridge on python-can virtual buses, the someip_gateway
node in the same process (qwen_vehicle.bringup), and a SOME/IP client on 127.0.0.1. A method call travels
SOME/IP -> bridge parameter -> safety policy -> CAN frame -> simulated ECU -> read-back -> SOME/IP response;
the policy's refusal comes back as a SOME/IP error with its reason; events carry the simulated car's state."""
import time

import pytest

pytest.importorskip('rclpy')

from qwen_vehicle.bringup import Bringup  # noqa: E402
from qwen_vehicle.someip.service import ServiceError, SomeIpClient  # noqa: E402
from qwen_vehicle.someip.wire import ReturnCode  # noqa: E402

DRIVER_TARGET = 'Vehicle.Cabin.HVAC.Station.Row1.Driver.TargetTemperature'


def wait_for(condition, timeout=8.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


@pytest.fixture(scope='module')
def car():
    with Bringup(('vehicle_sim', 'can_bridge', 'someip_gateway'),
                 {'vehicle_sim': {'scenario': 'driving'},
                  'someip_gateway': {'service_port': 0, 'sd_enabled': False, 'actuation_timeout': 4.0}}) as bringup:
        node = bringup.nodes['someip_gateway']
        assert wait_for(lambda: node.vehicle.snapshot().get('Vehicle.LowVoltageSystemState') == 'On')
        with SomeIpClient() as client:
            yield node, client


def test_set_temperature_is_read_back_from_the_simulated_ecu(car):
    node, client = car
    climate = client.proxy(node.config.service('VehicleClimate'), node.gateway.address)
    assert climate.call('SetTargetTemperature', {'zone': 'passenger', 'value': 24.5}, timeout=8) == \
        {'status': 'done'}
    assert wait_for(lambda: node.vehicle.snapshot().get(
        'Vehicle.Cabin.HVAC.Station.Row1.Passenger.TargetTemperature') == 24.5)


def test_policy_refusal_reaches_the_someip_caller(car):
    node, client = car
    climate = client.proxy(node.config.service('VehicleClimate'), node.gateway.address)
    assert wait_for(lambda: (node.vehicle.snapshot().get('Vehicle.Speed') or 0) > 3.0)
    with pytest.raises(ServiceError) as caught:
        climate.call('SetDefrost', {'value': 'Off'}, timeout=8)
    assert caught.value.return_code == ReturnCode.E_REFUSED
    assert 'defrost cannot be switched off while driving' in caught.value.reason


def test_events_carry_the_simulated_state(car):
    node, client = car
    battery = client.proxy(node.config.service('VehicleBattery'), node.gateway.address)
    seen = []
    battery.on_event('BatteryStatus', lambda value, message: seen.append(value))
    node.gateway.skeletons['VehicleBattery'].subscribe(1, client.address, ttl_s=30)
    assert wait_for(lambda: seen, timeout=3.0)   # cycle 1000 ms
    soc = seen[-1]['state_of_charge_pct']
    assert 0.0 < soc <= 100.0
    assert abs(soc - node.vehicle.snapshot()['Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed']) < 1.0
