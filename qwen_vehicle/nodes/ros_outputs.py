"""Signal updates -> standard ROS messages (one message per topic per frame; signals sharing a topic share it)."""
from __future__ import annotations

import math
import operator
from typing import Any, Callable

from geometry_msgs.msg import TwistStamped
from sensor_msgs.msg import BatteryState, NavSatFix, NavSatStatus, Temperature
from std_msgs.msg import Bool, Float32, Float64, Int32, String, UInt8

from ..core.mapping import SignalDef
from .cdr_template import make_template

MSG_TYPES = {
    'sensor_msgs/BatteryState': BatteryState, 'sensor_msgs/NavSatFix': NavSatFix,
    'sensor_msgs/Temperature': Temperature, 'geometry_msgs/TwistStamped': TwistStamped,
    'std_msgs/Float32': Float32, 'std_msgs/Float64': Float64, 'std_msgs/Int32': Int32, 'std_msgs/UInt8': UInt8,
    'std_msgs/Bool': Bool, 'std_msgs/String': String,
}
HAS_HEADER = ('sensor_msgs/BatteryState', 'sensor_msgs/NavSatFix', 'sensor_msgs/Temperature',
              'geometry_msgs/TwistStamped')

CHARGING_STATUS = {'Charging': BatteryState.POWER_SUPPLY_STATUS_CHARGING,
                   'Complete': BatteryState.POWER_SUPPLY_STATUS_FULL,
                   'Connected': BatteryState.POWER_SUPPLY_STATUS_NOT_CHARGING,
                   'NotConnected': BatteryState.POWER_SUPPLY_STATUS_DISCHARGING}
FIX_STATUS = {'NoFix': NavSatStatus.STATUS_NO_FIX, 'Fix2D': NavSatStatus.STATUS_FIX,
              'Fix3D': NavSatStatus.STATUS_FIX, 'DGNSS': NavSatStatus.STATUS_SBAS_FIX,
              'RTKFloat': NavSatStatus.STATUS_GBAS_FIX, 'RTKFixed': NavSatStatus.STATUS_GBAS_FIX}


def _number(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _set_field(scale: float, field: str) -> Callable[[Any, Any, bool], None]:
    """A setter for `field` (dotted) on a message; invalid values become NaN or the field's 'unknown'."""
    if field == 'power_supply_status':
        def setter(msg, value, valid):
            msg.power_supply_status = CHARGING_STATUS.get(value, BatteryState.POWER_SUPPLY_STATUS_UNKNOWN) \
                if valid else BatteryState.POWER_SUPPLY_STATUS_UNKNOWN
        return setter
    if field == 'status.status':
        def setter(msg, value, valid):
            msg.status.status = FIX_STATUS.get(value, NavSatStatus.STATUS_NO_FIX) if valid else \
                NavSatStatus.STATUS_NO_FIX
            msg.status.service = NavSatStatus.SERVICE_GPS
        return setter
    if field == 'position_covariance':
        def setter(msg, value, valid):
            if valid:
                var = float(value) ** 2
                msg.position_covariance = [var, 0.0, 0.0, 0.0, var, 0.0, 0.0, 0.0, 4.0 * var]
                msg.position_covariance_type = NavSatFix.COVARIANCE_TYPE_APPROXIMATED
            else:
                msg.position_covariance_type = NavSatFix.COVARIANCE_TYPE_UNKNOWN
        return setter
    parent_path, _, leaf = field.rpartition('.')
    parent = operator.attrgetter(parent_path) if parent_path else None
    nan = math.nan

    def setter(msg, value, valid):
        target = parent(msg) if parent is not None else msg
        cls = value.__class__
        setattr(target, leaf, value * scale if valid and (cls is float or cls is int) else nan)
    return setter


class TopicOutput:
    """One topic: a reused message, the setters of its fields, and the publish rule."""

    def __init__(self, topic: str, type_name: str, frame_id: str) -> None:
        self.topic = topic
        self.type_name = type_name
        self.msg_class = MSG_TYPES[type_name]
        self.msg = self.msg_class()
        self.has_header = type_name in HAS_HEADER
        if self.has_header:
            self.msg.header.frame_id = frame_id
        if type_name == 'sensor_msgs/BatteryState':
            self.msg.present = True
            self.msg.power_supply_technology = BatteryState.POWER_SUPPLY_TECHNOLOGY_LION
            for f in ('voltage', 'current', 'percentage', 'temperature', 'charge', 'capacity', 'design_capacity'):
                setattr(self.msg, f, math.nan)
        if type_name == 'sensor_msgs/NavSatFix':
            for f in ('latitude', 'longitude', 'altitude'):
                setattr(self.msg, f, math.nan)
            self.msg.status.status = NavSatStatus.STATUS_NO_FIX
        self.setters: dict[str, Callable] = {}
        self.on_change = False
        self.last_data: Any = None
        self.publisher = None
        self._template = None
        self.timestamp = 0.0
        self._template_tried = False

    def prepare(self) -> None:
        """Build the CDR template now, not on the first frame (it serializes a few dozen probes)."""
        if not self._template_tried:
            self._template_tried = True
            self._template = make_template(self.msg)

    def publish(self) -> None:
        """Publish the current message (patched CDR bytes where the layout allows it)."""
        if self.has_header:
            stamp = self.msg.header.stamp
            sec = int(self.timestamp)
            stamp.sec, stamp.nanosec = sec, int((self.timestamp - sec) * 1e9)
        if not self._template_tried:
            self.prepare()
        if self._template is not None:
            self.publisher.publish(self._template.pack(self.msg))
        else:
            self.publisher.publish(self.msg)

    def add(self, sig: SignalDef) -> None:
        ros = sig.ros
        self.on_change = ros.publish == 'on_change'
        if self.type_name.startswith('std_msgs/'):
            self.setters[sig.path] = self._std_setter()
        else:
            self.setters[sig.path] = _set_field(ros.scale, ros.field)

    def _std_setter(self) -> Callable:
        kind = self.type_name
        if kind == 'std_msgs/String':
            def setter(msg, value, valid):
                msg.data = str(value)
        elif kind == 'std_msgs/Bool':
            def setter(msg, value, valid):
                msg.data = value in ('On', True, 1, 'Applied')
        elif kind in ('std_msgs/Float32', 'std_msgs/Float64'):
            def setter(msg, value, valid):
                msg.data = _number(value)
        else:
            def setter(msg, value, valid):
                msg.data = int(value)
        return setter

    def update(self, path: str, value: Any, valid: bool, timestamp: float) -> bool:
        """Apply one signal; False when this output does not publish it (std_msgs invalid values)."""
        if not valid and not self.has_header:
            return False
        self.setters[path](self.msg, value, valid)
        self.timestamp = timestamp
        return True

    def should_publish(self) -> bool:
        if not self.on_change:
            return True
        data = getattr(self.msg, 'data', None)
        if data == self.last_data:
            return False
        self.last_data = data
        return True
