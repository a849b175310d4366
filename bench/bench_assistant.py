#!/usr/bin/env python3
"""Utterance -> command frame on the bus: latency of the assistant path (rule engine, schema, policy, actuation).

    python bench/bench_assistant.py            # both paths, 200 utterances each
    python bench/bench_assistant.py --paths core --count 500

core: the Assistant with the actuator in-process (VirtualCar: python-can virtual buses, simulated ECUs).
ros:  the assistant node, the CAN bridge's parameter service and the simulated car (Bringup), utterances published
      on assistant/text. The frame is taken by a separate python-can bus on the same virtual channel; latency runs
      from just before the utterance is handed over to the frame's bus timestamp.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time

os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
os.environ.setdefault('ROS_DOMAIN_ID', str(random.randint(161, 200)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

UTTERANCES = [
    ('set the temperature to {t} degrees', 'en'), ('把温度调到{zh}度', 'zh'), ('fan level {f}', 'en'),
    ('风量调到{f}档', 'zh'), ('passenger side {t} degrees', 'en'), ('seat heating to level {s}', 'en'),
]
ZH_NUMBERS = {18: '十八', 19: '十九', 20: '二十', 21: '二十一', 22: '二十二', 23: '二十三', 24: '二十四', 25: '二十五'}


def utterances(count: int):
    """Utterances whose values change from one use of a signal to the next, so each needs a new frame."""
    out = []
    for i in range(count):
        template, _ = UTTERANCES[i % len(UTTERANCES)]
        k = i // len(UTTERANCES)
        t = 18 + k % 8
        out.append(template.format(t=t, zh=ZH_NUMBERS[t], f=1 + k % 7, s=1 + k % 3))
    return out


class FrameWatch:
    """Timestamps of command frames seen on a virtual channel."""

    def __init__(self, channel: str, message) -> None:
        import can
        self.bus = can.Bus(interface='virtual', channel=channel, ignore_config=True)
        self.message = message
        self.frame_id = message.frame_id
        self.cond = threading.Condition()
        self.stamps: list[tuple[float, dict]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            f = self.bus.recv(0.05)
            if f is not None and f.arbitration_id == self.frame_id:
                raw = self.message.decode(bytes(f.data), decode_choices=False, scaling=False)
                with self.cond:
                    self.stamps.append((f.timestamp, raw))
                    self.cond.notify_all()

    def first_after(self, t0: float, expected: dict[str, int], timeout: float = 2.0) -> float | None:
        """The first frame after t0 that carries every expected raw value (not a cyclic repeat of an older one)."""
        def match():
            return next((s for s, raw in self.stamps if s >= t0 and all(raw.get(k) == v for k, v in expected.items())),
                        None)
        with self.cond:
            self.cond.wait_for(lambda: match() is not None, timeout)
            return match()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.bus.shutdown()


def expected_raw(actuator, engine, text: str) -> dict[str, int]:
    """What the utterance must put in the command frame, from the rule engine's plan."""
    from qwen_vehicle.core.intents import DialogueContext
    plan = engine.parse(text, DialogueContext(speaker_zone='driver'))
    out = {}
    for call in plan.calls:
        spec = next(s for s in actuator.tools if s.name == call.name)
        path = spec.paths.get(call.arguments.get('zone', '')) or spec.paths.get('')
        _, raw = actuator.actuator.normalize(path, call.arguments['value'])
        out[actuator.actuator.map.signals[path].actuator.signal] = raw
    return out


class Expectation:
    def __init__(self, actuator, tools) -> None:
        from qwen_vehicle.core.intents import IntentEngine
        self.actuator, self.tools, self.engine = actuator, tools, IntentEngine(tools)

    def __call__(self, text: str) -> dict[str, int]:
        return expected_raw(self, self.engine, text)



