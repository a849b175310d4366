"""Helpers for the launch_pytest tests: skip reasons, the installed launch files, graph and CLI probes.

Run them in a ROS 2 environment with the package built and sourced:
    colcon build && source install/setup.bash && python3 -m pytest src/qwen_vehicle/test/launch
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

NO_LAUNCH = ('launch_pytest/launch_ros are not importable: the ROS 2 launch packages come with a ROS 2 '
             'installation (apt/ros2 binary), not from PyPI; run these with `colcon test` in a sourced workspace')


def require_launch():
    pytest.importorskip('launch_pytest', reason=NO_LAUNCH)
    pytest.importorskip('launch_ros', reason=NO_LAUNCH)
    # launch_pytest (up to 3.7.x) reads `_pytestfixturefunction`, which pytest >= 8.4 no longer sets: collection
    # would crash, so say why instead.
    if not hasattr(pytest.fixture(lambda: None), '_pytestfixturefunction'):
        pytest.skip(f'launch_pytest cannot collect tests under pytest {pytest.__version__} (no '
                    '_pytestfixturefunction); run them with the pytest of the ROS distribution (< 8.4)',
                    allow_module_level=True)


def launch_file(name: str) -> str:
    """The installed launch file (the launch files find config/ through the ament index, so the package must be
    built and sourced)."""
    try:
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory
        share = get_package_share_directory('qwen_vehicle')
    except (ImportError, LookupError, PackageNotFoundError) as exc:
        pytest.skip(f'qwen_vehicle is not in the ament index ({exc}); colcon build and source install/setup.bash')
    return os.path.join(share, 'launch', name)


def wait_for_topics(names: set[str], timeout: float = 30.0) -> dict[str, list[str]]:
    """Poll the ROS graph until all `names` are advertised; return {topic: types}."""
    import rclpy
    from rclpy.context import Context
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'launch_probe_{uuid.uuid4().hex[:6]}', context=context)
    try:
        deadline = time.monotonic() + timeout
        while True:
            found = dict(node.get_topic_names_and_types())
            if names <= set(found) or time.monotonic() > deadline:
                return found
            time.sleep(0.2)
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def set_parameter(node_name: str, name: str, value, timeout: float = 20.0):
    """`ros2 param set` through the node's SetParameters service; returns the SetParametersResult."""
    import rclpy
    from rcl_interfaces.srv import SetParameters
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f'launch_param_{uuid.uuid4().hex[:6]}', context=context)
    try:
        client = node.create_client(SetParameters, f'{node_name}/set_parameters')
        assert client.wait_for_service(timeout_sec=timeout), f'{node_name}/set_parameters not available'
        future = client.call_async(SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()]))
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(node)
        executor.spin_until_future_complete(future, timeout_sec=timeout)
        executor.shutdown()
        assert future.done(), 'no answer from set_parameters'
        return future.result().results[0]
    finally:
        node.destroy_node()
        rclpy.shutdown(context=context)


def qv(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'qwen_vehicle.cli', *args], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))


def say_json(text: str, timeout: float = 30.0) -> dict:
    res = qv('say', '--json', '--timeout', str(timeout), text, timeout=timeout + 30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)
