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


def test_demo_follows_gazebo_pose_with_external_pose(tmp_path):
    """`run --external-pose`: a NavSatFix publisher in this process (standing in for ros_gz_bridge) moves the car."""
    import threading
    import time

    import rclpy
    import rclpy.executors
    from rclpy.node import Node
    from sensor_msgs.msg import NavSatFix

    from qwen_vehicle.nodes import qos

    env = dict(os.environ, PYTHONUNBUFFERED='1')
    proc = subprocess.Popen([sys.executable, '-m', 'qwen_vehicle.cli', 'run', '--duration', '20', '--no-script',
                             '--no-assistant', '--external-pose', '--data-dir', str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    ctx = rclpy.Context()
    rclpy.init(context=ctx)
    node = Node('gazebo_stand_in', context=ctx)
    pub = node.create_publisher(NavSatFix, 'gazebo/navsat', qos.SENSOR_BEST_EFFORT)
    seen = []
    node.create_subscription(NavSatFix, 'vehicle/gnss/fix', lambda m: seen.append((m.latitude, m.longitude)),
                             qos.sensor_stream(50))
    stop = threading.Event()
    executor = rclpy.executors.SingleThreadedExecutor(context=ctx)
    executor.add_node(node)

    def spin():
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
    spinner = threading.Thread(target=spin, daemon=True)
    spinner.start()
    try:
        deadline = time.monotonic() + 18
        while time.monotonic() < deadline and not any(abs(lat - 31.1) < 1e-4 for lat, _ in seen):
            pub.publish(NavSatFix(latitude=31.1, longitude=121.4, altitude=5.0))
            time.sleep(0.1)
        assert any(abs(lat - 31.1) < 1e-4 and abs(lon - 121.4) < 1e-4 for lat, lon in seen), seen[-3:]
    finally:
        stop.set()
        spinner.join()
        node.destroy_node()
        rclpy.shutdown(context=ctx)
        proc.terminate()
        proc.wait(timeout=30)
