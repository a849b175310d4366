"""launch_pytest: vehicle.launch.py (real hardware launch, here on a virtual bus with no ECUs behind it).

The bridge comes up, publishes its state and diagnostics, and a command through the parameter service makes the
round trip: with no live vehicle state it is refused, fail-closed, with the reason.
"""
import json
import uuid

import pytest

from launch_helpers import launch_file, qv, require_launch, set_parameter, wait_for_topics

require_launch()

import launch_pytest  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402

CHANNEL = f'qv_launch_{uuid.uuid4().hex[:6]}'


@launch_pytest.fixture
def bridge_on_virtual_bus():
    return LaunchDescription([
        IncludeLaunchDescription(
            PythonLaunchDescriptionSource(launch_file('vehicle.launch.py')),
            launch_arguments={'interface': 'virtual', 'powertrain_channel': f'{CHANNEL}_pt',
                              'body_channel': f'{CHANNEL}_body', 'powertrain_fd': 'true'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=bridge_on_virtual_bus)
def test_bridge_topics_and_fail_closed_command():
    found = wait_for_topics({'/vehicle/state', '/diagnostics', '/vehicle/actuation_events'}, timeout=30.0)
    assert found.get('/diagnostics') == ['diagnostic_msgs/msg/DiagnosticArray']
    result = set_parameter('/can_bridge', 'Vehicle.Cabin.HVAC.FanLevel', 3)
    assert not result.successful
    assert 'fail-closed' in result.reason
    res = qv('monitor', '--once', '--json', '--timeout', '20')
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout.splitlines()[-1])['signals']
    assert rows and all(r['status'] == 'missing' for r in rows)  # no ECU on this bus
