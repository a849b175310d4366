"""Real CAN hardware: the CAN bridge on python-can adapters (socketcan, PCAN, Kvaser, Vector, ...).

  ros2 launch qwen_vehicle vehicle.launch.py interface:=socketcan powertrain_channel:=can0 body_channel:=can1
  ros2 launch qwen_vehicle vehicle.launch.py interface:=pcan powertrain_channel:=PCAN_USBBUS1 body_channel:=PCAN_USBBUS2
  ros2 launch qwen_vehicle vehicle.launch.py interface:=kvaser powertrain_channel:=0 body_channel:=1

Parameters come from config/can_bridge.params.yaml, then `params_file` (optional), then these arguments.
The DBC of each bus is named in the signal map. with_assistant:=true adds the assistant (assistant.launch.py).
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.conditions import IfCondition
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('interface', 'socketcan', 'python-can interface of both buses: socketcan, pcan, kvaser, vector, slcan, gs_usb, virtual'),
    ('powertrain_channel', 'can0', 'python-can channel of the powertrain bus (can0, PCAN_USBBUS1, 0, ...)'),
    ('body_channel', 'can1', 'python-can channel of the body bus'),
    ('bitrate', '500000', 'nominal bit rate of both buses (bit/s)'),
    ('data_bitrate', '2000000', 'CAN FD data phase bit rate (bit/s)'),
    ('powertrain_fd', 'true', 'the powertrain bus is CAN FD'),
    ('body_fd', 'false', 'the body bus is CAN FD'),
    ('signal_map', 'signals.yaml', 'signal map YAML (a name in config/ or a path); it names each bus DBC'),
    ('policy', 'policy.yaml', 'safety policy YAML (a name in config/ or a path)'),
    ('params_file', '', 'an extra ROS parameters file for can_bridge (applied after the packaged one)'),
    ('namespace', '', 'ROS namespace of the nodes'),
    ('use_sim_time', 'false', 'use /clock (e.g. from Gazebo or a bag) as the ROS time'),
    ('with_assistant', 'false', 'also start the assistant (see assistant.launch.py for its arguments)'),
]


def bus_parameters(bus: str) -> dict:
    return {
        f'{bus}.interface': ParameterValue(LaunchConfiguration('interface'), value_type=str),
        f'{bus}.channel': ParameterValue(LaunchConfiguration(f'{bus}_channel'), value_type=str),
        f'{bus}.bitrate': ParameterValue(LaunchConfiguration('bitrate'), value_type=int),
        f'{bus}.data_bitrate': ParameterValue(LaunchConfiguration('data_bitrate'), value_type=int),
        f'{bus}.fd': ParameterValue(LaunchConfiguration(f'{bus}_fd'), value_type=bool),
    }


def optional_params_file():
    """The user's params file, or nothing when the argument is empty."""
    return PythonExpression(["'", LaunchConfiguration('params_file'), "' or '", PathJoinSubstitution(
        [FindPackageShare('qwen_vehicle'), 'config', 'can_bridge.params.yaml']), "'"])


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare('qwen_vehicle')
    bridge = Node(
        package='qwen_vehicle', executable='can_bridge', name='can_bridge', namespace=LaunchConfiguration('namespace'),
        output='screen', emulate_tty=True,
        parameters=[
            PathJoinSubstitution([share, 'config', 'can_bridge.params.yaml']),
            optional_params_file(),
            {'signal_map': ParameterValue(LaunchConfiguration('signal_map'), value_type=str),
             'policy': ParameterValue(LaunchConfiguration('policy'), value_type=str),
             'use_sim_time': ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)},
            bus_parameters('powertrain'),
            bus_parameters('body'),
        ])
    assistant = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, 'launch', 'assistant.launch.py'])),
        launch_arguments={'signal_map': LaunchConfiguration('signal_map'), 'policy': LaunchConfiguration('policy'),
                          'namespace': LaunchConfiguration('namespace'),
                          'use_sim_time': LaunchConfiguration('use_sim_time')}.items(),
        condition=IfCondition(LaunchConfiguration('with_assistant')))
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc) for name, default, desc in ARGUMENTS]
        + [bridge, assistant])
