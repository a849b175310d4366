#!/usr/bin/env python3
"""SOME/IP method round trip on 127.0.0.1: prints median / p99 in ms (goal: median <= 0.3 ms).

Two cases, each over the full stack (header, payload serialization, UDP, client session matching):
  gateway  VehicleClimate.SetFanLevel on the gateway from config/someip.yaml (actuation through the in-process
           fake vehicle, so the figure is the gateway's own cost, not the CAN read-back)
  echo     a bare server method returning a string
The server runs in a separate process (two ECUs on one host) unless --same-process.

    .venv/bin/python bench/bench_someip.py [--calls 3000] [--same-process]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from qwen_vehicle.someip.gateway import SomeIpGateway, load_config  # noqa: E402
from qwen_vehicle.someip.serialization import compile_type  # noqa: E402
from qwen_vehicle.someip.service import MethodSpec, ServiceInterface, SomeIpClient, SomeIpServer  # noqa: E402
from qwen_vehicle.someip.vehicle import InMemoryVehicle  # noqa: E402

TEXT = compile_type('string')


def echo_interface() -> ServiceInterface:
    return ServiceInterface('Echo', 0x7001, 1, 1, 0, methods={1: MethodSpec(1, 'Echo', TEXT, TEXT)})


def serve(ready, stop) -> None:
    config = load_config('someip.yaml')
    gateway = SomeIpGateway(config, InMemoryVehicle({'Vehicle.Cabin.HVAC.FanLevel': 0}), ('127.0.0.1', 0)).start()
    echo = SomeIpServer(('127.0.0.1', 0)).start()
    echo.add_service(echo_interface()).on_method('Echo', lambda value, message: value)
    ready.put((gateway.address, echo.address))
    stop.wait()
    gateway.close()
    echo.close()


def measure(call, calls: int, warmup: int = 200) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        samples.append((time.perf_counter() - start) * 1000.0)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(f'{name:<28} n={len(samples):<6} median {statistics.median(samples):.3f} ms   p99 {p99:.3f} ms   '
          f'min {ordered[0]:.3f} ms   max {ordered[-1]:.3f} ms')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--calls', type=int, default=3000)
    parser.add_argument('--same-process', action='store_true', help='run the server in this process (threads)')
    args = parser.parse_args()

    context = multiprocessing.get_context('spawn')
    ready, stop = context.Queue(), context.Event()
    if args.same_process:
        import threading
        stop = threading.Event()
        import queue
        ready = queue.Queue()
        worker = threading.Thread(target=serve, args=(ready, stop), daemon=True)
    else:
        worker = context.Process(target=serve, args=(ready, stop), daemon=True)
    worker.start()
    gateway_address, echo_address = ready.get(timeout=30)
    config = load_config('someip.yaml')
    where = 'same process' if args.same_process else 'server in another process'
    print(f'SOME/IP method round trip on 127.0.0.1 ({where}), Python {sys.version.split()[0]}')
    try:
        with SomeIpClient() as client:
            climate = client.proxy(config.service('VehicleClimate'), gateway_address)
            echo = client.proxy(echo_interface(), echo_address)
            report('gateway SetFanLevel', measure(lambda: climate.call('SetFanLevel', {'value': 3}), args.calls))
            report('echo (16-byte string)', measure(lambda: echo.call('Echo', 'sixteen bytes!!'), args.calls))
    finally:
        stop.set()
        worker.join(timeout=5)
    return 0


if __name__ == '__main__':
    sys.exit(main())
