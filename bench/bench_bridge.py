#!/usr/bin/env python3
"""CAN bridge throughput and latency: a DBC traffic mix on virtual buses -> can_bridge -> a subscriber in another
process, against a naive baseline (recv -> cantools decode -> one std_msgs/Float64 publish per signal).

    python bench/bench_bridge.py                  # paced 4,500 .. 25,000 frames/s, both pipelines
    python bench/bench_bridge.py --rates 4500 --duration 10
    python bench/bench_bridge.py --rates max      # one burst as fast as possible

Prints, per pipeline and offered rate: frames sent, frames/s through the bridge, how long it took to finish after
the last frame (backlog_s), messages expected and received by the subscriber (lost), and p50/p99 latency from the
frame timestamp to subscriber receipt; then the highest rate each pipeline sustained (0 lost, backlog <= 0.5 s)
and their ratio.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import threading
import time

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(120, 160)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

QOS_DEPTH = 20000


def headered_topics(signal_map) -> dict[str, list[str]]:
    """message name -> topics with a header it publishes once per frame (what the subscriber counts)."""
    from qwen_vehicle.nodes.ros_outputs import HAS_HEADER
    out: dict[str, set[str]] = {}
    for sig in signal_map.signals.values():
        if sig.ros and sig.ros.type in HAS_HEADER and sig.ros.publish == 'every_frame':
            out.setdefault(sig.message, set()).add(sig.ros.topic)
    return {k: sorted(v) for k, v in out.items()}


def plant_payload(msg, page, rng: random.Random) -> bytes:
    """A frame from a plant in a random driving state (charge, speed, cabin temperatures)."""
    from qwen_vehicle.core.vehicle_model import Plant, encode_physical
    plant = Plant('driving')
    plant.state.soc = rng.uniform(5, 95)
    plant.state.speed_kmh = rng.uniform(0, 120)
    for zone in plant.state.cabin:
        plant.state.cabin[zone] = rng.uniform(10, 35)
    return encode_physical(msg, plant.values(), page)


def traffic_mix(signal_map, payload=plant_payload, variants: int = 8, seed: int = 7):
    """(bus, can.Message, message name) for every mapped status message (each multiplex page), `variants` payloads
    each from `payload(msg, page, rng)`, and weights by cycle rate."""
    import can
    rng = random.Random(seed)
    frames, weights = [], []
    for bus_name, bus in signal_map.buses.items():
        mapped = {s.message for s in signal_map.by_bus(bus_name)}
        for msg in bus.database.messages:
            if msg.name not in mapped or not msg.cycle_time:
                continue
            pages = sorted({i for s in msg.signals for i in (s.multiplexer_ids or ())}) or [None]
            for page in pages:
                for _ in range(variants):
                    frames.append((bus_name, can.Message(arbitration_id=msg.frame_id,
                                                         is_extended_id=msg.is_extended_frame,
                                                         data=payload(msg, page, rng), is_fd=msg.is_fd), msg.name))
                    weights.append(1000.0 / msg.cycle_time / len(pages) / variants)
    return frames, weights


class Injector:
    """Puts frames on a python-can virtual channel the way VirtualBus.send does, without its per-frame deepcopy
    (24 us a frame here): the generator stands for the other ECUs and must not eat the bridge's core."""

    def __init__(self, channel: str) -> None:
        from can.interfaces import virtual
        self.queues = virtual.channels[channel]
        self.channel = channel

    def send(self, msg) -> None:
        import can
        stamp = time.time()
        for q in self.queues:
            q.put(can.Message(timestamp=stamp, arbitration_id=msg.arbitration_id, is_extended_id=msg.is_extended_id,
                              data=msg.data, is_fd=msg.is_fd, channel=self.channel, is_rx=True, check=False))


def generate(buses, frames, weights, rate: float | None, count: int, sent_per_message: dict[str, int]):
    """Send `count` frames drawn from the mix; paced at `rate` frames/s, or as fast as possible when None."""
    rng = random.Random(11)
    order = rng.choices(range(len(frames)), weights=weights, k=count)
    t0 = time.perf_counter()
    for i, idx in enumerate(order):
        bus_name, msg, name = frames[idx]
        if rate:
            # pace in 1 ms slots: send what is due, then sleep (no busy wait stealing the GIL)
            due = t0 + i / rate
            now = time.perf_counter()
            if due > now:
                time.sleep(max(due - now, 0.001))
        buses[bus_name].send(msg)
        sent_per_message[name] = sent_per_message.get(name, 0) + 1
    return time.perf_counter() - t0


