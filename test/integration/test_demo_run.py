"""The demo car (`qwen-vehicle run`, what `./qv run` starts): the scripted conversation gets real answers."""
import os
import subprocess
import sys


def run_demo(*args, timeout=120):
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    return subprocess.run([sys.executable, '-m', 'qwen_vehicle.cli', 'run', *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def test_scripted_demo_answers_every_line(tmp_path):
    out = run_demo('--duration', '25', '--data-dir', str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    replies = [line for line in text.splitlines() if line.strip().startswith('assistant>')]
    assert len(replies) >= 8, text
    assert 'Battery at 76%' in text
    assert 'A/C is on' in text and 'Driver side temperature set to 21 °C' in text
    assert '副驾温度已设为23度' in text
    assert "I can't set the fan: 9 is outside 0..7" in text
    assert 'You are at 30.2' in text
    assert 'I found' in text                       # restaurants from the sandbox over HTTP
    assert 'frames decoded per bus' in text
    assert os.path.exists(tmp_path / 'sandbox.db') and os.path.exists(tmp_path / 'profiles.db')


def test_demo_with_someip_gateway_starts_and_stops(tmp_path):
    out = run_demo('--duration', '6', '--no-script', '--someip', '--data-dir', str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'someip_gateway' in out.stdout and 'frames decoded per bus' in out.stdout
