"""Bus faults: an adapter that disappears and comes back, error frames and bus-off.

A flaky python-can interface is registered for these tests (like a plug-in interface would be, through
can.interfaces.BACKENDS): it wraps a real `virtual` bus and can be "unplugged" (recv/send raise, opening fails) and
"plugged" back in. It passes error frames regardless of the ID filters, as SocketCAN does.
"""
import logging
import threading
import time
import uuid

import can
import can.interfaces
import can.util
import pytest
from can.interfaces.virtual import VirtualBus

from qwen_vehicle.core.bus import CAN_ERR_BUSOFF, CAN_ERR_CRTL, CAN_ERR_RESTARTED, BusConfig, BusConnection

FLAKY = 'qv_flaky'


class Plug:
    def __init__(self):
        self.unplugged = threading.Event()
        self.opens = 0


PLUG = Plug()


class FlakyBus(can.BusABC):
    def __init__(self, channel, can_filters=None, receive_own_messages=False, **kwargs):
        PLUG.opens += 1
        if PLUG.unplugged.is_set():
            raise can.CanInitializationError(f'no adapter for {channel}')
        self._inner = VirtualBus(channel=channel, receive_own_messages=receive_own_messages)
        self.channel_info = f'flaky {channel}'
        super().__init__(channel=channel, can_filters=can_filters, **kwargs)

    def _recv_internal(self, timeout):
        if PLUG.unplugged.is_set():
            time.sleep(0.001)
            raise can.CanOperationError('device disconnected')
        msg, _ = self._inner._recv_internal(timeout)
        if msg is None:
            return None, True
        return (msg, True) if msg.is_error_frame or self._matches_filters(msg) else (None, True)

    def send(self, msg, timeout=None):
        if PLUG.unplugged.is_set():
            raise can.CanOperationError('device disconnected')
        self._inner.send(msg, timeout)

    def shutdown(self):
        self._inner.shutdown()
        super().shutdown()


@pytest.fixture
def flaky(monkeypatch):
    monkeypatch.setitem(can.interfaces.BACKENDS, FLAKY, (__name__, 'FlakyBus'))
    monkeypatch.setattr(can.util, 'VALID_INTERFACES', can.util.VALID_INTERFACES | {FLAKY})
    PLUG.unplugged.clear()
    PLUG.opens = 0
    yield PLUG
    PLUG.unplugged.clear()


def wait_for(cond, timeout=5.0, step=0.02):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(step)
    return cond()


def test_unplug_error_backoff_replug_resume(flaky, caplog):
    channel = f'qv{uuid.uuid4().hex[:8]}'
    got = []
    conn = BusConnection(BusConfig('powertrain', interface=FLAKY, channel=channel), lambda b, m: got.append(m),
                         backoff=(0.05, 0.2))
    peer = can.Bus(interface='virtual', channel=channel, ignore_config=True)
    try:
        conn.open()
        peer.send(can.Message(arbitration_id=0x3A0, data=bytes(8), is_extended_id=False))
        assert wait_for(lambda: len(got) == 1)
        with caplog.at_level(logging.DEBUG, logger='qwen_vehicle.core.bus'):
            flaky.unplugged.set()
            assert wait_for(lambda: conn.state == 'error')
            assert 'device disconnected' in conn.last_error
            with pytest.raises(can.CanOperationError, match='is error'):
                conn.send(can.Message(arbitration_id=0x2E0, data=bytes(8), is_extended_id=False))
            assert wait_for(lambda: conn.counters['reconnect_attempts'] >= 3)
            assert conn.state == 'error' and 'no adapter' in conn.last_error
            assert conn.status()['down_for_s'] > 0
            flaky.unplugged.clear()
            assert wait_for(lambda: conn.state == 'ok')
        errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(errors) == 1 and 'failed' in errors[0].getMessage(), [r.getMessage() for r in errors]
        assert conn.counters['bus_errors'] == 1 and conn.counters['reconnects'] == 1
        peer.send(can.Message(arbitration_id=0x3A0, data=bytes(8), is_extended_id=False))
        assert wait_for(lambda: len(got) == 2), 'frames flow again after the reconnect'
        conn.send(can.Message(arbitration_id=0x2E0, data=bytes(8), is_extended_id=False))
        assert peer.recv(1.0) is not None
    finally:
        conn.close()
        peer.shutdown()
    assert conn.state == 'closed'


def test_idle_bus_logs_nothing(flaky, caplog):
    channel = f'qv{uuid.uuid4().hex[:8]}'
    conn = BusConnection(BusConfig('body', interface=FLAKY, channel=channel), lambda b, m: None)
    with caplog.at_level(logging.DEBUG, logger='qwen_vehicle.core.bus'):
        conn.open()
        time.sleep(0.6)                       # several Notifier timeouts with no traffic
        conn.close()
    assert not [r for r in caplog.records if r.levelno >= logging.INFO], [r.getMessage() for r in caplog.records]
    assert conn.counters['rx'] == 0 and conn.counters['bus_errors'] == 0


