#!/usr/bin/env python3
"""Soak: a traffic mix from the DBC at full bus load into can_bridge for a long run; nothing may be lost and memory
must stay flat.

    python bench/soak_bridge.py                         # 60 s at 4,500 frames/s (a full 500 kbit/s bus)
    python bench/soak_bridge.py --duration 600 --rate 9000

A Bringup with the bridge only (no simulator) on virtual buses; the frames are generated here, paced in 1 ms slots,
from every mapped status message of config/signals.yaml weighted by its cycle rate (values drawn within the DBC
ranges). A subscriber in ANOTHER process counts the messages of the per-frame (headered) topics. Prints every
--report seconds the frames sent / decoded and the RSS of this process (bridge + generator), then the checks:
frames lost on the bus side (sent - decoded by the bridge), messages lost on the ROS side (expected - received),
the bridge's frame account, and peak RSS at start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import threading
import time

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(161, 200)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_bridge import headered_topics, traffic_mix  # noqa: E402  (the same accounting as the throughput bench)

QOS_DEPTH = 20000


def rss_mb() -> float:
    with open('/proc/self/status') as fh:
        for line in fh:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024.0
    return float('nan')


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def random_value(sig, rng: random.Random):
    names = [str(v) for v in (sig.choices or {}).values() if str(v) not in ('SNA', 'NoRequest')]
    if names:
        return rng.choice(names)
    lo = sig.minimum if sig.minimum is not None else 0
    hi = sig.maximum if sig.maximum is not None else lo
    value = rng.uniform(lo, hi)
    return int(round(value)) if sig.conversion.scale == int(sig.conversion.scale) and not sig.is_float else value


def random_payload(msg, page, rng: random.Random) -> bytes:
    """A frame with every signal of `page` drawn within its DBC range or choices."""
    mux = next((s for s in msg.signals if s.is_multiplexer), None)
    values = {s.name: (page if s is mux else random_value(s, rng)) for s in msg.signals
              if not s.multiplexer_ids or page in s.multiplexer_ids}
    return msg.encode(values, strict=False)


# ---- subscriber process -------------------------------------------------------------------------------------------
def subscriber_main(spec: dict) -> None:
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from rclpy.experimental import EventsExecutor
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import BatteryState, NavSatFix, Temperature

    types = {'sensor_msgs/BatteryState': BatteryState, 'sensor_msgs/NavSatFix': NavSatFix,
             'sensor_msgs/Temperature': Temperature, 'geometry_msgs/TwistStamped': TwistStamped}
    rclpy.init()
    node = Node('soak_subscriber')
    profile = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=QOS_DEPTH, reliability=ReliabilityPolicy.RELIABLE)
    counts: dict[str, int] = {}

    def make_cb(topic):
        def cb(_msg):
            counts[topic] = counts.get(topic, 0) + 1
        return cb

    for topic, type_name in spec['topics'].items():
        node.create_subscription(types[type_name], topic, make_cb(topic), profile)
    executor = EventsExecutor()
    executor.add_node(node)
    print('READY', flush=True)
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.readline(), stop.set()), daemon=True).start()
    while not stop.is_set():
        executor.spin_once(timeout_sec=0.05)
    for _ in range(50):
        executor.spin_once(timeout_sec=0.01)
    print(json.dumps({'counts': counts, 'peak_rss_mb': round(peak_rss_mb(), 1)}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--duration', type=float, default=60.0, help='seconds of traffic (default 60)')
    parser.add_argument('--rate', type=float, default=4500.0,
                        help='frames/s offered (default 4500: a 500 kbit/s bus at full load, the bench mix rate)')
    parser.add_argument('--report', type=float, default=10.0, help='seconds between progress lines')
    parser.add_argument('--subscriber', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.subscriber:
        subscriber_main(json.loads(args.subscriber))
        return 0

    import logging
    logging.basicConfig(level=logging.WARNING)
    import can
    from qwen_vehicle.bringup import Bringup
    from qwen_vehicle.core.mapping import load_signal_map

    smap = load_signal_map('signals.yaml')
    frames, weights = traffic_mix(smap, random_payload)
    headered = headered_topics(smap)
    topic_types = {s.ros.topic: s.ros.type for s in smap.signals.values() if s.ros}
    sub = subprocess.Popen([sys.executable, os.path.abspath(__file__), '--subscriber',
                            json.dumps({'topics': {t: topic_types[t] for ts in headered.values() for t in ts}})],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if not sub.stdout.readline().startswith('READY'):
        print('subscriber failed to start', file=sys.stderr)
        return 2
    b = Bringup(['can_bridge'], {'can_bridge': {'sensor_qos_depth': QOS_DEPTH, 'policy': ''}})
    b.start()
    bridge = b.nodes['can_bridge']
    buses = {n: can.Bus(interface='virtual', channel=f'{b.channel_prefix}_{n}', ignore_config=True)
             for n in smap.buses}
    print(f'soak: {args.duration:.0f} s at {args.rate:.0f} frames/s; mix of {len(frames)} frames of '
          f'{len({f[2] for f in frames})} messages on {len(buses)} buses; subscriber pid {sub.pid}', flush=True)
    time.sleep(2.0)                                   # discovery
    decoded = lambda: sum(c.account.frames for c in bridge.codecs.values())  # noqa: E731
    rss_start, peak_start = rss_mb(), peak_rss_mb()
    print(f'start: RSS {rss_start:.1f} MB, peak RSS {peak_start:.1f} MB', flush=True)

    rng = random.Random(11)
    sent: dict[str, int] = {}
    count = int(args.rate * args.duration)
    order = rng.choices(range(len(frames)), weights=weights, k=count)
    samples = []
    t0 = time.perf_counter()
    next_report = t0 + args.report
    slot = 0.001
    i = 0
    while i < count:
        now = time.perf_counter()
        due = min(count, int((now - t0) * args.rate) + 1)
        while i < due:
            bus_name, msg, name = frames[order[i]]
            buses[bus_name].send(msg)
            sent[name] = sent.get(name, 0) + 1
            i += 1
        if now >= next_report:
            samples.append((now - t0, i, decoded(), rss_mb()))
            print(f'  t={now - t0:5.1f} s  sent {i}  decoded {samples[-1][2]}  queued {bridge.frames.depth()}  '
                  f'RSS {samples[-1][3]:.1f} MB', flush=True)
            next_report += args.report
        time.sleep(slot)
    send_s = time.perf_counter() - t0
    end = time.monotonic() + 60
    while decoded() < count and time.monotonic() < end:
        time.sleep(0.01)
    drain_s = time.perf_counter() - t0 - send_s
    time.sleep(2.0)
    sub.stdin.write('\n')
    sub.stdin.flush()
    result = json.loads(sub.stdout.readline())
    sub.wait(timeout=20)
    rss_end, peak_end = rss_mb(), peak_rss_mb()
    accounts = {n: c.account for n, c in bridge.codecs.items()}
    frames_decoded = decoded()
    queued = bridge.frames.depth()
    balanced = all(a.balanced() for a in accounts.values())
    skipped = sum(a.skipped_total for a in accounts.values())
    for bus in buses.values():
        bus.shutdown()
    b.stop()

    expected = sum(n * len(headered.get(name, [])) for name, n in sent.items())
    received = sum(result['counts'].values())
    frames_lost = count - frames_decoded - queued
    msgs_lost = expected - received
    print(f'sent {count} frames in {send_s:.1f} s ({count / send_s:.0f} frames/s offered, target {args.rate:.0f}); '
          f'bridge caught up {drain_s:.2f} s after the last frame')
    print(f'bus side: {frames_decoded} frames decoded by the bridge, {skipped} skipped, account '
          f'{"balanced" if balanced else "UNBALANCED"}; still queued after 60 s of draining: {queued}; '
          f'frames lost: {frames_lost}')
    print(f'ROS side: {expected} messages expected on {len(result["counts"])} per-frame topics, {received} received by '
          f'the subscriber process; messages lost: {msgs_lost}')
    print(f'memory (bridge process): RSS {rss_start:.1f} -> {rss_end:.1f} MB; peak RSS at start {peak_start:.1f} MB, '
          f'at end {peak_end:.1f} MB; subscriber peak RSS {result["peak_rss_mb"]} MB')
    if len(samples) >= 2:
        print('RSS samples (MB): ' + ', '.join(f'{t:.0f}s={r:.1f}' for t, _, _, r in samples))
    ok = frames_lost == 0 and queued == 0 and msgs_lost == 0 and balanced
    print(f'0 frames lost check: {"PASS" if ok else "FAIL"}')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
