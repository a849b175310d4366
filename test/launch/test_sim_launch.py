"""launch_pytest: sim.launch.py brings up the simulated car; topics appear and one command makes the round trip."""
import os

import pytest

from launch_helpers import launch_file, require_launch, say_json, wait_for_topics

require_launch()

import launch_pytest  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

CAR_TOPICS = {'/vehicle/state', '/vehicle/battery', '/vehicle/gnss/fix', '/vehicle/velocity',
              '/vehicle/cabin/row1/driver/temperature', '/vehicle/actuation_events', '/diagnostics'}
ASSISTANT_TOPICS = {'/assistant/text', '/assistant/reply', '/assistant/events'}


def sim(**arguments):
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(launch_file('sim.launch.py')),
                                 launch_arguments=arguments.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@launch_pytest.fixture
def inprocess_car():
    return sim(inprocess='true')


@pytest.mark.launch(fixture=inprocess_car)
def test_inprocess_sim_topics_and_a_command_round_trip():
    found = wait_for_topics(CAR_TOPICS | ASSISTANT_TOPICS, timeout=60.0)
    assert CAR_TOPICS | ASSISTANT_TOPICS <= set(found), sorted(CAR_TOPICS | ASSISTANT_TOPICS - set(found))
    assert found['/vehicle/battery'] == ['sensor_msgs/msg/BatteryState']
    assert found['/vehicle/gnss/fix'] == ['sensor_msgs/msg/NavSatFix']
    out = say_json('set the fan to 4')
    results = [e['result'] for e in out['events'] if e.get('type') == 'result']
    assert any(r['name'] == 'set_fan_level' and r['status'] == 'done' for r in results), out


@launch_pytest.fixture
def vcan_car():
    return sim(interface='socketcan', powertrain_channel='vcan0', body_channel='vcan1')


@pytest.mark.skipif(not (os.path.exists('/sys/class/net/vcan0') and os.path.exists('/sys/class/net/vcan1')),
                    reason='needs SocketCAN vcan0 (mtu 72) and vcan1: sudo ip link add vcan0 type vcan ...')
@pytest.mark.launch(fixture=vcan_car)
def test_separate_processes_on_vcan():
    found = wait_for_topics(CAR_TOPICS | ASSISTANT_TOPICS, timeout=60.0)
    assert CAR_TOPICS | ASSISTANT_TOPICS <= set(found)
    out = say_json('set the driver temperature to 22')
    results = [e['result'] for e in out['events'] if e.get('type') == 'result']
    assert any(r['name'] == 'set_target_temperature' and r['status'] == 'done' for r in results), out