# ---- subscriber process -------------------------------------------------------------------------------------------
def subscriber_main(spec: dict) -> None:
    import rclpy
    from rclpy.experimental import EventsExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import BatteryState, NavSatFix, Temperature
    from geometry_msgs.msg import TwistStamped
    from std_msgs.msg import Float64

    types = {'sensor_msgs/BatteryState': BatteryState, 'sensor_msgs/NavSatFix': NavSatFix,
             'sensor_msgs/Temperature': Temperature, 'geometry_msgs/TwistStamped': TwistStamped,
             'std_msgs/Float64': Float64}
    rclpy.init()
    node = Node('bench_subscriber')
    profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
    counts: dict[str, int] = {}
    latencies: list[float] = []

    import struct
    stamp_of = struct.Struct('<iI').unpack_from  # CDR: 4-byte encapsulation header, then header.stamp

    def make_cb(topic, has_header):
        def cb(data: bytes):
            counts[topic] = counts.get(topic, 0) + 1
            if has_header:
                sec, nanosec = stamp_of(data, 4)
                latencies.append(time.time() - (sec + nanosec * 1e-9))
        return cb

    # raw=True: serialized bytes, no deserialization, so the subscriber is not the bottleneck being measured
    for topic, type_name in spec['topics'].items():
        node.create_subscription(types[type_name], topic, make_cb(topic, type_name != 'std_msgs/Float64'), profile,
                                 raw=True)
    executor = EventsExecutor()
    executor.add_node(node)
    print('READY', flush=True)
    stop = threading.Event()

    def wait_stdin():
        sys.stdin.readline()
        stop.set()

    threading.Thread(target=wait_stdin, daemon=True).start()
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)
    for _ in range(20):  # drain what is still in flight
        executor.spin_once(timeout_sec=0.01)
    latencies.sort()
    n = len(latencies)
    pct = (lambda q: round(latencies[min(n - 1, int(q * n))] * 1000, 3)) if n else (lambda q: None)
    print(json.dumps({'counts': counts, 'p50_ms': pct(0.50), 'p99_ms': pct(0.99), 'max_ms': pct(1.0)}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def start_subscriber(topics: dict[str, str]) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, __file__, '--subscriber', json.dumps({'topics': topics})],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith('READY'):
        raise RuntimeError(f'subscriber failed to start: {line!r}')
    return proc


def finish_subscriber(proc: subprocess.Popen) -> dict:
    proc.stdin.write('\n')
    proc.stdin.flush()
    out = proc.stdout.readline()
    proc.wait(timeout=10)
    return json.loads(out)


# ---- the two pipelines -------------------------------------------------------------------------------------------
def run_ours(signal_map, frames, weights, rate, count) -> dict:
    from qwen_vehicle.bringup import Bringup
    headered = headered_topics(signal_map)
    types = {s.ros.topic: s.ros.type for s in signal_map.signals.values() if s.ros}
    sub = start_subscriber({t: types[t] for ts in headered.values() for t in ts})
    b = Bringup(['can_bridge'], {'can_bridge': {'sensor_qos_depth': QOS_DEPTH, 'policy': ''}})
    b.start()
    buses = {n: Injector(f'{b.channel_prefix}_{n}') for n in signal_map.buses}
    time.sleep(2.0)  # discovery
    bridge = b.nodes['can_bridge']
    sent: dict[str, int] = {}
    t0 = time.perf_counter()
    send_s = generate(buses, frames, weights, rate, count, sent)
    while sum(c.account.frames for c in bridge.codecs.values()) < count and time.perf_counter() - t0 < 120:
        time.sleep(0.002)
    # the worker publishes right after decoding; a short wait covers the last batch
    processed_s = time.perf_counter() - t0
    time.sleep(1.5)
    result = finish_subscriber(sub)
    b.stop()
    expected = sum(n * len(headered.get(name, [])) for name, n in sent.items())
    received = sum(result['counts'].values())
    return {'sent': count, 'send_s': round(send_s, 3), 'frames_per_s': round(count / processed_s),
            'backlog_s': round(processed_s - send_s, 3),
            'expected_msgs': expected, 'received_msgs': received, 'lost': expected - received,
            'p50_ms': result['p50_ms'], 'p99_ms': result['p99_ms'], 'max_ms': result['max_ms']}


def run_naive(signal_map, frames, weights, rate, count) -> dict:
    """recv -> cantools decode -> one std_msgs/Float64 publish per signal, in a plain loop."""
    import can
    import rclpy
    from rclpy.context import Context
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from std_msgs.msg import Float64
    topics = {}
    for bus_name, bus in signal_map.buses.items():
        for msg in bus.database.messages:
            for sig in msg.signals:
                topics[f'naive/{msg.name}/{sig.name}'] = 'std_msgs/Float64'
    sub = start_subscriber(topics)
    ctx = Context()
    rclpy.init(context=ctx)
    node = Node('naive_bridge', context=ctx)
    profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
    pubs = {t: node.create_publisher(Float64, t, profile) for t in topics}
    prefix = f'naive{random.randint(0, 1 << 30)}'
    rx = {n: can.Bus(interface='virtual', channel=f'{prefix}_{n}', ignore_config=True) for n in signal_map.buses}
    tx = {n: Injector(f'{prefix}_{n}') for n in signal_map.buses}
    dbs = {n: b.database for n, b in signal_map.buses.items()}
    done = {'frames': 0, 'published': 0}
    stop = threading.Event()

    def loop(bus_name):
        db = dbs[bus_name]
        while not stop.is_set():
            frame = rx[bus_name].recv(0.05)
            if frame is None:
                continue
            done['frames'] += 1
            try:
                msg = db.get_message_by_frame_id(frame.arbitration_id)
                values = msg.decode(frame.data, decode_choices=False)
            except Exception:  # noqa: BLE001
                continue
            for name, value in values.items():
                pubs[f'naive/{msg.name}/{name}'].publish(Float64(data=float(value)))
                done['published'] += 1

    threads = [threading.Thread(target=loop, args=(n,), daemon=True) for n in rx]
    for t in threads:
        t.start()
    time.sleep(2.0)
    sent: dict[str, int] = {}
    t0 = time.perf_counter()
    send_s = generate(tx, frames, weights, rate, count, sent)
    while done['frames'] < count and time.perf_counter() - t0 < 300:
        time.sleep(0.002)
    processed_s = time.perf_counter() - t0
    time.sleep(1.5)
    stop.set()
    for t in threads:
        t.join()
    result = finish_subscriber(sub)
    for bus in rx.values():
        bus.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=ctx)
    received = sum(result['counts'].values())
    return {'sent': count, 'send_s': round(send_s, 3), 'frames_per_s': round(count / processed_s),
            'backlog_s': round(processed_s - send_s, 3), 'expected_msgs': done['published'], 'received_msgs': received, 'lost': done['published'] - received,
            'p50_ms': None, 'p99_ms': None, 'max_ms': None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--rates', default='4500,10000,15000,20000,25000',
                        help='comma-separated offered rates in frames/s (paced), or max (one burst)')
    parser.add_argument('--duration', type=float, default=8.0, help='seconds per paced run')
    parser.add_argument('--max-frames', type=int, default=100000, help='frames in an as-fast-as-possible run')
    parser.add_argument('--pipelines', default='ours,naive')
    parser.add_argument('--subscriber', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber_main(json.loads(args.subscriber))
        return
    import logging
    logging.basicConfig(level=logging.WARNING)
    from qwen_vehicle.core.mapping import load_signal_map
    signal_map = load_signal_map('signals.yaml')
    frames, weights = traffic_mix(signal_map)
    print(f'traffic mix: {len(frames)} frame variants of '
          f'{len({f[2] for f in frames})} messages on {len(signal_map.buses)} buses')
    sustained: dict[str, float] = {}
    failed: set[str] = set()
    for rate_text in args.rates.split(','):
        rate = None if rate_text == 'max' else float(rate_text)
        count = args.max_frames if rate is None else int(rate * args.duration)
        for pipeline in args.pipelines.split(','):
            if pipeline in failed:
                continue  # it already could not keep up with a lower rate
            fn = run_ours if pipeline == 'ours' else run_naive
            r = fn(signal_map, frames, weights, rate, count)
            print(f'{pipeline:6s} offered {rate_text:>5s} frames/s: ' + '  '.join(f'{k}={v}' for k, v in r.items()),
                  flush=True)
            if rate is None:
                continue
            # sustained: every message delivered and the bridge done within 0.5 s of the last frame
            if r['lost'] == 0 and r['backlog_s'] <= 0.5:
                sustained[pipeline] = max(sustained.get(pipeline, 0.0), rate)
            else:
                failed.add(pipeline)
    for pipeline, rate in sustained.items():
        print(f'{pipeline}: sustained {rate:.0f} frames/s with 0 lost')
    if 'ours' in sustained and 'naive' in sustained:
        print(f'sustained throughput ratio ours/naive: {sustained["ours"] / sustained["naive"]:.2f}x')


if __name__ == '__main__':
    main()
