"""`colcon build` of this repository in a fresh workspace, with colcon from PyPI (kept out of the project venv).

Asserts the ROS 2 install layout (executables in lib/qwen_vehicle, share data, the ament index marker) and that an
installed executable runs from the install space and finds its share data through the ament index.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
COLCON_PACKAGES = ['colcon-core', 'colcon-python-setup-py', 'colcon-ros', 'colcon-recursive-crawl',
                   'colcon-package-selection', 'colcon-parallel-executor']
EXECUTABLES = ['can_bridge', 'vehicle_sim', 'assistant', 'voice', 'someip_gateway', 'services_sandbox', 'qwen-vehicle']
IGNORE = shutil.ignore_patterns('.venv', '.git', 'build', 'install', 'log', '__pycache__', '*.egg-info',
                                '.pytest_cache', '.hypothesis', 'out')


@pytest.fixture(scope='module')
def colcon_path(tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp('colcon-tools')
    res = subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--disable-pip-version-check',
                          '--target', str(target), *COLCON_PACKAGES], capture_output=True, text=True, timeout=240)
    if res.returncode != 0:
        pytest.skip(f'colcon could not be installed from PyPI: {res.stderr.strip().splitlines()[-1:]}')
    return target


@pytest.fixture(scope='module')
def workspace(colcon_path, tmp_path_factory):
    ws = tmp_path_factory.mktemp('ws')
    shutil.copytree(REPO, ws / 'src' / 'qwen_vehicle', ignore=IGNORE, symlinks=True)
    env = dict(os.environ, PYTHONPATH=str(colcon_path))
    res = subprocess.run([sys.executable, '-m', 'colcon', 'build', '--event-handlers', 'console_direct+'],
                         cwd=ws, env=env, capture_output=True, text=True, timeout=240)
    return ws, res


def test_colcon_build_installs_the_ros_layout(workspace):
    ws, res = workspace
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert 'Finished <<< qwen_vehicle' in res.stdout + res.stderr
    prefix = ws / 'install' / 'qwen_vehicle'
    for exe in EXECUTABLES:
        path = prefix / 'lib' / 'qwen_vehicle' / exe
        assert path.is_file() and os.access(path, os.X_OK), f'{exe} missing from lib/qwen_vehicle'
    share = prefix / 'share' / 'qwen_vehicle'
    for folder in ('launch', 'config', 'dbc'):
        assert (share / folder).is_dir(), folder
    assert (share / 'package.xml').is_file()
    assert (share / 'config' / 'signals.yaml').is_file() and (share / 'dbc' / 'qwen_body.dbc').is_file()
    launch_files = sorted(p.name for p in (REPO / 'launch').glob('*.launch.py'))
    assert sorted(p.name for p in (share / 'launch').glob('*.launch.py')) == launch_files
    params = sorted(p.name for p in (REPO / 'config').glob('*.yaml'))
    assert sorted(p.name for p in (share / 'config').glob('*.yaml')) == params
    assert (prefix / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'qwen_vehicle').is_file()


def test_installed_executable_runs_from_the_install_space(workspace):
    ws, res = workspace
    assert res.returncode == 0
    prefix = ws / 'install' / 'qwen_vehicle'
    site = next(prefix.glob('lib/python3*/site-packages'))
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'AMENT_PREFIX_PATH')}
    env.update(PYTHONPATH=str(site), AMENT_PREFIX_PATH=str(prefix))
    out = subprocess.run([str(prefix / 'lib' / 'qwen_vehicle' / 'qwen-vehicle'), 'signals', '--no-tools'],
                         cwd=ws, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    # the share data comes from the install space (ament index), not from the source checkout
    assert f'signal map {prefix / "share" / "qwen_vehicle" / "config" / "signals.yaml"}' in out.stdout
    assert 'Vehicle.Powertrain.TractionBattery.StateOfCharge.Displayed' in out.stdout


def test_colcon_identifies_an_ament_python_package(workspace):
    ws, res = workspace
    assert res.returncode == 0
    log = (ws / 'log' / 'latest_build' / 'logger_all.log').read_text(errors='replace')
    manifest_errors = [line for line in (res.stdout + res.stderr + log).splitlines()
                       if 'Failed to parse ROS package manifest' in line or line.startswith('Invalid ')]
    if manifest_errors:
        # Built as a plain Python package: ros2 tooling (rosdep, bloom, colcon --packages-up-to) would not see it.
        pytest.fail(f'package.xml is rejected by catkin_pkg: {manifest_errors[:3]}')
    assert 'ros.ament_python' in log
    hooks = ws / 'install' / 'qwen_vehicle' / 'share' / 'qwen_vehicle' / 'hook'
    assert (hooks / 'ament_prefix_path.dsv').is_file()
