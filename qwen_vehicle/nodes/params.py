"""Parameter declaration helpers: every parameter declared up front with a descriptor."""
from __future__ import annotations

from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from ..core.bus import BusConfig
from ..core.mapping import SignalMap


def declare_typed(node: Node, name: str, default: Any, description: str, *, read_only: bool = False,
                  float_range: tuple[float, float] | None = None, int_range: tuple[int, int] | None = None) -> Any:
    desc = ParameterDescriptor(description=description, read_only=read_only)
    if float_range is not None:
        desc.floating_point_range = [FloatingPointRange(from_value=float(float_range[0]),
                                                        to_value=float(float_range[1]), step=0.0)]
    if int_range is not None:
        desc.integer_range = [IntegerRange(from_value=int_range[0], to_value=int_range[1], step=1)]
    value = node.declare_parameter(name, default, desc).value
    if isinstance(default, float) and isinstance(value, int):
        value = float(value)
    return value


def declare_bus_params(node: Node, bus_name: str, fd_default: bool) -> BusConfig:
    """`<bus>.interface`, `.channel`, `.bitrate`, `.fd`, `.data_bitrate`, `.receive_own_messages`."""
    d = BusConfig(bus_name, fd=fd_default)
    return BusConfig(
        name=bus_name,
        interface=declare_typed(node, f'{bus_name}.interface', d.interface,
                                'python-can interface: socketcan, pcan, kvaser, vector, slcan, gs_usb, virtual, ...',
                                read_only=True),
        channel=declare_typed(node, f'{bus_name}.channel', d.channel, 'python-can channel (can0, PCAN_USBBUS1, ...)',
                              read_only=True),
        bitrate=declare_typed(node, f'{bus_name}.bitrate', d.bitrate, 'nominal bit rate (bit/s)',
                              int_range=(10000, 1000000), read_only=True),
        fd=declare_typed(node, f'{bus_name}.fd', d.fd, 'CAN FD', read_only=True),
        data_bitrate=declare_typed(node, f'{bus_name}.data_bitrate', d.data_bitrate, 'CAN FD data bit rate',
                                   int_range=(100000, 16000000), read_only=True),
        receive_own_messages=declare_typed(node, f'{bus_name}.receive_own_messages', d.receive_own_messages,
                                           'also receive frames this node sends', read_only=True),
    )


def read_bus_configs(node: Node, signal_map: SignalMap) -> list[BusConfig]:
    return [declare_bus_params(node, name, bus.fd) for name, bus in signal_map.buses.items()]
