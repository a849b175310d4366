"""Launch configuration that can be checked without the launch packages.

- every config/*.params.yaml loads through rcl's YAML parser (--params-file) into the real node, every key in it is
  a parameter the node declares, and the node ends up with the file's values;
- the launch files parse, declare documented arguments, and name only executables and config files that exist.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip('rclpy')

REPO = Path(__file__).resolve().parents[2]
PARAM_FILES = {'can_bridge': 'can_bridge.params.yaml', 'vehicle_sim': 'vehicle_sim.params.yaml',
               'assistant': 'assistant.params.yaml'}
MARK = {'can_bridge': 'stale_factor', 'vehicle_sim': 'initial_soc', 'assistant': 'readback_timeout'}
LAUNCH_FILES = ('vehicle.launch.py', 'sim.launch.py', 'assistant.launch.py')


def flatten(doc: dict, prefix: str = '') -> dict:
    out = {}
    for key, value in doc.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            out.update(flatten(value, f'{name}.'))
        else:
            out[name] = value
    return out


def marked_copy(node_name: str, tmp_path: Path) -> tuple[Path, dict]:
    """The params file with one value moved off the default, so the test sees the file was applied."""
    doc = yaml.safe_load((REPO / 'config' / PARAM_FILES[node_name]).read_text())
    (key, body), = doc.items()
    assert key in (node_name, f'/**/{node_name}'), key
    params = body['ros__parameters']
    params[MARK[node_name]] += 1.25
    path = tmp_path / PARAM_FILES[node_name]
    path.write_text(yaml.safe_dump(doc))
    return path, flatten(params)


def _bus_overrides(node_name: str) -> list:
    """The bus nodes on private virtual channels (the packaged files name real interfaces)."""
    from rclpy.parameter import Parameter

    from qwen_vehicle.core.mapping import load_signal_map
    if node_name not in ('can_bridge', 'vehicle_sim'):
        return []
    return [Parameter(f'{bus}.{key}', value=value) for bus in load_signal_map('signals.yaml').buses
            for key, value in (('interface', 'virtual'), ('channel', f'qv_params_test_{node_name}_{bus}'))]


def _start(node_name: str, args: list[str]):
    """(context, node) with the buses on private virtual channels; the caller shuts both down with `_stop`."""
    from rclpy.context import Context

    from qwen_vehicle.bringup import node_class
    context = Context()
    rclpy.init(context=context, args=args)
    try:
        return context, node_class(node_name)(context=context, parameter_overrides=_bus_overrides(node_name))
    except Exception:
        rclpy.shutdown(context=context)
        raise


def _stop(context, node) -> None:
    close = getattr(node, 'close', None)
    if close:
        close()
    node.destroy_node()
    rclpy.shutdown(context=context)


@pytest.mark.parametrize('node_name', sorted(PARAM_FILES))
def test_params_file_documents_the_defaults(node_name):
    """The packaged file shows the node's own defaults, except the bus interfaces/channels it chooses on purpose."""
    doc = yaml.safe_load((REPO / 'config' / PARAM_FILES[node_name]).read_text())
    (_, body), = doc.items()
    in_file = flatten(body['ros__parameters'])
    context, node = _start(node_name, [])
    try:
        for name, value in in_file.items():
            if name.endswith(('.interface', '.channel')):
                continue
            default = node.get_parameter(name).value
            assert default == value, f'{PARAM_FILES[node_name]}: {name} is {value!r}, the node default is {default!r}'
    finally:
        _stop(context, node)


@pytest.mark.parametrize('node_name', sorted(PARAM_FILES))
def test_params_file_loads_into_the_node(node_name, tmp_path):
    params_file, expected = marked_copy(node_name, tmp_path)
    context, node = _start(node_name, ['--ros-args', '--params-file', str(params_file)])
    try:
        declared = set(node._parameters)
        unknown = sorted(set(expected) - declared)
        assert not unknown, f'{PARAM_FILES[node_name]} sets parameters {node_name} does not declare: {unknown}'
        overridden = {p.name for p in _bus_overrides(node_name)}
        for name, value in expected.items():
            if name in overridden:
                continue
            actual = node.get_parameter(name).value
            assert actual == value, f'{name}: file says {value!r}, node has {actual!r}'
    finally:
        _stop(context, node)


def _setup_executables() -> set[str]:
    tree = ast.parse((REPO / 'setup.py').read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, 'id', '') == 'NODES' for t in node.targets):
            return set(ast.literal_eval(node.value)) | {'qwen-vehicle'}
    raise AssertionError('setup.py has no NODES table')


@pytest.mark.parametrize('launch_file', LAUNCH_FILES)
def test_launch_file_is_consistent(launch_file):
    check_launch_file(launch_file)


def check_launch_file(launch_file: str) -> dict:
    """Parse a launch file; check nodes, arguments and config names; return its arguments {name: default}."""
    source = (REPO / 'launch' / launch_file).read_text()
    tree = ast.parse(source, filename=launch_file)
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    executables = _setup_executables()
    named = set()
    for call in (n for n in ast.walk(tree) if isinstance(n, ast.Call)):
        func = getattr(call.func, 'id', getattr(call.func, 'attr', ''))
        kwargs = {k.arg: k.value for k in call.keywords}
        if func == 'Node':
            assert isinstance(kwargs.get('executable'), ast.Constant), 'executable must be a literal'
            assert kwargs['package'].value == 'qwen_vehicle'
            named.add(kwargs['executable'].value)
    # launch arguments are declared from a module-level ARGUMENTS table of (name, default, description)
    table = next(n.value for n in tree.body if isinstance(n, ast.Assign) and
                 any(getattr(t, 'id', '') == 'ARGUMENTS' for t in n.targets))
    arguments = {}
    for name, default, description in ast.literal_eval(table):
        assert isinstance(default, str) and len(description) > 10, f'argument {name} lacks a description'
        arguments[name] = default
    assert 'DeclareLaunchArgument(name, default_value=default, description=desc)' in source
    for used in re.findall(r"(?:LaunchConfiguration|_text|_flag|_separate_and)\(f?'([\w{}]+)'\)", source):
        if '{' not in used:
            assert used in arguments, f'{launch_file} uses undeclared argument {used}'
    assert named, 'no qwen_vehicle nodes launched'
    assert named <= executables, f'unknown executables {named - executables}'
    for name in re.findall(r"'([\w.]+\.(?:params\.)?yaml)'", source):
        assert (REPO / 'config' / name).is_file(), f'{launch_file} names config/{name}, which does not exist'
    assert 'use_sim_time' in arguments
    return arguments


def test_launch_arguments_cover_the_issue():
    args = {f: set(check_launch_file(f)) for f in LAUNCH_FILES}
    assert {'interface', 'powertrain_channel', 'body_channel', 'bitrate', 'data_bitrate', 'powertrain_fd',
            'body_fd', 'signal_map', 'policy', 'params_file', 'use_sim_time'} <= args['vehicle.launch.py']
    assert {'interface', 'powertrain_channel', 'body_channel', 'inprocess', 'scenario', 'external_pose',
            'with_assistant', 'with_voice', 'with_someip', 'llm_local_model', 'llm_endpoint', 'llm_model',
            'signal_map'} <= args['sim.launch.py']
    assert {'llm_local_model', 'llm_device', 'llm_endpoint', 'llm_model', 'llm_api_key_env', 'llm_prefer',
            'signal_map', 'policy', 'services_url'} <= args['assistant.launch.py']