def measure(texts, expect, watch, send, settle_s: float) -> tuple[list[float], int]:
    """Seconds from `send(text)` to the first expected request frame, per utterance; a miss where no such frame
    came or `send` returned False (it failed)."""
    samples, missed = [], 0
    for text in texts:
        expected = expect(text)
        time.sleep(settle_s)
        t0 = time.time()
        sent = send(text)
        stamp = watch.first_after(t0, expected)
        if stamp is None or sent is False:
            missed += 1
        else:
            samples.append(stamp - t0)
    return samples, missed


def summarize(name: str, samples: list[float], missed: int) -> None:
    samples = sorted(samples)
    n = len(samples)
    if not n:
        print(f'{name}: no frames seen ({missed} missed)')
        return
    p = lambda q: samples[min(n - 1, int(q * n))] * 1000  # noqa: E731
    print(f'{name}: n={n} missed={missed} p50={p(0.5):.3f} ms p90={p(0.9):.3f} ms p99={p(0.99):.3f} ms '
          f'max={samples[-1] * 1000:.3f} ms mean={statistics.mean(samples) * 1000:.3f} ms', flush=True)


def bench_core(signal_map, texts) -> None:
    from qwen_vehicle.core.assistant import Assistant, LocalVehicle
    from qwen_vehicle.core.policy import SafetyPolicy
    from qwen_vehicle.core.tools import all_tools
    from qwen_vehicle.core.virtual_car import VirtualCar
    request = signal_map.buses['body'].database.get_message_by_name('HVAC_Request')
    with VirtualCar(signal_map) as car:
        car.wait_for(['Vehicle.Speed', 'Vehicle.LowVoltageSystemState'])
        policy = SafetyPolicy.load('policy.yaml', car.store, signal_map)
        policy.tools = {k: {**v, 'rate_limit': None} for k, v in policy.tools.items()}  # a bench, not a driver
        assistant = Assistant(all_tools(signal_map, services=False), policy, LocalVehicle(car.actuator, car.store),
                              readback_timeout=0.0)
        watch = FrameWatch(car.channel('body'), request)
        expect = Expectation(car.actuator, all_tools(signal_map, services=False))
        try:
            samples, missed = measure(texts, expect, watch, lambda text: bool(
                assistant.handle(text, zone='driver').results), settle_s=0.01)
        finally:
            watch.close()
    summarize('core (assistant in-process)', samples, missed)


def bench_ros(signal_map, texts) -> None:
    from rclpy.node import Node
    from std_msgs.msg import String

    from qwen_vehicle.bringup import Bringup
    from qwen_vehicle.nodes import qos
    from qwen_vehicle.core.tools import all_tools
    request = signal_map.buses['body'].database.get_message_by_name('HVAC_Request')
    b = Bringup(['vehicle_sim', 'can_bridge', 'assistant'],
                {'assistant': {'readback_timeout': 0.1}, 'can_bridge': {'policy': ''}})
    b.start()
    b.nodes['assistant'].policy.tools = {k: {**v, 'rate_limit': None}
                                         for k, v in b.nodes['assistant'].policy.tools.items()}
    node = Node('bench_driver', context=b.context)
    pub = node.create_publisher(String, 'assistant/text', qos.COMMANDS)
    b.add_node(node)
    watch = FrameWatch(f'{b.channel_prefix}_body', request)
    expect = Expectation(b.nodes['can_bridge'].actuator, all_tools(signal_map, services=False))
    time.sleep(2.0)
    try:
        samples, missed = measure(texts, expect, watch, lambda text: pub.publish(
            String(data=json.dumps({'text': text, 'zone': 'driver'}))), settle_s=0.15)
    finally:
        watch.close()
        b.stop()
    summarize('ros (assistant node -> bridge parameter service)', samples, missed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--count', type=int, default=200)
    parser.add_argument('--paths', default='core,ros')
    args = parser.parse_args()
    import logging
    logging.basicConfig(level=logging.WARNING)
    from qwen_vehicle.core.mapping import load_signal_map
    signal_map = load_signal_map('signals.yaml')
    texts = utterances(args.count)
    if 'core' in args.paths:
        bench_core(signal_map, texts)
    if 'ros' in args.paths:
        bench_ros(signal_map, texts)


if __name__ == '__main__':
    main()
