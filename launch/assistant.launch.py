"""The assistant node: text in on assistant/text, reply on assistant/reply, JSON events on assistant/events.

  ros2 launch qwen_vehicle assistant.launch.py                                       # rules only, offline
  ros2 launch qwen_vehicle assistant.launch.py llm_local_model:=/models/Qwen2.5-1.5B-Instruct
  ros2 launch qwen_vehicle assistant.launch.py llm_endpoint:=http://127.0.0.1:8000/v1 \
      llm_model:=qwen2.5-7b-instruct llm_api_key_env:=DASHSCOPE_API_KEY

It reads vehicle/state from a running can_bridge and actuates through that bridge's parameter service.
Parameters come from config/assistant.params.yaml, then `params_file` (optional), then these arguments.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.parameter_descriptions import ParameterValue
from launch_ros.substitutions import FindPackageShare

ARGUMENTS = [
    ('llm_local_model', '', 'local Qwen checkpoint folder (transformers); empty = no local LLM'),
    ('llm_device', 'auto', 'device of the local LLM: auto (CUDA when present), cpu or cuda'),
    ('llm_endpoint', '', 'OpenAI-compatible base URL (DashScope compatible mode, vLLM, Ollama); empty = none'),
    ('llm_model', '', 'model name at the endpoint'),
    ('llm_api_key_env', 'DASHSCOPE_API_KEY', 'environment variable that holds the endpoint key'),
    ('llm_prefer', 'local', 'local or cloud, when both a checkpoint and an endpoint are configured'),
    ('services_url', '', 'lifestyle services base URL (e.g. the sandbox); empty disables services'),
    ('profile_db', ':memory:', 'SQLite file for driver profiles and the audit log'),
    ('default_zone', 'driver', 'zone of utterances that carry none: driver, passenger or rear'),
    ('bridge', 'can_bridge', 'name of the can_bridge node to actuate through'),
    ('signal_map', 'signals.yaml', 'signal map YAML (a name in config/ or a path)'),
    ('policy', 'policy.yaml', 'safety policy YAML (a name in config/ or a path)'),
    ('params_file', '', 'an extra ROS parameters file for the assistant (applied after the packaged one)'),
    ('namespace', '', 'ROS namespace of the node'),
    ('use_sim_time', 'false', 'use /clock as the ROS time'),
]


def generate_launch_description() -> LaunchDescription:
    packaged = PathJoinSubstitution([FindPackageShare('qwen_vehicle'), 'config', 'assistant.params.yaml'])
    text = {name: ParameterValue(LaunchConfiguration(name), value_type=str)
            for name in ('llm_local_model', 'llm_device', 'llm_endpoint', 'llm_model', 'llm_api_key_env', 'llm_prefer',
                         'services_url',
                         'profile_db', 'default_zone', 'bridge', 'signal_map', 'policy')}
    assistant = Node(
        package='qwen_vehicle', executable='assistant', name='assistant', namespace=LaunchConfiguration('namespace'),
        output='screen', emulate_tty=True,
        parameters=[
            packaged,
            PythonExpression(["'", LaunchConfiguration('params_file'), "' or '", packaged, "'"]),
            dict(text, use_sim_time=ParameterValue(LaunchConfiguration('use_sim_time'), value_type=bool)),
        ])
    return LaunchDescription(
        [DeclareLaunchArgument(name, default_value=default, description=desc) for name, default, desc in ARGUMENTS]
        + [assistant])
