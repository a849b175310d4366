"""launch_pytest: assistant.launch.py alone (rules engine, no bridge): it answers, honestly, that it has no data."""
import pytest

from launch_helpers import launch_file, require_launch, say_json, wait_for_topics

require_launch()

import launch_pytest  # noqa: E402
from launch import LaunchDescription  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402


@launch_pytest.fixture
def assistant_only():
    return LaunchDescription([
        IncludeLaunchDescription(PythonLaunchDescriptionSource(launch_file('assistant.launch.py')),
                                 launch_arguments={'default_zone': 'passenger'}.items()),
        launch_pytest.actions.ReadyToTest(),
    ])


@pytest.mark.launch(fixture=assistant_only)
def test_assistant_topics_and_a_reply():
    found = wait_for_topics({'/assistant/text', '/assistant/reply', '/assistant/events'}, timeout=30.0)
    assert found.get('/assistant/reply') == ['std_msgs/msg/String']
    out = say_json("what's my battery level?")
    assert out['reply']
    types = [e['type'] for e in out['events']]
    assert 'plan' in types and 'reply' in types
    # without a bridge nothing is fresh: the read tool reports the values as unavailable, never invented
    results = [e['result'] for e in out['events'] if e['type'] == 'result']
    assert any(r['name'] == 'get_battery_status' and r['content'].get('unavailable') for r in results), results