def test_adapter_absent_at_start_then_plugged(flaky):
    channel = f'qv{uuid.uuid4().hex[:8]}'
    flaky.unplugged.set()
    conn = BusConnection(BusConfig('body', interface=FLAKY, channel=channel), lambda b, m: None, backoff=(0.05, 0.1))
    try:
        with pytest.raises(can.CanInitializationError):
            conn.open()
        conn.on_error(can.CanInitializationError('no adapter'))   # what the bridge does when open fails
        assert conn.state == 'error'
        time.sleep(0.3)
        assert conn.state == 'error'
        flaky.unplugged.clear()
        assert wait_for(lambda: conn.state == 'ok')
    finally:
        conn.close()


def test_error_frames_and_bus_off_are_counted(flaky):
    channel = f'qv{uuid.uuid4().hex[:8]}'
    got = []
    filters = [{'can_id': 0x3A0, 'can_mask': 0x7FF, 'extended': False}]
    conn = BusConnection(BusConfig('powertrain', interface=FLAKY, channel=channel), lambda b, m: got.append(m),
                         can_filters=filters)
    peer = can.Bus(interface='virtual', channel=channel, ignore_config=True)
    try:
        conn.open()
        passive = bytearray(8)
        passive[1] = 0x20                                    # TX error passive
        peer.send(can.Message(is_error_frame=True, arbitration_id=CAN_ERR_CRTL, data=bytes(passive)))
        peer.send(can.Message(is_error_frame=True, arbitration_id=CAN_ERR_BUSOFF, data=bytes(8)))
        assert wait_for(lambda: conn.state == 'bus_off')
        assert conn.counters['bus_off'] == 1 and conn.counters['error_passive'] == 1
        assert conn.counters['error_frames'] == 2
        peer.send(can.Message(is_error_frame=True, arbitration_id=CAN_ERR_RESTARTED, data=bytes(8)))
        assert wait_for(lambda: conn.state == 'ok')
        peer.send(can.Message(is_error_frame=True, arbitration_id=CAN_ERR_BUSOFF, data=bytes(8)))
        assert wait_for(lambda: conn.state == 'bus_off')
        peer.send(can.Message(arbitration_id=0x3A0, data=bytes(8), is_extended_id=False))
        assert wait_for(lambda: conn.state == 'ok'), 'a good frame means the controller is back on the bus'
        assert conn.counters['bus_off'] == 2 and conn.counters['error_frames'] == 4
        assert sum(m.is_error_frame for m in got) == 4       # the bridge's codec counts them too
    finally:
        conn.close()
        peer.shutdown()


# ---- the bridge in a Bringup: diagnostics go ERROR while the adapter is gone, then OK ----------------------------
def test_bridge_survives_adapter_loss(flaky):
    rclpy = pytest.importorskip('rclpy')
    from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus

    from qwen_vehicle.bringup import Bringup

    sim_params = {'powertrain.interface': 'virtual', 'body.interface': 'virtual'}
    statuses = []
    with Bringup(('vehicle_sim', 'can_bridge'), interface=FLAKY,
                 parameters={'vehicle_sim': sim_params, 'can_bridge': {'diagnostics_period': 0.2}}) as b:
        probe = rclpy.create_node(f'probe_{uuid.uuid4().hex[:6]}', context=b.context)
        probe.create_subscription(DiagnosticArray, '/diagnostics',
                                  lambda m: statuses.extend((s.name, s.level, s.message, {kv.key: kv.value
                                                             for kv in s.values}) for s in m.status), 50)
        b.add_node(probe)
        bridge = b.nodes['can_bridge']

        def level(bus):
            mine = [s for s in statuses if s[0] == f'can_bridge: bus {bus}']
            return mine[-1] if mine else None
        try:
            assert wait_for(lambda: level('body') is not None and level('body')[1] == DiagnosticStatus.OK, 10.0), \
                level('body')
            flaky.unplugged.set()
            assert wait_for(lambda: level('body')[1] == DiagnosticStatus.ERROR, 5.0), level('body')
            assert 'device disconnected' in level('body')[2] or 'no adapter' in level('body')[2]
            assert level('body')[3]['state'] == 'error'
            time.sleep(0.5)
            assert bridge.connections['body'].state == 'error'
            statuses.clear()
            flaky.unplugged.clear()
            assert wait_for(lambda: level('body') is not None and level('body')[1] == DiagnosticStatus.OK, 10.0), \
                level('body')
            counters = level('body')[3]
            assert int(counters['bus_errors']) == 1 and int(counters['reconnects']) == 1
            assert int(counters['reconnect_attempts']) >= 1
            assert bridge._worker.is_alive()
            rx_before = bridge.connections['body'].counters['rx']
            assert wait_for(lambda: bridge.connections['body'].counters['rx'] > rx_before + 5), 'frames flow again'
        finally:
            b.executor.remove_node(probe)
            probe.destroy_node()


def test_frame_queue_bounds_memory_and_counts_drops():
    from qwen_vehicle.core.bus import FrameQueue
    unbounded, bounded = FrameQueue(), FrameQueue(maxsize=3)
    for i in range(5):
        m = can.Message(arbitration_id=i)
        unbounded.put('b', m)
        bounded.put('b', m)
    assert unbounded.depth() == 5 and unbounded.dropped == 0
    assert bounded.depth() == 3 and bounded.dropped == 2
    assert [m.arbitration_id for _, m in bounded.drain(0.1)] == [0, 1, 2]
