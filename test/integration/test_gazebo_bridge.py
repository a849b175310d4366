"""Gazebo in the loop: NavSatFix/Odometry topics (as ros_gz_bridge publishes them) drive the simulated ECUs' CAN
frames, and the bridge's standard topics reflect it. A publisher node stands in for Gazebo + ros_gz_bridge.

Path under test: gazebo/navsat + gazebo/odom -> vehicle_sim (external_pose) -> GNSS_Position / GNSS_Status /
VCU_VehicleState frames on the powertrain bus -> can_bridge -> vehicle/gnss/fix, vehicle/velocity, vehicle/gnss/heading.
"""
from __future__ import annotations

import math
import time

import pytest

rclpy = pytest.importorskip('rclpy')
can = pytest.importorskip('can')

from nav_msgs.msg import Odometry  # noqa: E402
from sensor_msgs.msg import NavSatFix, NavSatStatus  # noqa: E402
from std_msgs.msg import Float64  # noqa: E402
from geometry_msgs.msg import TwistStamped  # noqa: E402

from qwen_vehicle.bringup import Bringup  # noqa: E402
from qwen_vehicle.core.mapping import load_signal_map  # noqa: E402
from qwen_vehicle.nodes import qos  # noqa: E402
from ros_stand_in import SpunNode  # noqa: E402


class FakeGazebo(SpunNode):
    """Publishes what ros_gz_bridge would (config/ros_gz_bridge.yaml): NavSatFix and Odometry at 20 Hz."""

    def __init__(self) -> None:
        super().__init__('gz_stand_in')
        self.navsat_pub = self.node.create_publisher(NavSatFix, 'gazebo/navsat', qos.SENSOR_BEST_EFFORT)
        self.odom_pub = self.node.create_publisher(Odometry, 'gazebo/odom', qos.SENSOR_BEST_EFFORT)
        self.lat, self.lon, self.alt = 31.2304, 121.4737, 12.5
        self.speed, self.heading = 0.0, 0.0
        self.received: dict[str, object] = {}
        for topic, cls, profile in (('vehicle/gnss/fix', NavSatFix, qos.SENSOR_STREAM),
                                    ('vehicle/velocity', TwistStamped, qos.SENSOR_STREAM),
                                    ('vehicle/gnss/heading', Float64, qos.SENSOR_STREAM),
                                    ('vehicle/gnss/ground_speed', Float64, qos.SENSOR_STREAM)):
            self.node.create_subscription(cls, topic, lambda m, t=topic: self.received.__setitem__(t, m), profile)
        self.node.create_timer(0.05, self.publish)
        self.start_spinning()

    def publish(self) -> None:
        fix = NavSatFix()
        fix.header.stamp = self.node.get_clock().now().to_msg()
        fix.header.frame_id = 'navsat_link'
        fix.status.status = NavSatStatus.STATUS_FIX
        fix.latitude, fix.longitude, fix.altitude = self.lat, self.lon, self.alt
        self.navsat_pub.publish(fix)
        odom = Odometry()
        odom.header.stamp = fix.header.stamp
        odom.header.frame_id, odom.child_frame_id = 'odom', 'base_link'
        yaw = math.radians(90.0 - self.heading)  # compass heading -> ENU yaw
        odom.pose.pose.orientation.z, odom.pose.pose.orientation.w = math.sin(yaw / 2), math.cos(yaw / 2)
        odom.twist.twist.linear.x = self.speed
        self.odom_pub.publish(odom)


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def car_in_gazebo():
    gz = FakeGazebo()
    bringup = Bringup(('vehicle_sim', 'can_bridge'), {'vehicle_sim': {'external_pose': True, 'scenario': 'parked'}})
    bringup.start()
    try:
        yield bringup, gz
    finally:
        bringup.stop()
        gz.close()


def _close(a: float, b: float, tol: float) -> bool:
    return abs(a - b) <= tol


def test_gazebo_pose_drives_can_frames_and_bridge_topics(car_in_gazebo):
    bringup, gz = car_in_gazebo
    gz.speed, gz.heading = 12.5, 45.0
    smap = load_signal_map('signals.yaml')
    db = smap.buses['powertrain'].database
    # listen on the same bus as the ECUs and the bridge: the frames themselves carry the Gazebo pose
    bus = can.Bus(interface='virtual', channel=f'{bringup.channel_prefix}_powertrain', ignore_config=True)
    try:
        gnss_id = db.get_message_by_name('GNSS_Position').frame_id
        deadline = time.monotonic() + 10.0
        decoded = None
        while time.monotonic() < deadline:
            msg = bus.recv(timeout=0.5)
            if msg is None or msg.arbitration_id != gnss_id:
                continue
            decoded = db.decode_message(msg.arbitration_id, msg.data)
            if _close(decoded['Latitude'], gz.lat, 1e-6):
                break
        assert decoded is not None, 'no GNSS_Position frame on the powertrain bus'
        assert _close(decoded['Latitude'], gz.lat, 1e-6) and _close(decoded['Longitude'], gz.lon, 1e-6), decoded
    finally:
        bus.shutdown()

    def bridge_matches() -> bool:
        fix, vel, heading = (gz.received.get(t) for t in ('vehicle/gnss/fix', 'vehicle/velocity',
                                                           'vehicle/gnss/heading'))
        # altitude comes in a multiplexed GNSS_Status page of its own: NaN in the fix until that page arrives
        return (fix is not None and _close(fix.latitude, gz.lat, 1e-6) and _close(fix.longitude, gz.lon, 1e-6)
                and _close(fix.altitude, gz.alt, 0.5) and vel is not None and _close(vel.twist.linear.x, gz.speed, 0.01)
                and heading is not None and _close(heading.data, gz.heading, 0.02))

    assert wait_for(bridge_matches, 10.0), {t: m for t, m in gz.received.items()}
    assert _close(gz.received['vehicle/gnss/ground_speed'].data, gz.speed, 0.01)
    assert bringup.nodes['can_bridge'].store.value('Vehicle.Powertrain.Transmission.SelectedGear') == 'D'

    # the car drives on in Gazebo (now westbound, slower): the CAN traffic and the bridge topics follow
    gz.lat, gz.lon, gz.heading, gz.speed = 31.2310, 121.4720, 270.0, 3.0
    assert wait_for(bridge_matches, 10.0), {t: m for t, m in gz.received.items()}


def test_gazebo_garbage_is_ignored(car_in_gazebo):
    """A NaN fix (a NavSat sensor without lock publishes NaNs) leaves the last good position on the bus."""
    bringup, gz = car_in_gazebo
    assert wait_for(lambda: (f := gz.received.get('vehicle/gnss/fix')) is not None
                    and _close(f.latitude, gz.lat, 1e-6), 10.0)
    gz.lat = gz.lon = float('nan')
    time.sleep(1.0)
    store = bringup.nodes['can_bridge'].store
    assert _close(store.value('Vehicle.CurrentLocation.Latitude'), 31.2304, 1e-6)
    assert _close(store.value('Vehicle.CurrentLocation.Longitude'), 121.4737, 1e-6)
    assert bringup.nodes['vehicle_sim'].context.ok()
