"""The simulated car: vehicle_sim (the ECUs) + can_bridge + assistant (+ voice, SOME/IP gateway when asked).

Across processes the ECUs and the bridge need a bus that crosses processes (python-can `virtual` buses connect only
inside one process). Default: SocketCAN virtual interfaces, created once per boot:

  sudo modprobe vcan
  sudo ip link add vcan0 type vcan && sudo ip link set vcan0 mtu 72 up   # powertrain (CAN FD: mtu 72)
  sudo ip link add vcan1 type vcan && sudo ip link set vcan1 up          # body
  ros2 launch qwen_vehicle sim.launch.py

Without vcan (containers, macOS, Windows): inprocess:=true runs the whole car in one process on virtual buses
(`qwen-vehicle run --no-script`):

  ros2 launch qwen_vehicle sim.launch.py inprocess:=true

With Gazebo: external_pose:=true makes the ECUs take position and speed from gazebo/navsat (sensor_msgs/NavSatFix)
and gazebo/odom (nav_msgs/Odometry), as ros_gz_bridge publishes them with config/ros_gz_bridge.yaml.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess
from launch.conditions import IfCondition, UnlessCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackagePrefix, FindPackageShare

ARGUMENTS = [
    ('inprocess', 'false', 'run sim, bridge and assistant in one process on python-can virtual buses (no vcan needed)'),
    ('interface', 'socketcan', 'python-can interface shared by the simulated ECUs and the bridge'),
    ('powertrain_channel', 'vcan0', 'channel of the powertrain bus (CAN FD: a vcan with mtu 72)'),
    ('body_channel', 'vcan1', 'channel of the body bus'),
    ('scenario', 'parked', 'simulated driving scenario: parked, driving or charging'),
    ('external_pose', 'false', 'take position and speed from gazebo/navsat and gazebo/odom (Gazebo, ros_gz_bridge); '
     'separate processes only'),
    ('with_assistant', 'true', 'start the assistant node'),
    ('with_voice', 'false', 'start the voice node (pocketsphinx ASR, espeak-ng TTS)'),
    ('with_someip', 'false', 'start the SOME/IP gateway node'),
    ('llm_local_model', '', 'assistant LLM: local Qwen checkpoint folder (transformers); empty = rules only'),
    ('llm_endpoint', '', 'assistant LLM: OpenAI-compatible base URL; empty = none'),
    ('llm_model', '', 'model name at the endpoint'),
    ('signal_map', 'signals.yaml', 'signal map YAML shared by the ECUs, the bridge and the assistant'),
    ('policy', 'policy.yaml', 'safety policy YAML'),
    ('namespace', '', 'ROS namespace of the nodes'),
    ('use_sim_time', 'false', 'use /clock (e.g. from Gazebo) as the ROS time'),
]


def _config(name: str) -> PathJoinSubstitution:
    return PathJoinSubstitution([FindPackageShare('qwen_vehicle'), 'config', name])


def _text(name: str) -> ParameterValue:
    return ParameterValue(LaunchConfiguration(name), value_type=str)


def _flag(name: str) -> ParameterValue:
    return ParameterValue(LaunchConfiguration(name), value_type=bool)


def _separate_and(flag: str) -> IfCondition:
    """True when the nodes run as separate processes and `flag` is true."""
    return IfCondition(PythonExpression(["'", LaunchConfiguration('inprocess'), "'.lower() != 'true' and '",
                                         LaunchConfiguration(flag), "'.lower() == 'true'"]))


def generate_launch_description() -> LaunchDescription:
    separate = UnlessCondition(LaunchConfiguration('inprocess'))
    namespace = LaunchConfiguration('namespace')
    buses = {f'{bus}.{key}': value for bus in ('powertrain', 'body') for key, value in (
        ('interface', _text('interface')), ('channel', _text(f'{bus}_channel')))}
    common = {'signal_map': _text('signal_map'), 'use_sim_time': _flag('use_sim_time')}
    sim = Node(package='qwen_vehicle', executable='vehicle_sim', name='vehicle_sim', namespace=namespace,
               output='screen', emulate_tty=True, condition=separate,
               parameters=[_config('vehicle_sim.params.yaml'),
                           dict(common, scenario=_text('scenario'), external_pose=_flag('external_pose'), **buses)])
    bridge = Node(package='qwen_vehicle', executable='can_bridge', name='can_bridge', namespace=namespace,
                  output='screen', emulate_tty=True, condition=separate,
                  parameters=[_config('can_bridge.params.yaml'), dict(common, policy=_text('policy'), **buses)])
    assistant = Node(package='qwen_vehicle', executable='assistant', name='assistant', namespace=namespace,
                     output='screen', emulate_tty=True, condition=_separate_and('with_assistant'),
                     parameters=[_config('assistant.params.yaml'),
                                 dict(common, policy=_text('policy'), llm_local_model=_text('llm_local_model'),
                                      llm_endpoint=_text('llm_endpoint'), llm_model=_text('llm_model'))])
    voice = Node(package='qwen_vehicle', executable='voice', name='voice', namespace=namespace, output='screen',
                 emulate_tty=True, condition=_separate_and('with_voice'),
                 parameters=[{'use_sim_time': _flag('use_sim_time')}])
    someip = Node(package='qwen_vehicle', executable='someip_gateway', name='someip_gateway', namespace=namespace,
                  output='screen', emulate_tty=True, condition=_separate_and('with_someip'),
                  parameters=[{'use_sim_time': _flag('use_sim_time')}])
    # One process on virtual buses: the demo car without its scripted conversation.
    inprocess = ExecuteProcess(
        cmd=[PathJoinSubstitution([FindPackagePrefix('qwen_vehicle'), 'lib', 'qwen_vehicle', 'qwen-vehicle']),
             'run', '--no-script', ['--scenario=', LaunchConfiguration('scenario')],
             # with_assistant:=false -> --no-assistant (a repeated --no-script is harmless otherwise)
             PythonExpression(["'--no-assistant' if '", LaunchConfiguration('with_assistant'),
                               "'.lower() != 'true' else '--no-script'"]),
             ['--signal-map=', LaunchConfiguration('signal_map')],
             ['--llm-local-model=', LaunchConfiguration('llm_local_model')],
             ['--llm-endpoint=', LaunchConfiguration('llm_endpoint')], ['--llm-model=', LaunchConfiguration('llm_model')]],
        output='screen', emulate_tty=True, condition=IfCondition(LaunchConfiguration('inprocess')))
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc) for name, default, desc in ARGUMENTS]
        + [sim, bridge, assistant, voice, someip, inprocess])
