"""The one `main()` every node shares: init, spin, and always clean up (close, destroy, shutdown)."""
from __future__ import annotations

import gc
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


def run_node(make_node: Callable[[], Node], *, args=None, threads: int | None = None,
             single_threaded: bool = False) -> None:
    rclpy.init(args=args)
    node = None
    try:
        node = make_node()
        gc.freeze()  # start-up objects leave the collector's scans: shorter pauses on the hot paths
        executor = SingleThreadedExecutor() if single_threaded else MultiThreadedExecutor(num_threads=threads)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            close = getattr(node, 'close', None)
            if close is not None:
                close()
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
